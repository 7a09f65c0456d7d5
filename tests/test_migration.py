"""The three-step switch to PROXY protocol: at no step does the LB send a header the gateway refuses."""

from __future__ import annotations

import json

import pytest

from tests.conftest import annotation_json, cached_run, raw
from tools.program import HELM_RELEASE

PP = "vks.vngcloud.vn/enable-proxy-protocol"
STEPS = {
    "1-accept-both": raw("vngcloud", sourceIp="local", gateway={"proxyProtocolMigration": True}),
    "2-switch-lb": raw("vngcloud", sourceIp="proxy-protocol", gateway={"proxyProtocolMigration": True}),
    "3-strict": raw("vngcloud", sourceIp="proxy-protocol"),
}


def step(name: str) -> tuple[dict, list[dict]]:
    run = cached_run(STEPS[name])
    [values] = [r.inputs["values"] for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    return values, run.k8s_objects("EnvoyFilter")


def test_step_1_gateway_accepts_both_before_the_lb_sends() -> None:
    values, [envoy_filter] = step("1-accept-both")
    assert PP not in values["service"].get("annotations", {})
    assert "podAnnotations" not in values  # not strict yet
    selector = envoy_filter["spec"]["workloadSelector"]["labels"]
    assert values["labels"].items() <= selector.items()  # the filter applies to these pods


def test_step_2_lb_sends_while_the_gateway_still_accepts_both() -> None:
    values, [envoy_filter] = step("2-switch-lb")
    assert values["service"]["annotations"][PP] == "*"
    assert "podAnnotations" not in values
    assert values["labels"].items() <= envoy_filter["spec"]["workloadSelector"]["labels"].items()


def test_step_3_strict_pods_are_not_matched_by_the_permissive_filter() -> None:
    values, filters = step("3-strict")
    previous_filter = step("2-switch-lb")[1][0]
    assert annotation_json(values) == {"gatewayTopology": {"proxyProtocol": {}}}
    assert filters == []  # removed by this update
    new_pod_labels = {"app": "istio-ingressgateway", "istio": "ingressgateway", **values.get("labels", {})}
    selector = previous_filter["spec"]["workloadSelector"]["labels"]
    assert not selector.items() <= new_pod_labels.items()  # while it drains, it never hits the new pods


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_step_passes_the_both_sides_policy(name: str) -> None:
    from policy.validators import proxy_protocol_on_both_sides

    run = cached_run(STEPS[name])
    [release] = [r.inputs for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    assert proxy_protocol_on_both_sides(HELM_RELEASE, json.loads(json.dumps(release))) == []
