"""Behind a front proxy (CDN): one trusted X-Forwarded-For hop, the DENY guard on the direct peer, the
allowlist on the client address, the refusals, and the policy that holds a rendered stack to them."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from policy import validators as v
from source_ip.config import ConfigError, parse_config
from source_ip.front_proxies import RANGES_FILE, RangeSnapshot, front_proxy_problems
from source_ip.gateway import GatewaySettings
from tests.conftest import cached_run, raw, stack_run
from tools.program import HELM_RELEASE, ProgramRun
from tools.verify.readers import stack_target

CUSTOM_CIDRS = ["198.51.100.0/24", "2001:db8:100::/48"]
SHIPPED = json.loads(RANGES_FILE.read_text(encoding="utf-8"))
"""The ranges file, read here on its own (not through the module under test)."""


LITERAL_RANGES = {
    "cloudflare": ["173.245.48.0/20", "2400:cb00::/32"],
    "cloudfront": ["3.172.0.0/18", "2600:9000:1000::/36"],
    "custom": CUSTOM_CIDRS,
}
"""A few of each proxy's published egress ranges, written out here (Cloudflare's ips-v4/ips-v6 lists,
CloudFront's CLOUDFRONT_ORIGIN_FACING), so a ranges file that lost them fails even where the expected
list is read from that same file."""


def expected_ranges(profile: str) -> list[str]:
    if profile == "custom":
        return sorted(CUSTOM_CIDRS)
    return SHIPPED[profile]["ipv4"] + SHIPPED[profile]["ipv6"]


def front(profile: str) -> dict[str, Any]:
    return {"profile": profile, "cidrs": CUSTOM_CIDRS} if profile == "custom" else {"profile": profile}


def fronted(profile: str, routing: str, **keys: Any) -> ProgramRun:
    gateway = {"frontProxy": front(profile), **keys.pop("gateway", {})}
    return cached_run(raw("aws-nlb", routing=routing, sourceIp="local", gateway=gateway, **keys))


def policy_inputs(run: ProgramRun) -> list[tuple[str, dict[str, Any]]]:
    """What the policy pack sees: every custom resource the program registers, as plain JSON."""
    return [(r.type, json.loads(json.dumps(r.inputs))) for r in run.resources if r.custom and not r.read_id]


def pod_annotations(run: ProgramRun, routing: str) -> dict[str, str]:
    if routing == "istio":
        return run.release("istio-ingressgateway")["values"]["podAnnotations"]
    [configmap] = [
        c for c in run.k8s_objects("ConfigMap") if c["metadata"]["name"].endswith("-gateway-params")
    ]
    deployment = yaml.safe_load(configmap["data"]["deployment"])
    return deployment["spec"]["template"]["metadata"]["annotations"]


def authorization_policies(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in run.k8s_objects("AuthorizationPolicy")}


ATTACH: dict[str, dict[str, Any]] = {
    "istio": {"selector": {"matchLabels": {"app": "istio-ingressgateway", "istio": "ingressgateway"}}},
    "gateway-api": {
        "targetRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "istio-ingressgateway"}
        ]
    },
}


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
@pytest.mark.parametrize("profile", ["cloudflare", "cloudfront", "custom"])
def test_each_profile_trusts_one_hop_and_denies_every_peer_outside_its_ranges(
    profile: str, routing: str
) -> None:
    run = fronted(profile, routing, allowlist=["203.0.113.0/24"])
    annotations = pod_annotations(run, routing)
    assert json.loads(annotations["proxy.istio.io/config"]) == {"gatewayTopology": {"numTrustedProxies": 1}}
    assert annotations["istio-source-ip.io/trusted-hops"] == "l7"
    assert annotations["istio-source-ip.io/front-proxy"] == profile
    policies = authorization_policies(run)
    assert policies["istio-ingressgateway-front-proxy-guard"]["metadata"]["namespace"] == "istio-system"
    assert policies["istio-ingressgateway-front-proxy-guard"]["spec"] == {
        **ATTACH[routing],
        "action": "DENY",
        "rules": [{"from": [{"source": {"notIpBlocks": expected_ranges(profile)}}]}],
    }
    guarded = policies["istio-ingressgateway-front-proxy-guard"]["spec"]["rules"][0]["from"][0]["source"]
    assert set(LITERAL_RANGES[profile]) <= set(guarded["notIpBlocks"])
    # The allowlist matches the client address Envoy took from X-Forwarded-For, never the proxy's.
    assert policies["istio-ingressgateway-allowlist"]["spec"] == {
        **ATTACH[routing],
        "action": "ALLOW",
        "rules": [{"from": [{"source": {"remoteIpBlocks": ["203.0.113.0/24"]}}]}],
    }
    assert v.front_proxy_guarded(policy_inputs(run)) == []
    assert v.gateway_api_parameters_pair_proxy_protocol(policy_inputs(run)) == []
    assert [m for t, p in policy_inputs(run) for m in v.trusted_proxies_behind_l4(t, p)] == []


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_the_guard_exists_without_an_allowlist_and_an_allowlist_does_not_change_it(routing: str) -> None:
    alone = authorization_policies(fronted("cloudflare", routing))
    assert list(alone) == ["istio-ingressgateway-front-proxy-guard"]
    with_allowlist = authorization_policies(fronted("cloudflare", routing, allowlist=["203.0.113.0/24"]))
    assert sorted(with_allowlist) == [
        "istio-ingressgateway-allowlist",
        "istio-ingressgateway-front-proxy-guard",
    ]
    guard = "istio-ingressgateway-front-proxy-guard"
    assert with_allowlist[guard] == alone[guard]


@pytest.mark.parametrize(
    ("routing", "gateway_types"),
    [
        ("istio", ["kubernetes:helm.sh/v3:Release"]),
        ("gateway-api", ["kubernetes:core/v1:ConfigMap", "kubernetes:gateway.networking.k8s.io/v1:Gateway"]),
    ],
)
def test_the_gateway_waits_for_its_guard_so_no_pod_trusts_the_hop_unguarded(
    routing: str, gateway_types: list[str]
) -> None:
    run = fronted("cloudflare", routing)
    [guard] = [r for r in run.of_type("kubernetes:security.istio.io/v1:AuthorizationPolicy")]
    assert guard.inputs["metadata"]["name"] == "istio-ingressgateway-front-proxy-guard"
    for gateway_type in gateway_types:
        [resource] = [r for r in run.of_type(gateway_type) if r.name.startswith("istio-ingressgateway-")]
        assert guard.urn in resource.dependencies, resource.name


def test_a_gateway_without_front_proxy_has_no_guard_and_its_own_trust() -> None:
    run = cached_run(raw("aws-nlb", sourceIp="local", allowlist=["203.0.113.0/24"]))
    assert list(authorization_policies(run)) == ["istio-ingressgateway-allowlist"]
    assert "podAnnotations" not in run.release("istio-ingressgateway")["values"]
    assert authorization_policies(run)["istio-ingressgateway-allowlist"]["spec"]["rules"] == [
        {"from": [{"source": {"ipBlocks": ["203.0.113.0/24"]}}]}
    ]


def test_two_gateways_each_get_the_guard_of_their_own_proxy() -> None:
    gateways = [
        {"name": "edge-cf", "namespace": "edge", "frontProxy": front("cloudflare")},
        {"name": "edge-custom", "namespace": "edge", "frontProxy": front("custom")},
        {"name": "direct", "namespace": "edge"},
    ]
    run = cached_run(raw("aws-nlb", sourceIp="local", gateways=gateways))
    policies = authorization_policies(run)
    assert sorted(policies) == ["edge-cf-front-proxy-guard", "edge-custom-front-proxy-guard"]
    assert policies["edge-cf-front-proxy-guard"]["spec"]["selector"] == {
        "matchLabels": {"app": "edge-cf", "istio": "edge-cf"}
    }
    assert policies["edge-custom-front-proxy-guard"]["spec"]["rules"][0]["from"][0]["source"] == {
        "notIpBlocks": sorted(CUSTOM_CIDRS)
    }
    assert v.front_proxy_guarded(policy_inputs(run)) == []


# --- refusals --------------------------------------------------------------------------------------------


def refusal(**keys: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw("aws-nlb", **keys))
    return str(caught.value)


def test_fastly_is_refused_because_it_appends_to_x_forwarded_for_only_on_tls() -> None:
    message = refusal(sourceIp="local", gateway={"frontProxy": {"profile": "fastly"}})
    assert "istio-source-ip:gateway.frontProxy.profile: Fastly adds to X-Forwarded-For only on TLS" in message
    assert '(got "fastly")' in message
    assert "allowed: cloudflare, cloudfront, or custom" in message


def test_custom_without_cidrs_and_cidrs_with_a_published_profile_are_refused() -> None:
    message = refusal(sourceIp="local", gateway={"frontProxy": {"profile": "custom"}})
    assert "gateway.frontProxy.cidrs: is required with profile custom" in message
    message = refusal(
        sourceIp="local", gateway={"frontProxy": {"profile": "cloudfront", "cidrs": ["192.0.2.0/24"]}}
    )
    assert "gateway.frontProxy.cidrs: is only read with profile custom" in message


def test_a_client_address_header_is_refused_naming_why_istio_cannot_honour_it() -> None:
    message = refusal(
        sourceIp="local", gateway={"frontProxy": {"profile": "cloudflare", "header": "CF-Connecting-IP"}}
    )
    assert "gateway.frontProxy.header: cannot be honoured on Istio 1.30" in message
    assert "use_remote_address: true" in message and "istio#18169" in message
    assert '(got "CF-Connecting-IP")' in message


def test_front_proxy_with_its_own_hop_count_is_refused() -> None:
    message = refusal(
        sourceIp="local",
        gateways=[
            {"name": "edge", "frontProxy": front("cloudflare"), "numTrustedProxies": 2, "trustedHops": "l7"}
        ],
    )
    assert "gateways[0].numTrustedProxies: is set together with gateways[0].frontProxy" in message
    assert "gateways[0].trustedHops: is set together with gateways[0].frontProxy" in message


@pytest.mark.parametrize(
    "keys",
    [
        {"sourceIp": "proxy-protocol"},
        {"sourceIp": "local", "gateway": {"proxyProtocolMigration": True}},
    ],
    ids=["proxy-protocol", "migrating"],
)
def test_front_proxy_behind_proxy_protocol_is_refused_the_guard_would_see_the_load_balancer(
    keys: dict[str, Any],
) -> None:
    gateway = {"frontProxy": front("cloudflare"), **keys.pop("gateway", {})}
    message = refusal(gateway=gateway, **keys)
    assert (
        "istio-source-ip:gateway.frontProxy: needs the front proxy to be the gateway's direct peer" in message
    )
    assert "direct_remote_ip" in message


def test_an_unknown_profile_is_refused_with_the_profiles_allowed() -> None:
    message = refusal(sourceIp="local", gateway={"frontProxy": {"profile": "akamai"}})
    assert (
        "gateway.frontProxy.profile" in message
        and "'cloudflare', 'cloudfront', 'fastly' or 'custom'" in message
    )


def test_a_profile_with_no_ranges_read_is_refused_naming_the_refresh_command() -> None:
    empty = {
        "cloudflare": RangeSnapshot((), (), None, "never read"),
        "cloudfront": RangeSnapshot(("13.32.0.0/15",), (), "2026-08-22", "test"),
        "fastly": RangeSnapshot((), (), None, "never read"),
    }
    [(key, value, message)] = front_proxy_problems("cloudflare", [], None, empty)
    assert (key, value) == ("profile", "cloudflare")
    assert "python -m tools.front_proxy_ranges --write --profile cloudflare" in message
    assert front_proxy_problems("cloudfront", [], None, empty) == []


def test_the_component_alone_refuses_what_the_config_refuses() -> None:
    base: dict[str, Any] = {
        "name": "edge",
        "namespace": "edge",
        "istio_version": "1.30.3",
        "platform": "aws-nlb",
        "mode": "local",
        "listener": "off",
    }
    with pytest.raises(
        ValueError, match=r"IngressGateway edge: front_proxy.header: .* \(got \"CF-Connecting-IP\"\)"
    ):
        GatewaySettings.of({**base, "front_proxy": {"profile": "cloudflare", "header": "CF-Connecting-IP"}})
    with pytest.raises(ValueError, match="trusts exactly the proxy's one X-Forwarded-For hop"):
        GatewaySettings.of(
            {**base, "front_proxy": {"profile": "cloudflare"}, "num_trusted_proxies": 1, "trusted_hops": "l7"}
        )
    strict = {**base, "mode": "proxy-protocol", "listener": "strict"}
    with pytest.raises(
        ValueError, match="IngressGateway edge: front_proxy: needs the front proxy to be the gateway's direct"
    ):
        GatewaySettings.of({**strict, "front_proxy": {"profile": "cloudflare"}})
    assert GatewaySettings.of({**base, "front_proxy": {"profile": "cloudflare"}}).trusted_xff_hops == 1


# --- the policy pack ------------------------------------------------------------------------------------


def without(resources: list[tuple[str, dict[str, Any]]], name: str) -> list[tuple[str, dict[str, Any]]]:
    return [(t, p) for t, p in resources if p.get("metadata", {}).get("name") != name]


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_a_fronted_gateway_without_its_guard_is_a_violation(routing: str) -> None:
    resources = policy_inputs(fronted("cloudflare", routing))
    [message] = v.front_proxy_guarded(without(resources, "istio-ingressgateway-front-proxy-guard"))
    assert message.startswith("gateway istio-ingressgateway: behind front proxy cloudflare it trusts one")


@pytest.mark.parametrize(
    "change",
    [
        lambda spec: spec.update(action="ALLOW"),
        lambda spec: spec["rules"][0].update(to=[{"operation": {"paths": ["/admin"]}}]),
        lambda spec: spec["rules"][0]["from"][0]["source"].update(notIpBlocks=[]),
        lambda spec: spec.update(selector={"matchLabels": {"app": "other"}}),
        # a chart-deployed gateway has no Gateway API Gateway: a targetRef to its name attaches to nothing
        lambda spec: spec.update(
            selector=None,
            targetRefs=[
                {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "istio-ingressgateway"}
            ],
        ),
        lambda spec: spec["rules"][0]["from"][0]["source"]["notIpBlocks"].append("0.0.0.0/0"),
        lambda spec: spec["rules"][0]["from"][0]["source"]["notIpBlocks"].append("2000::/3"),
    ],
    ids=[
        "allow-not-deny",
        "only-some-paths",
        "no-ranges",
        "other-pods",
        "target-ref-to-a-chart-gateway",
        "everyone-v4",
        "most-v6",
    ],
)
def test_a_guard_that_does_not_guard_every_request_is_a_violation(change: Any) -> None:
    resources = copy.deepcopy(policy_inputs(fronted("cloudflare", "istio")))
    [guard] = [
        p for t, p in resources if p.get("metadata", {}).get("name", "").endswith("-front-proxy-guard")
    ]
    change(guard["spec"])
    guard["spec"] = {key: value for key, value in guard["spec"].items() if value is not None}
    assert len(v.front_proxy_guarded(resources)) == 1


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_an_allowlist_on_ip_blocks_behind_a_front_proxy_is_a_violation(routing: str) -> None:
    resources = copy.deepcopy(policy_inputs(fronted("cloudfront", routing, allowlist=["203.0.113.0/24"])))
    [allowlist] = [p for t, p in resources if p.get("metadata", {}).get("name", "").endswith("-allowlist")]
    source = allowlist["spec"]["rules"][0]["from"][0]["source"]
    source["ipBlocks"] = source.pop("remoteIpBlocks")
    [message] = v.front_proxy_guarded(resources)
    assert "istio-ingressgateway-allowlist: an allowlist on ipBlocks behind front proxy cloudfront" in message


def test_the_policy_reads_anything_without_an_exception() -> None:
    odd: list[tuple[str, dict[str, Any]]] = [
        (
            HELM_RELEASE,
            {"chart": "gateway", "name": "g", "values": {"podAnnotations": {v.FRONT_PROXY_ANNOTATION: 1}}},
        ),
        (v.AUTHORIZATION_POLICY, {"metadata": None, "spec": {"rules": "x", "targetRefs": [None, 3]}}),
        (
            v.AUTHORIZATION_POLICY,
            {"spec": {"action": "DENY", "rules": [{"from": [{"source": {"notIpBlocks": 5}}]}]}},
        ),
    ]
    [message] = v.front_proxy_guarded(odd)
    assert message.startswith("gateway g: behind front proxy 1")


def test_the_shipped_cloudflare_stack_passes_every_policy() -> None:
    run = stack_run("aws-nlb-cloudflare")
    resources = policy_inputs(run)
    assert v.front_proxy_guarded(resources) == []
    for check in (
        v.proxy_protocol_on_both_sides,
        v.etp_cluster_without_proxy_protocol,
        v.trusted_proxies_behind_l4,
    ):
        assert [m for t, p in resources for m in check(t, p)] == []
    assert "istio-ingressgateway-front-proxy-guard" in authorization_policies(run)
    assert run.k8s_objects("EnvoyFilter")


def test_the_stack_publishes_the_one_hop_it_trusts_so_verify_expects_the_proxys_entry() -> None:
    """verify takes the trusted hops from the numTrustedProxies output: 0 there would call the proxy's
    X-Forwarded-For entry client-controlled."""
    outputs = {**stack_run("aws-nlb-cloudflare").outputs, "gatewayAddress": "203.0.113.10"}
    assert outputs["numTrustedProxies"] == 1
    assert stack_target("aws-nlb-cloudflare", outputs).num_trusted_proxies == 1
    assert stack_run("aws-nlb").outputs["numTrustedProxies"] == 0
