"""Policy validators on resources taken from the render of the shipped stacks, good and broken."""

from __future__ import annotations

import copy
import functools
import importlib
import json
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi_policy import EnforcementLevel
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE

from components.ingress_gateway import chart_values
from composition import stack_inputs
from policy import validators as v
from source_ip.config import ConfigError, parse_config
from source_ip.facts import ALL_PROXY_SWITCHES, PLATFORMS
from tests.conftest import STACKS, cached_run, raw, stack_raw_config, stack_run
from tools.program import HELM_RELEASE

PER_PORT_KEYS = [
    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes.80",
    "service.beta.kubernetes.io/linode-loadbalancer-port-443",
]
"""Per-port forms of switches (ALL_PROXY_SWITCHES holds them without the port)."""

PACK = importlib.import_module("policy.__main__")
RESOURCE_CHECKS = [check for check, _ in PACK.RESOURCE_CHECKS]
"""Every check of one resource the pack registers (read from the pack, so a new one is tested too)."""
STACK_CHECKS = [check for check, _ in PACK.STACK_CHECKS]
GATEWAY_CHECKS = [check for check in RESOURCE_CHECKS if check is not v.https_redirect_keeps_acme_challenges]
"""The checks of a gateway's own values (the redirect check reads routes)."""


@functools.cache
def stack_resources(stack: str) -> tuple[tuple[str, str], ...]:
    run = stack_run(stack)
    return tuple((r.type, json.dumps(r.inputs)) for r in run.resources if r.custom and not r.read_id)


def resources(stack: str) -> list[tuple[str, dict[str, Any]]]:
    return [(t, json.loads(p)) for t, p in stack_resources(stack)]


def gateway_props(stack: str) -> dict[str, Any]:
    [props] = [p for t, p in resources(stack) if t == HELM_RELEASE and p["chart"] == "gateway"]
    return props


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_pass_every_policy(stack: str) -> None:
    found = [m for t, p in resources(stack) for check in RESOURCE_CHECKS for m in check(t, p)]
    found += [m for check in STACK_CHECKS for m in check(resources(stack))]
    assert found == []
    assert len(RESOURCE_CHECKS) + len(STACK_CHECKS) == len(PACK.POLICIES) == 7


def test_proxy_protocol_on_the_lb_without_the_gateway_parsing_it_fails() -> None:
    props = gateway_props("vngcloud")
    del props["values"]["podAnnotations"]
    [message] = v.proxy_protocol_on_both_sides(HELM_RELEASE, props)
    assert "the LB sends the PROXY header (vks.vngcloud.vn/enable-proxy-protocol)" in message


def test_gateway_parsing_without_the_lb_sending_fails() -> None:
    props = gateway_props("aws")
    del props["values"]["service"]["annotations"]
    [message] = v.proxy_protocol_on_both_sides(HELM_RELEASE, props)
    assert "no Service annotation makes the LB send it" in message


def test_proxy_protocol_annotation_set_to_off_counts_as_not_sent() -> None:
    props = gateway_props("hetzner")
    props["values"]["service"]["annotations"]["load-balancer.hetzner.cloud/uses-proxyprotocol"] = "false"
    assert v.proxy_protocol_on_both_sides(HELM_RELEASE, props) != []


def test_yaml_proxy_config_annotation_is_understood() -> None:
    props = gateway_props("vngcloud")
    props["values"]["podAnnotations"]["proxy.istio.io/config"] = "gatewayTopology:\n  proxyProtocol: {}\n"
    assert v.proxy_protocol_on_both_sides(HELM_RELEASE, props) == []


