"""IstioInstall alone: three pinned releases from the official repo, in order, with explicit names."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import IstioInstall, IstioInstallArgs
from tools.program import HELM_RELEASE, run_body

ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"  # seed 000, step 1


def install(service_address: str | None = None, **overrides: object):
    def body() -> None:
        args = {"version": "1.27.3", "gateway_name": "istio-ingressgateway", "gateway_namespace": "istio-system",
                "gateway_values": {"replicaCount": 3, "service": {"type": "LoadBalancer"}}, **overrides}
        istio = IstioInstall("istio", IstioInstallArgs(**args))  # type: ignore[arg-type]
        pulumi.export("address", istio.gateway_address)
        pulumi.export("labels", istio.gateway_labels)

    return run_body(body, service_address=service_address)


def test_three_releases_same_version_official_repo_explicit_names() -> None:
    run = install()
    releases = {r.inputs["name"]: r.inputs for r in run.of_type(HELM_RELEASE)}
    assert sorted(releases) == ["istio-base", "istio-ingressgateway", "istiod"]
    assert {name: r["chart"] for name, r in releases.items()} == {
        "istio-base": "base", "istiod": "istiod", "istio-ingressgateway": "gateway"}
    assert {r["version"] for r in releases.values()} == {"1.27.3"}
    assert {r["repositoryOpts"]["repo"] for r in releases.values()} == {ISTIO_REPO}
    assert {r["namespace"] for r in releases.values()} == {"istio-system"}


def test_install_order_namespace_base_istiod_gateway() -> None:
    run = install()
    urn = {r.name: r.urn for r in run.resources}
    assert urn["namespace-istio-system"] in run.named(HELM_RELEASE, "istio-base").dependencies
    assert urn["istio-base"] in run.named(HELM_RELEASE, "istiod").dependencies
    assert urn["istiod"] in run.named(HELM_RELEASE, "istio-ingressgateway").dependencies


def test_gateway_gets_exactly_the_values_given() -> None:
    run = install()
    assert run.release("istio-ingressgateway")["values"] == {"replicaCount": 3, "service": {"type": "LoadBalancer"}}
    assert run.release("istiod")["values"] == {} and run.release("istio-base")["values"] == {}


def test_gateway_labels_follow_the_release_name() -> None:
    assert install().outputs["labels"] == {"app": "istio-ingressgateway", "istio": "ingressgateway"}


def test_custom_release_name_changes_the_istio_label() -> None:
    run = install(gateway_name="istio-edge")
    assert run.outputs["labels"] == {"app": "istio-edge", "istio": "edge"}
    assert run.release("istio-edge")["chart"] == "gateway"


def test_gateway_in_its_own_namespace_gets_that_namespace() -> None:
    run = install(gateway_namespace="ingress")
    assert run.release("istio-ingressgateway")["namespace"] == "ingress"
    assert {n["metadata"]["name"] for n in run.k8s_objects("Namespace")} == {"istio-system", "ingress"}


def test_gateway_waits_for_what_it_is_given() -> None:
    def body() -> None:
        marker = k8s.core.v1.ConfigMap("node-labels")
        IstioInstall("istio", IstioInstallArgs("1.28.1", "istio-ingressgateway", "istio-system", {},
                                               gateway_depends_on=[marker]))

    run = run_body(body)
    marker_urn = run.named("kubernetes:core/v1:ConfigMap", "node-labels").urn
    assert marker_urn in run.named(HELM_RELEASE, "istio-ingressgateway").dependencies
    assert marker_urn not in run.named(HELM_RELEASE, "istiod").dependencies


def test_gateway_api_crds_only_when_asked() -> None:
    assert install().of_type("kubernetes:yaml/v2:ConfigFile") == []
    [crds] = install(gateway_api_crds=True).of_type("kubernetes:yaml/v2:ConfigFile")
    assert crds.inputs["file"].startswith("https://github.com/kubernetes-sigs/gateway-api/releases/download/v")
    assert crds.inputs["file"].endswith("/standard-install.yaml")


def test_gateway_address_is_read_from_the_release_service() -> None:
    run = install(service_address="198.51.100.20")
    [read] = [r for r in run.resources if r.read_id]
    assert (read.type, read.read_id) == ("kubernetes:core/v1:Service", "istio-system/istio-ingressgateway")
    assert run.outputs["address"] == "198.51.100.20"
    assert install().outputs["address"] is None
