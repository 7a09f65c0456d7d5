"""Policy validators on resources taken from the render of the shipped stacks, good and broken."""

from __future__ import annotations

import copy
import functools
import importlib
import json
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel

from policy import validators as v
from tests.conftest import STACKS, stack_raw_config
from tools.program import HELM_RELEASE, run_program

RESOURCE_CHECKS = [v.proxy_protocol_on_both_sides, v.etp_cluster_without_proxy_protocol, v.trusted_proxies_behind_l4]


@functools.cache
def stack_resources(stack: str) -> tuple[tuple[str, str], ...]:
    run = run_program(stack_raw_config(stack), stack=stack)
    return tuple((r.type, json.dumps(r.inputs)) for r in run.resources if r.custom and not r.read_id)


def resources(stack: str) -> list[tuple[str, dict[str, Any]]]:
    return [(t, json.loads(p)) for t, p in stack_resources(stack)]


def gateway_props(stack: str) -> dict[str, Any]:
    [props] = [p for t, p in resources(stack) if t == HELM_RELEASE and p["chart"] == "gateway"]
    return props


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_pass_every_policy(stack: str) -> None:
    found = [m for t, p in resources(stack) for check in RESOURCE_CHECKS for m in check(t, p)]
    found += v.l2_advertisements_cover_gateway(resources(stack))
    assert found == []


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
    run = run_program({**stack_raw_config("vngcloud"),
                       "istio-source-ip:gateway": json.dumps({"proxyProtocolMigration": True})})
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
        {"gatewayTopology": {"proxyProtocol": {}, "numTrustedProxies": 2}})
    [message] = v.trusted_proxies_behind_l4(HELM_RELEASE, props)
    assert "numTrustedProxies=2 behind an L4 load balancer lets a client forge its address" in message
    props["values"]["podAnnotations"]["istio-source-ip.io/trusted-hops"] = "l7"
    assert v.trusted_proxies_behind_l4(HELM_RELEASE, props) == []


def test_program_declares_l7_hops_when_configured() -> None:
    run = run_program({**stack_raw_config("aws"),
                       "istio-source-ip:gateway": json.dumps({"numTrustedProxies": 1, "trustedHops": "l7"})})
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
    [message] = v.l2_advertisements_cover_gateway(with_l2("metallb", nodeSelectors=[{"matchLabels": {"rack": "b"}}]))
    assert message.startswith("L2Advertisement default-l2advertisement: its nodeSelectors")


def test_l2_advertisement_for_another_pool_is_not_the_gateways() -> None:
    assert v.l2_advertisements_cover_gateway(
        with_l2("metallb", ipAddressPools=["other"], nodeSelectors=[{"matchLabels": {"rack": "b"}}])) == []


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
        "l2-advertisements-cover-gateway": EnforcementLevel.MANDATORY,
    }


def test_pack_wrappers_report_what_the_validators_find() -> None:
    pack = importlib.import_module("policy.__main__")
    policies = {p.name: p for p in pack.POLICIES}
    props = gateway_props("vngcloud")
    del props["values"]["podAnnotations"]
    reported: list[str] = []
    policies["proxy-protocol-on-both-sides"].validate(
        SimpleNamespace(resource_type=HELM_RELEASE, props=props), lambda message, urn: reported.append(message))
    assert reported == v.proxy_protocol_on_both_sides(HELM_RELEASE, props) and reported
    stack = SimpleNamespace(resources=[SimpleNamespace(resource_type=t, props=p)
                                       for t, p in with_l2("metallb", nodeSelectors=[{"matchLabels": {"x": "y"}}])])
    reported.clear()
    policies["l2-advertisements-cover-gateway"].validate(stack, lambda message, urn: reported.append(message))
    assert len(reported) == 1