def test_migration_stage_counts_as_parsing() -> None:
    run = cached_run(
        {
            **stack_raw_config("vngcloud"),
            "istio-source-ip:gateway": json.dumps({"proxyProtocolMigration": True}),
        }
    )
    [release] = [r for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    assert "podAnnotations" not in release.inputs["values"]
    assert v.proxy_protocol_on_both_sides(HELM_RELEASE, release.inputs) == []


def test_etp_cluster_without_proxy_protocol_is_advised_against() -> None:
    props = gateway_props("gcp")
    assert v.etp_cluster_without_proxy_protocol(HELM_RELEASE, props) == []
    del props["values"]["service"]["externalTrafficPolicy"]
    [message] = v.etp_cluster_without_proxy_protocol(HELM_RELEASE, props)
    assert "kube-proxy replaces the client address with a node address" in message


def test_trusted_proxies_need_declared_l7_hops() -> None:
    props = gateway_props("aws")
    props["values"]["podAnnotations"]["proxy.istio.io/config"] = json.dumps(
        {"gatewayTopology": {"proxyProtocol": {}, "numTrustedProxies": 2}}
    )
    [message] = v.trusted_proxies_behind_l4(HELM_RELEASE, props)
    assert "numTrustedProxies=2 behind an L4 load balancer lets a client forge its address" in message
    props["values"]["podAnnotations"]["istio-source-ip.io/trusted-hops"] = "l7"
    assert v.trusted_proxies_behind_l4(HELM_RELEASE, props) == []


def test_program_declares_l7_hops_when_configured() -> None:
    run = cached_run(
        {
            **stack_raw_config("aws"),
            "istio-source-ip:gateway": json.dumps({"numTrustedProxies": 1, "trustedHops": "l7"}),
        }
    )
    [release] = [r for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    assert v.trusted_proxies_behind_l4(HELM_RELEASE, release.inputs) == []


def with_l2(stack: str, **spec: Any) -> list[tuple[str, dict[str, Any]]]:
    changed = []
    for t, p in resources(stack):
        if t in v.L2_ADVERTISEMENT_TYPES:
            p = copy.deepcopy(p)
            p["spec"].update(spec)
        changed.append((t, p))
    return changed


def test_l2_advertisement_on_other_nodes_fails() -> None:
    [message] = v.l2_advertisements_cover_gateway(
        with_l2("metallb", nodeSelectors=[{"matchLabels": {"rack": "b"}}])
    )
    assert message.startswith("L2Advertisement default-l2advertisement: its nodeSelectors")


def test_l2_advertisement_for_another_pool_is_not_the_gateways() -> None:
    assert (
        v.l2_advertisements_cover_gateway(
            with_l2("metallb", ipAddressPools=["other"], nodeSelectors=[{"matchLabels": {"rack": "b"}}])
        )
        == []
    )


def test_gateway_without_node_selector_is_not_covered_by_pinned_announcements() -> None:
    stack = [(t, copy.deepcopy(p)) for t, p in resources("dev")]
    for t, p in stack:
        if t == HELM_RELEASE and p["chart"] == "gateway":
            del p["values"]["nodeSelector"]
    [message] = v.l2_advertisements_cover_gateway(stack)
    assert "nodeSelector none" in message


def test_l2_advertisement_without_node_selectors_covers_everything() -> None:
    assert v.l2_advertisements_cover_gateway(with_l2("dev", nodeSelectors=[])) == []


def test_pack_registers_each_policy_with_its_enforcement_level() -> None:
    pack = importlib.import_module("policy.__main__")
    levels = {p.name: p.enforcement_level for p in pack.POLICIES}
    assert levels == {
        "proxy-protocol-on-both-sides": EnforcementLevel.MANDATORY,
        "etp-cluster-without-proxy-protocol": EnforcementLevel.ADVISORY,
        "trusted-proxies-behind-l4": EnforcementLevel.MANDATORY,
        "front-proxy-guarded": EnforcementLevel.MANDATORY,
        "https-redirect-keeps-acme-challenges": EnforcementLevel.ADVISORY,
        "l2-advertisements-cover-gateway": EnforcementLevel.MANDATORY,
        "gateway-api-parameters-pair-proxy-protocol": EnforcementLevel.MANDATORY,
    }


def test_pack_wrappers_report_what_the_validators_find() -> None:
    pack = importlib.import_module("policy.__main__")
    policies = {p.name: p for p in pack.POLICIES}
    props = gateway_props("vngcloud")
    del props["values"]["podAnnotations"]
    reported: list[str] = []
    policies["proxy-protocol-on-both-sides"].validate(
        SimpleNamespace(resource_type=HELM_RELEASE, props=props),
        lambda message, urn: reported.append(message),
    )
    assert reported == v.proxy_protocol_on_both_sides(HELM_RELEASE, props) and reported
    stack = SimpleNamespace(
        resources=[
            SimpleNamespace(resource_type=t, props=p)
            for t, p in with_l2("metallb", nodeSelectors=[{"matchLabels": {"x": "y"}}])
        ]
    )
    reported.clear()
    policies["l2-advertisements-cover-gateway"].validate(stack, lambda message, urn: reported.append(message))
    assert len(reported) == 1


# --- The program and the pack agree (issue: class A) -------------------------------------------------


def test_generic_with_proxy_protocol_is_accepted_by_the_program_and_passes_the_pack() -> None:
    run = cached_run(raw("generic", sourceIp="proxy-protocol"))
    [release] = [r.inputs for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    assert release["values"]["service"]["annotations"] == {
        "istio-source-ip.io/lb-sends-proxy-protocol": "true"
    }
    assert [
        m
        for check in RESOURCE_CHECKS
        if check is not v.etp_cluster_without_proxy_protocol  # advisory: ETP Cluster with PROXY
        for m in check(HELM_RELEASE, release)
    ] == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([(p.id, m) for p in PLATFORMS.values() for m in p.modes]),
    st.dictionaries(
        st.sampled_from([*sorted(ALL_PROXY_SWITCHES), *PER_PORT_KEYS, "example.com/x"]),
        st.sampled_from(
            [
                "*",
                "true",
                "false",
                "on",
                "off",
                "v1",
                "v2",
                "none",
                "",
                "http2",
                "1",
                "proxy_protocol_v2.enabled=true",
                "send-proxy-v2",
                "proxy-protocol",
                "TRUE",
                "preserve_client_ip.enabled=true,preserve_client_ip.enabled=false",
                "preserve_client_ip.enabled=false",
                "proxy_protocol_v2.enabled =true",
                '{"proxy-protocol": "none"}',
                '{"Proxy-Protocol": "V2"}',
                "{not json",
            ]
        ),
        max_size=3,
    ),
)
def test_a_config_the_program_accepts_never_fails_a_mandatory_policy(
    pair: tuple[str, str], annotations: dict[str, str]
) -> None:
    platform, mode = pair
    required = PLATFORMS[platform].required_one_of
    gateway = {"serviceAnnotations": {**annotations, **({required[0]: "fsn1"} if required else {})}}
    extra: dict[str, Any] = {"metallb": {"nodes": ["w1"]}} if PLATFORMS[platform].pins_nodes else {}
    try:
        config = parse_config(raw(platform, sourceIp=mode, gateway=gateway, **extra))
    except ConfigError as error:
        assert all(p.key.startswith("istio-source-ip:gateway.serviceAnnotations.") for p in error.problems)
        return
    [args] = stack_inputs(config).gateways
    release = {"chart": "gateway", "name": args.name, "values": chart_values(args)}
    assert v.proxy_protocol_on_both_sides(HELM_RELEASE, release) == []
    assert v.trusted_proxies_behind_l4(HELM_RELEASE, release) == []


# --- Every policy is total (issue: class I) ----------------------------------------------------------

json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "gateway",
            "proxyProtocol",
            '{"gatewayTopology": 1}',
            '{"gatewayTopology": {"proxyProtocol": {}}}',
            '{"gatewayTopology": {"numTrustedProxies": 1e400}}',
            "{not json",
            "true",
            "*",
            "l7",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "chart",
                    "name",
                    "values",
                    "service",
                    "annotations",
                    "podAnnotations",
                    "labels",
                    "type",
                    "externalTrafficPolicy",
                    "nodeSelector",
                    "metadata",
                    "spec",
                    "ipAddressPools",
                    "nodeSelectors",
                    "matchLabels",
                    "matchExpressions",
                    "ipAddressPoolSelectors",
                    "proxy.istio.io/config",
                    *sorted(ALL_PROXY_SWITCHES)[:4],
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        [
            HELM_RELEASE,
            "kubernetes:helm.sh/v4:Chart",
            "kubernetes:metallb.io/v1beta1:L2Advertisement",
            v.GATEWAY_API_GATEWAY,
            v.CONFIGMAP,
        ]
    ),
    json_like,
    json_like,
)
def test_every_policy_gives_a_verdict_for_any_property_shape(
    resource_type: str, values: Any, other: Any
) -> None:
    props = {"chart": "gateway", "name": "gw", "values": values, "metadata": other, "spec": values}
    for check in RESOURCE_CHECKS:
        assert isinstance(check(resource_type, props), list)
        assert isinstance(check(resource_type, {"chart": other, "values": values}), list)
    for stack_check in STACK_CHECKS:
        assert isinstance(stack_check([(resource_type, props), (HELM_RELEASE, props)]), list)
    # A Gateway API Gateway and its parameters ConfigMap, each of any shape, still get a verdict.
    gateway = {
        "metadata": {"name": "gw", "namespace": "ns"},
        "spec": {
            "gatewayClassName": "istio",
            "infrastructure": {"parametersRef": {"kind": "ConfigMap", "name": "params"}},
        },
    }
    configmap = {"metadata": {"name": "params", "namespace": "ns"}, "data": values}
    for resources in (
        [(v.GATEWAY_API_GATEWAY, gateway), (v.CONFIGMAP, configmap)],
        [(resource_type, props)],
        [(v.GATEWAY_API_GATEWAY, props), (v.CONFIGMAP, {"metadata": other, "data": other})],
    ):
        assert isinstance(v.gateway_api_parameters_pair_proxy_protocol(resources), list)
        assert isinstance(v.l2_advertisements_cover_gateway(resources), list)


