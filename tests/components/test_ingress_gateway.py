"""IngressGateway alone: the release, both sides of the PROXY pairing, the address, and several instances."""

from __future__ import annotations

import json
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import IngressGateway, IngressGatewayArgs, MetalLBPlacement
from components.ingress_gateway import GatewaySettings
from source_ip.facts import SourceIpMode
from source_ip.plan import ProxyProtocolListener
from tools.program import HELM_RELEASE, ProgramRun, run_body

ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"
PROXY, LOCAL = SourceIpMode.PROXY_PROTOCOL, SourceIpMode.LOCAL
STRICT, BOTH, OFF = ProxyProtocolListener.STRICT, ProxyProtocolListener.ACCEPT_BOTH, ProxyProtocolListener.OFF


def args(**overrides: Any) -> IngressGatewayArgs:
    """Args as another program passes them (a dict)."""
    fields: dict[str, Any] = {
        "name": "istio-ingressgateway",
        "namespace": "istio-system",
        "istio_version": "1.30.3",
        "platform": "vngcloud",
        "mode": PROXY,
        "listener": STRICT,
        **overrides,
    }
    return cast(IngressGatewayArgs, fields)


def gateway(service_address: str | None = None, **overrides: Any) -> ProgramRun:
    def body() -> None:
        gw = IngressGateway("gw", args(**overrides))
        pulumi.export("address", gw.address)
        pulumi.export("labels", gw.labels)
        pulumi.export("allowlistField", gw.allowlist_field)

    return run_body(body, service_address=service_address)


def values_of(run: ProgramRun) -> dict[str, Any]:
    [release] = run.of_type(HELM_RELEASE)
    return release.inputs["values"]


def test_one_release_of_the_gateway_chart_named_and_versioned_as_given() -> None:
    [release] = gateway(name="edge", namespace="ingress", istio_version="1.29.6").of_type(HELM_RELEASE)
    inputs = release.inputs
    assert (inputs["name"], inputs["namespace"], inputs["chart"], inputs["version"]) == (
        "edge",
        "ingress",
        "gateway",
        "1.29.6",
    )
    assert inputs["repositoryOpts"]["repo"] == ISTIO_REPO


def test_strict_proxy_protocol_sets_both_sides_together() -> None:
    values = values_of(gateway())
    assert values["service"]["annotations"] == {"vks.vngcloud.vn/enable-proxy-protocol": "*"}
    assert json.loads(values["podAnnotations"]["proxy.istio.io/config"]) == {
        "gatewayTopology": {"proxyProtocol": {}}
    }
    assert "externalTrafficPolicy" not in values["service"]


def test_passthrough_is_etp_local_without_any_proxy_protocol() -> None:
    run = gateway(platform="gcp", mode=LOCAL, listener=OFF)
    values = values_of(run)
    assert values["service"] == {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
    assert "podAnnotations" not in values
    assert run.outputs["allowlistField"] == "ipBlocks"


@pytest.mark.parametrize(("mode", "listener"), [(PROXY, OFF), (LOCAL, STRICT)])
def test_a_mode_and_listener_that_break_every_connection_are_refused(
    mode: SourceIpMode, listener: str
) -> None:
    with pytest.raises(
        ValueError,
        match=f'IngressGateway istio-ingressgateway: listener: with mode {mode}: .* \\(got "{listener}"\\)',
    ):
        gateway(mode=mode, listener=listener)


def test_unknown_platform_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(
        ValueError, match='platform: unknown platform \\(got "vngclod"\\); allowed: alibaba, aws'
    ):
        GatewaySettings.of(args(platform="vngclod"))


def test_accept_both_labels_the_pods_and_adds_the_permissive_filter_on_exactly_them() -> None:
    run = gateway(mode=LOCAL, listener=BOTH)
    values = values_of(run)
    [envoy_filter] = run.k8s_objects("EnvoyFilter")
    assert values["labels"] == {"istio-source-ip.io/proxy-protocol": "accept-both"}
    assert envoy_filter["metadata"] == {
        "name": "istio-ingressgateway-proxy-protocol-accept-both",
        "namespace": "istio-system",
    }
    pod_labels = {**run.outputs["labels"], **values["labels"]}
    assert envoy_filter["spec"]["workloadSelector"]["labels"] == pod_labels
    [patch] = envoy_filter["spec"]["configPatches"]
    assert patch["patch"]["value"]["typed_config"]["allow_requests_without_proxy_protocol"] is True
    assert "podAnnotations" not in values  # not strict at the same time
    assert run.outputs["allowlistField"] == "remoteIpBlocks"


def test_strict_needs_no_envoy_filter() -> None:
    assert gateway().k8s_objects("EnvoyFilter") == []


def test_metallb_placement_pins_pods_and_takes_the_pool() -> None:
    values = values_of(
        gateway(
            platform="metallb",
            mode=LOCAL,
            listener=OFF,
            metallb=MetalLBPlacement(node_label={"pin": "yes"}, pool="gw-pool"),
        )
    )
    assert values["nodeSelector"] == {"pin": "yes"}
    assert values["service"]["annotations"] == {"metallb.io/address-pool": "gw-pool"}
    [spread] = values["topologySpreadConstraints"]
    assert spread["labelSelector"] == {
        "matchLabels": {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    }


def test_labels_follow_the_release_name() -> None:
    assert gateway(name="istio-edge").outputs["labels"] == {"app": "istio-edge", "istio": "edge"}


def test_address_is_read_from_the_release_service() -> None:
    run = gateway(service_address="198.51.100.20", name="edge", namespace="ingress")
    [read] = [r for r in run.resources if r.read_id]
    assert (read.type, read.read_id) == ("kubernetes:core/v1:Service", "ingress/edge")
    assert run.outputs["address"] == "198.51.100.20"
    assert gateway().outputs["address"] is None


def test_children_wait_for_what_the_gateway_is_given() -> None:
    def body() -> None:
        istiod = k8s.core.v1.ConfigMap("istiod")
        IngressGateway(
            "gw", args(mode=LOCAL, listener=BOTH), opts=pulumi.ResourceOptions(depends_on=[istiod])
        )

    run = run_body(body)
    istiod = run.named("kubernetes:core/v1:ConfigMap", "istiod").urn
    assert istiod in run.named(HELM_RELEASE, "gw-release").dependencies
    assert (
        istiod
        in run.named("kubernetes:networking.istio.io/v1alpha3:EnvoyFilter", "gw-accept-both").dependencies
    )


def test_two_gateways_in_one_program_public_proxy_and_internal_passthrough() -> None:
    def body() -> None:
        public = IngressGateway("public", args(name="public", platform="aws-nlb"))
        internal = IngressGateway(
            "internal", args(name="internal", platform="aws-nlb", mode=LOCAL, listener=OFF)
        )
        pulumi.export("addresses", {"public": public.address, "internal": internal.address})

    run = run_body(body, service_address="203.0.113.9")
    releases = {r.inputs["name"]: r.inputs["values"] for r in run.of_type(HELM_RELEASE)}
    assert set(releases) == {"public", "internal"}
    assert "podAnnotations" in releases["public"] and "podAnnotations" not in releases["internal"]
    assert releases["internal"]["service"]["externalTrafficPolicy"] == "Local"
    assert run.outputs["addresses"] == {"public": "203.0.113.9", "internal": "203.0.113.9"}
    assert len({r.urn for r in run.resources}) == len(run.resources)
