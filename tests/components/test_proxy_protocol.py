"""ProxyProtocolGateway alone: strict needs no object; accept-both adds the permissive listener filter."""

from __future__ import annotations

from components import ProxyProtocolGateway, ProxyProtocolGatewayArgs
from source_ip.plan import GatewayRef
from tools.program import run_body

LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}


def proxy(listener: str):
    args = ProxyProtocolGatewayArgs(gateway=GatewayRef("istio-ingressgateway", "istio-system", LABELS),
                                    listener=listener,  # type: ignore[arg-type]
                                    service_annotations={"x": "y"}, gateway_topology={"proxyProtocol": {}})
    return run_body(lambda: ProxyProtocolGateway("pp", args))


def test_strict_listener_is_all_chart_values_no_envoy_filter() -> None:
    assert proxy("strict").k8s_objects("EnvoyFilter") == []


def test_accept_both_inserts_a_permissive_proxy_protocol_listener_filter() -> None:
    [envoy_filter] = proxy("accept-both").k8s_objects("EnvoyFilter")
    assert envoy_filter["apiVersion"] == "networking.istio.io/v1alpha3"
    assert envoy_filter["metadata"]["namespace"] == "istio-system"
    [patch] = envoy_filter["spec"]["configPatches"]
    assert (patch["applyTo"], patch["match"], patch["patch"]["operation"]) == (
        "LISTENER_FILTER", {"context": "GATEWAY"}, "INSERT_FIRST")
    value = patch["patch"]["value"]
    assert value["name"] == "envoy.filters.listener.proxy_protocol"
    assert value["typed_config"] == {
        "@type": "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
        "allow_requests_without_proxy_protocol": True,
    }


def test_filter_selects_only_migrating_gateway_pods() -> None:
    [envoy_filter] = proxy("accept-both").k8s_objects("EnvoyFilter")
    selector = envoy_filter["spec"]["workloadSelector"]["labels"]
    assert LABELS.items() < selector.items()
    assert len(selector) == len(LABELS) + 1  # the migration marker: strict pods never match