def test_a_huge_or_malformed_hop_count_counts_as_trusting_a_hop() -> None:
    for raw_annotation in (
        '{"gatewayTopology": {"numTrustedProxies": 1e400}}',
        '{"gatewayTopology": {"numTrustedProxies": "many"}}',
        "gatewayTopology:\n  numTrustedProxies: 2\n",
    ):
        props = {
            "chart": "gateway",
            "name": "gw",
            "values": {"podAnnotations": {"proxy.istio.io/config": raw_annotation}},
        }
        assert v.trusted_proxies_behind_l4(HELM_RELEASE, props), raw_annotation


# --- Unknown values in preview never skip a mandatory check ------------------------------------------


def test_an_unknown_value_in_preview_is_a_violation_not_a_skip() -> None:
    from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, unknown_checking_proxy

    pack = importlib.import_module("policy.__main__")
    policies = {p.name: p for p in pack.POLICIES}
    props = unknown_checking_proxy({"chart": "gateway", "name": "gw", "values": UNKNOWN_OBJECT_VALUE})
    for name in ("proxy-protocol-on-both-sides", "trusted-proxies-behind-l4"):
        reported: list[str] = []
        policies[name].validate(
            SimpleNamespace(resource_type=HELM_RELEASE, props=props),
            lambda message, urn, sink=reported: sink.append(message),
        )
        assert reported and reported[0].startswith("cannot be checked in preview: "), name


