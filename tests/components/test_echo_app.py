"""EchoApp alone: injected pods (not namespaces), pinned go-httpbin on 8080, Service clusterip 80 -> 8080."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import EchoApp, EchoAppArgs
from tools.program import run_body


def echo(namespace: str = "default", opts: pulumi.ResourceOptions | None = None):
    return run_body(lambda: EchoApp("echo", EchoAppArgs(namespace=namespace), opts=opts))


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kube-public", "kube-node-lease"])
def test_a_namespace_every_cluster_has_is_neither_created_nor_labelled(namespace: str) -> None:
    run = echo(namespace)
    assert run.k8s_objects("Namespace") == []
    assert [r for r in run.resources if r.is_patch] == []  # no other workload there gets a sidecar


def test_own_namespace_is_created_without_an_injection_label() -> None:
    [ns] = echo("echo").k8s_objects("Namespace")
    assert ns["metadata"] == {"name": "echo"}


def test_the_pods_ask_for_the_sidecar_themselves() -> None:
    [deployment] = echo().k8s_objects("Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    assert "sidecar.istio.io/inject" not in deployment["spec"]["selector"]["matchLabels"]


def test_deployment_runs_pinned_go_httpbin_on_8080() -> None:
    [deployment] = echo().k8s_objects("Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    image, _, tag = container["image"].partition(":")
    assert image == "mccutchen/go-httpbin" and tag not in ("", "latest")
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert deployment["metadata"]["name"] == "echo-server"


def test_two_instances_coexist() -> None:
    def body() -> None:
        EchoApp("one", EchoAppArgs(namespace="a"))
        EchoApp("two", EchoAppArgs(namespace="b"))

    run = run_body(body)
    assert len({r.urn for r in run.resources}) == len(run.resources)


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
    for child in ("echo-deployment", "echo-service"):
        [resource] = [r for r in run.resources if r.name == child]
        assert istiod_urn in resource.dependencies, child
