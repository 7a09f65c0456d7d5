"""EchoApp alone: injected namespace, pinned go-httpbin on 8080, Service clusterip 80 -> 8080."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import EchoApp, EchoAppArgs
from tools.program import run_body


def echo(namespace: str = "default", opts: pulumi.ResourceOptions | None = None):
    return run_body(lambda: EchoApp("echo", EchoAppArgs(namespace=namespace), opts=opts))


def test_default_namespace_is_labelled_by_a_patch_not_created() -> None:
    run = echo("default")
    assert run.k8s_objects("Namespace") == []
    [patch] = run.of_type("kubernetes:core/v1:NamespacePatch")
    assert patch.inputs["metadata"] == {"name": "default", "labels": {"istio-injection": "enabled"}}


def test_own_namespace_is_created_with_injection() -> None:
    [ns] = echo("echo").k8s_objects("Namespace")
    assert ns["metadata"] == {"name": "echo", "labels": {"istio-injection": "enabled"}}


def test_deployment_runs_pinned_go_httpbin_on_8080() -> None:
    [deployment] = echo().k8s_objects("Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    image, _, tag = container["image"].partition(":")
    assert image == "mccutchen/go-httpbin" and tag not in ("", "latest")
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert deployment["metadata"]["name"] == "echo-server"


def test_service_clusterip_port_80_to_8080_selects_the_pods() -> None:
    run = echo()
    [service] = run.k8s_objects("Service")
    [deployment] = run.k8s_objects("Deployment")
    assert service["metadata"]["name"] == "clusterip"
    assert service["spec"]["type"] == "ClusterIP"
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(80, 8080)]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_children_wait_for_what_the_component_waits_for() -> None:
    """Pods created before istiod's webhook would run without a sidecar."""
    def body() -> None:
        istiod = k8s.core.v1.ConfigMap("istiod")
        EchoApp("echo", EchoAppArgs(namespace="default"), opts=pulumi.ResourceOptions(depends_on=[istiod]))

    run = run_body(body)
    istiod_urn = run.named("kubernetes:core/v1:ConfigMap", "istiod").urn
    for child in ("echo-server", "clusterip"):
        [resource] = [r for r in run.resources if r.name == child]
        assert istiod_urn in resource.dependencies, child