# --- A release whose values are not an object is reported, never passed or thrown on -------------------


@pytest.mark.parametrize("values", [[1, 2], "service: {}", 5, True, [UNKNOWN_OBJECT_VALUE]])
def test_values_that_are_not_an_object_are_a_violation_of_every_gateway_check(values: Any) -> None:
    """A gateway whose values cannot be read is reported like a value unknown in preview: a mandatory
    check that saw nothing must not pass."""
    props = {"chart": "gateway", "name": "gw", "values": values}
    for check in GATEWAY_CHECKS:
        [message] = check(HELM_RELEASE, props)
        assert message.startswith(f"gateway gw: its values are not an object (got {type(values).__name__})")


def test_values_not_an_object_reach_the_pack_as_a_violation_even_behind_the_unknown_proxy() -> None:
    from pulumi_policy.proxy import unknown_checking_proxy

    pack = importlib.import_module("policy.__main__")
    policies = {p.name: p for p in pack.POLICIES}
    props = unknown_checking_proxy({"chart": "gateway", "name": "gw", "values": [UNKNOWN_OBJECT_VALUE]})
    for name in ("proxy-protocol-on-both-sides", "trusted-proxies-behind-l4"):
        reported: list[str] = []
        policies[name].validate(
            SimpleNamespace(resource_type=HELM_RELEASE, props=props),
            lambda message, urn, sink=reported: sink.append(message),
        )
        assert reported == [
            "gateway gw: its values are not an object (got _ListProxy), so they cannot be checked; "
            "give the release its values as a plain object"
        ], name


