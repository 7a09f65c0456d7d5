"""Dual-stack gateways (gateway.ipFamilies): the Service in both renderers, the refusals (a family the load
balancer loses in the mode, a MetalLB pool without a family), istiod's ISTIO_DUAL_STACK, and the allowlist
and front-proxy ranges per family."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from components.gateway_api_gateway import gateway_parameters
from components.ingress_gateway import chart_values
from components.istio_install import _warn_without_dual_stack, istiod_values
from source_ip.config import ConfigError, parse_config
from source_ip.config.settings import GatewayInputError, GatewaySettings
from source_ip.facts import IPV6_NOT_READ, ISTIO_VERSION, PLATFORMS, Ipv6Facts, SourceIpMode
from source_ip.gateway import ip_family_policy
from source_ip.plan import ProxyProtocolListener
from tests.conftest import cached_run, raw, stack_raw_config
from tools.program import HELM_RELEASE

DUAL = ["IPv4", "IPv6"]
POOL_BOTH = ["192.168.10.240-192.168.10.250", "fd00:10::240-fd00:10::24f"]
METALLB_BOTH = {"nodes": ["w1", "w2"], "pool": "dual", "addresses": POOL_BOTH}


def settings(platform: str, mode: SourceIpMode, **fields: Any) -> GatewaySettings:
    listener = (
        ProxyProtocolListener.STRICT if mode == SourceIpMode.PROXY_PROTOCOL else ProxyProtocolListener.OFF
    )
    return GatewaySettings.of(
        {"istio_version": ISTIO_VERSION, "platform": platform, "mode": mode, "listener": listener, **fields}
    )


def problems(config: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        parse_config(config)
    return [str(p) for p in refused.value.problems]


# --- the Service -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("families", "policy"),
    [(["IPv4"], "SingleStack"), (["IPv6"], "SingleStack"), (DUAL, "RequireDualStack")],
)
def test_the_families_reach_the_service_in_both_renderers_with_the_policy_that_holds_them(
    families: list[str], policy: str
) -> None:
    gateway = settings("gcp", SourceIpMode.LOCAL, ip_families=families)
    service = chart_values(gateway)["service"]
    assert (service["ipFamilyPolicy"], service["ipFamilies"]) == (policy, families)
    spec = gateway_parameters(gateway)["service"]["spec"]
    assert (spec["ipFamilyPolicy"], spec["ipFamilies"], spec["externalTrafficPolicy"]) == (
        policy,
        families,
        "Local",
    )


def test_two_families_are_required_never_preferred() -> None:
    assert ip_family_policy(DUAL) == "RequireDualStack"
    assert ip_family_policy(["IPv6", "IPv4"]) == "RequireDualStack"
    assert ip_family_policy(None) is None


def test_without_the_key_the_service_names_no_family_in_either_renderer() -> None:
    gateway = settings("gcp", SourceIpMode.LOCAL)
    service = chart_values(gateway)["service"]
    assert "ipFamilies" not in service and "ipFamilyPolicy" not in service
    assert gateway_parameters(gateway)["service"]["spec"] == {"externalTrafficPolicy": "Local"}


def test_an_empty_or_repeated_family_list_is_refused_naming_the_key() -> None:
    for families in ([], ["IPv6", "IPv6"], ["IPv5"]):
        [problem] = problems(raw("gcp", gateway={"ipFamilies": families}))
        assert problem.startswith("istio-source-ip:gateway.ipFamilies")
        assert "allowed" in problem


def test_the_nlb_gets_its_dualstack_annotation_only_when_the_gateway_asks_for_ipv6() -> None:
    key = "service.beta.kubernetes.io/aws-load-balancer-ip-address-type"
    dual = chart_values(settings("aws-nlb", SourceIpMode.PROXY_PROTOCOL, ip_families=DUAL))
    ipv4 = chart_values(settings("aws-nlb", SourceIpMode.PROXY_PROTOCOL, ip_families=["IPv4"]))
    assert dual["service"]["annotations"][key] == "dualstack"
    assert key not in ipv4["service"]["annotations"]


def test_a_user_annotation_that_makes_the_nlb_ipv4_only_under_a_dual_stack_gateway_is_refused() -> None:
    key = "service.beta.kubernetes.io/aws-load-balancer-ip-address-type"
    gateway = {"ipFamilies": DUAL, "serviceAnnotations": {key: "ipv4"}}
    [problem] = problems(raw("aws-nlb", sourceIp="proxy-protocol", gateway=gateway))
    assert problem.startswith(f"istio-source-ip:gateway.serviceAnnotations.{key}")
    assert "'dualstack'" in problem


# --- a family the load balancer loses --------------------------------------------------------------


def test_a_dual_stack_gateway_in_passthrough_on_an_nlb_is_refused_and_told_proxy_protocol_keeps_it() -> None:
    [problem] = problems(raw("aws-nlb", sourceIp="local", gateway={"ipFamilies": DUAL}))
    assert problem.startswith("istio-source-ip:gateway.ipFamilies")
    assert '(got ["IPv4", "IPv6"])' in problem
    assert "allowed: sourceIp: proxy-protocol (which keeps it), or gateway.ipFamilies: [IPv4]" in problem


def test_the_same_gateway_with_proxy_protocol_or_ipv4_only_is_accepted() -> None:
    parse_config(raw("aws-nlb", sourceIp="proxy-protocol", gateway={"ipFamilies": DUAL}))
    parse_config(raw("aws-nlb", sourceIp="local", gateway={"ipFamilies": ["IPv4"]}))


def test_the_component_refuses_the_lost_family_by_its_field_name_before_registering_anything() -> None:
    with pytest.raises(GatewayInputError) as refused:
        settings("aws-nlb", SourceIpMode.LOCAL, ip_families=["IPv6"])
    [problem] = refused.value.problems
    assert problem.key == "IngressGateway ?: ip_families"
    assert "mode: proxy-protocol (which keeps it)" in problem.message


def test_a_load_balancer_known_to_take_no_ipv6_refuses_any_ipv6_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ipv4_only = Ipv6Facts(frontend="ipv4-only", source="example.go (read for the test)")
    monkeypatch.setitem(PLATFORMS, "gcp", dataclasses.replace(PLATFORMS["gcp"], ipv6=ipv4_only))
    [problem] = problems(raw("gcp", gateway={"ipFamilies": ["IPv6"]}))
    assert problem.startswith("istio-source-ip:gateway.ipFamilies")
    assert "takes no IPv6 clients (example.go (read for the test))" in problem
    parse_config(raw("gcp", gateway={"ipFamilies": ["IPv4"]}))


def test_an_unread_platform_refuses_nothing_on_account_of_ipv6() -> None:
    assert PLATFORMS["gcp"].ipv6 == IPV6_NOT_READ
    parse_config(raw("gcp", gateway={"ipFamilies": DUAL}))


def test_every_ipv6_fact_that_was_read_names_where_and_unread_ones_say_so() -> None:
    for platform in PLATFORMS.values():
        facts = platform.ipv6
        known = facts.frontend != "unknown" or {facts.passthrough, facts.proxy_protocol} != {"unknown"}
        if known:
            assert facts.source != "not read" and ("/" in facts.source or "docs" in facts.source), platform.id
        else:
            assert facts.source == "not read", platform.id


# --- MetalLB: an address of each family ------------------------------------------------------------


def test_a_dual_stack_gateway_on_a_metallb_pool_without_ipv6_is_refused_naming_the_pool() -> None:
    metallb = {**METALLB_BOTH, "addresses": POOL_BOTH[:1]}
    [problem] = problems(raw("metallb", metallb=metallb, gateway={"ipFamilies": DUAL}))
    assert problem.startswith("istio-source-ip:metallb.addresses")
    assert "holds no IPv6 address, and gateway.ipFamilies [IPv4, IPv6] needs one of each family" in problem
    assert "allowed: add an IPv6 range" in problem


def test_an_ipv6_gateway_of_several_on_a_pool_without_ipv6_is_named_by_its_own_key() -> None:
    metallb = {**METALLB_BOTH, "addresses": POOL_BOTH[:1]}
    gateways = [{"name": "v4"}, {"name": "v6", "ipFamilies": ["IPv6"]}]
    [problem] = problems(raw("metallb", metallb=metallb, gateways=gateways))
    assert "gateways[1].ipFamilies [IPv6]" in problem


def test_a_pool_holding_both_families_serves_a_dual_stack_gateway_with_the_l2_advertisement_unchanged() -> (
    None
):
    run = cached_run(raw("metallb", metallb=METALLB_BOTH, gateway={"ipFamilies": DUAL}))
    [pool] = run.k8s_objects("IPAddressPool")
    assert pool["spec"]["addresses"] == POOL_BOTH
    plain = cached_run(raw("metallb", metallb=METALLB_BOTH))
    assert run.k8s_objects("L2Advertisement") == plain.k8s_objects("L2Advertisement")


# --- istiod -----------------------------------------------------------------------------------------


def istiod_release_values(config: dict[str, str]) -> dict[str, Any]:
    run = cached_run(config)
    [values] = [r.inputs["values"] for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "istiod"]
    return dict(values)


def test_istiod_and_the_proxies_run_dual_stack_only_when_a_gateway_asks_for_ipv6() -> None:
    assert istiod_release_values(raw("gcp", gateway={"ipFamilies": ["IPv6"]})) == istiod_values(True)
    assert istiod_values(True)["env"] == {"ISTIO_DUAL_STACK": "true"}
    assert istiod_values(True)["meshConfig"]["defaultConfig"]["proxyMetadata"] == {"ISTIO_DUAL_STACK": "true"}
    assert istiod_release_values(raw("gcp", gateway={"ipFamilies": ["IPv4"]})) == {}
    assert istiod_release_values(raw("gcp")) == {}


def test_a_reused_istiod_without_the_dual_stack_switch_is_warned_about(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said: list[str] = []
    monkeypatch.setattr("pulumi.log.warn", lambda message, *_, **__: said.append(message))

    def spec(env: list[dict[str, str]]) -> dict[str, Any]:
        return {"template": {"spec": {"containers": [{"name": "discovery", "env": env}]}}}

    _warn_without_dual_stack(spec([{"name": "PILOT_TRACE_SAMPLING", "value": "1"}]))
    _warn_without_dual_stack(spec([{"name": "ISTIO_DUAL_STACK", "value": "true"}]))
    _warn_without_dual_stack(None)  # unknown in an offline render: nothing to say
    assert len(said) == 1 and "ISTIO_DUAL_STACK=true" in said[0]


# --- the allowlist, the front proxy and the rate limit per family ----------------------------------


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_an_allowlist_of_both_families_reaches_the_policy_in_both_routing_modes(routing: str) -> None:
    allowlist = ["203.0.113.0/24", "2001:db8:100::/48"]
    run = cached_run(
        raw(
            "metallb",
            routing=routing,
            metallb=METALLB_BOTH,
            gateway={"ipFamilies": DUAL},
            allowlist=allowlist,
        )
    )
    [policy] = [p for p in run.k8s_objects("AuthorizationPolicy") if p["spec"].get("action") == "ALLOW"]
    [source] = [f["source"] for rule in policy["spec"]["rules"] for f in rule["from"]]
    assert sorted(source["ipBlocks"]) == sorted(allowlist)


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_a_front_proxy_guard_holds_the_proxy_s_ipv6_ranges_too(routing: str) -> None:
    tls = {"secretName": "echo-tls", "redirectHttp": False}
    gateway = {"ipFamilies": DUAL, "frontProxy": {"profile": "cloudflare"}, "tls": tls}
    run = cached_run(raw("gcp", routing=routing, sourceIp="local", gateway=gateway))
    [guard] = [p for p in run.k8s_objects("AuthorizationPolicy") if p["spec"].get("action") == "DENY"]
    ranges = guard["spec"]["rules"][0]["from"][0]["source"]["notIpBlocks"]
    assert any(":" in r for r in ranges) and any("." in r for r in ranges)


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_a_dual_stack_gateway_keeps_its_rate_limit(routing: str) -> None:
    limit = {"requestsPerMinute": 600, "burst": 20}
    run = cached_run(raw("gcp", routing=routing, gateway={"ipFamilies": DUAL, "rateLimit": limit}))
    assert [f for f in run.k8s_objects("EnvoyFilter") if f["metadata"]["name"].endswith("-rate-limit")]


# --- the shipped stack ------------------------------------------------------------------------------


def test_the_shipped_dual_stack_stack_asks_metallb_for_both_families_from_a_pool_holding_both() -> None:
    run = cached_run(stack_raw_config("metallb-dual-stack"))
    [values] = [r.inputs["values"] for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    service = values["service"]
    assert (service["ipFamilyPolicy"], service["ipFamilies"]) == ("RequireDualStack", DUAL)
    assert service["externalTrafficPolicy"] == "Local"
    [pool] = run.k8s_objects("IPAddressPool")
    versions = {6 if ":" in a else 4 for a in pool["spec"]["addresses"]}
    assert versions == {4, 6}


def test_fixed_metallb_addresses_of_one_family_for_a_dual_stack_gateway_are_refused_by_annotation() -> None:
    key = "metallb.io/loadBalancerIPs"
    gateway = {"ipFamilies": DUAL, "serviceAnnotations": {key: "192.168.10.240"}}
    [problem] = problems(raw("metallb", metallb=METALLB_BOTH, gateway=gateway))
    assert problem.startswith(f"istio-source-ip:gateway.serviceAnnotations.{key}")
    assert "names addresses of IPv4 while gateway.ipFamilies is [IPv4, IPv6]" in problem
    gateway["serviceAnnotations"] = {key: "192.168.10.240,fd00:10::240"}
    parse_config(raw("metallb", metallb=METALLB_BOTH, gateway=gateway))