DEEP_JSON = '{"gatewayTopology": ' * 100_000 + "{}" + "}" * 100_000
"""Deeper than Python's JSON parser recurses: json.loads raises RecursionError on it."""


def test_a_proxy_config_annotation_nested_too_deeply_is_a_violation_of_every_gateway_check() -> None:
    values = {"podAnnotations": {"proxy.istio.io/config": DEEP_JSON}}
    props = {"chart": "gateway", "name": "gw", "values": values}
    for check in GATEWAY_CHECKS:
        [message] = check(HELM_RELEASE, props)
        assert message.startswith(
            "gateway gw: its pods' proxy.istio.io/config annotation is JSON nested too deeply to read"
        ), check


def test_a_gateway_api_parameters_configmap_nested_too_deeply_is_a_violation_not_a_crash() -> None:
    deployment = json.dumps({"spec": {"template": {"metadata": {"annotations": {}}}}})
    deep_annotation = deployment.replace('"annotations": {}', '"annotations": {"proxy.istio.io/config": "X"}')
    for data in (
        {"deployment": deep_annotation.replace('"X"', json.dumps(DEEP_JSON))},
        {"deployment": "a: " + "[" * 20_000 + "]" * 20_000},
    ):
        resources: list[tuple[str, dict[str, Any]]] = [
            (
                "kubernetes:gateway.networking.k8s.io/v1:Gateway",
                {
                    "metadata": {"name": "gw", "namespace": "ns"},
                    "spec": {
                        "gatewayClassName": "istio",
                        "infrastructure": {"parametersRef": {"kind": "ConfigMap", "name": "gw-params"}},
                    },
                },
            ),
            (
                "kubernetes:core/v1:ConfigMap",
                {"metadata": {"name": "gw-params", "namespace": "ns"}, "data": data},
            ),
        ]
        found = v.gateway_api_parameters_pair_proxy_protocol(resources)
        assert found and all("nested too deeply to read" in message for message in found), found


def test_absent_values_are_the_chart_defaults_not_a_violation() -> None:
    assert v.proxy_protocol_on_both_sides(HELM_RELEASE, {"chart": "gateway", "name": "gw"}) == []


@pytest.mark.parametrize(
    ("annotations", "sent"),
    [
        ({"oci-network-load-balancer.oraclecloud.com/is-ppv2-enabled": "TRUE"}, True),
        ({"service.beta.kubernetes.io/scw-loadbalancer-send-proxy-v2": "1"}, True),
        ({f"{PER_PORT_KEYS[0].removesuffix('.80')}.443": "proxy_protocol_v2.enabled=true"}, True),
        ({"service.beta.kubernetes.io/linode-loadbalancer-port-80": '{"PROXY-PROTOCOL": "v1"}'}, True),
        ({"service.beta.kubernetes.io/linode-loadbalancer-port-080": '{"proxy-protocol": "v1"}'}, False),
        ({"service.kubernetes.io/ibm-load-balancer-cloud-provider-enable-features": "Proxy-Protocol"}, True),
        ({"service.beta.kubernetes.io/vultr-loadbalancer-proxy-protocol": "1"}, True),
    ],
)
def test_pack_reads_the_switches_as_their_controllers_do(annotations: dict[str, str], sent: bool) -> None:
    """Each switch as its controller reads it (sources in source_ip/facts/platforms.py): a passthrough
    gateway under one that turns PROXY on is a violation."""
    props = {"chart": "gateway", "name": "gw", "values": {"service": {"annotations": annotations}}}
    assert bool(v.proxy_protocol_on_both_sides(HELM_RELEASE, props)) == sent
