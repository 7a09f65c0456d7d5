"""GatewayPolicies alone: the allowlist uses the field it is told; access logs via Telemetry, and the direct
peer via an EnvoyFilter."""

from __future__ import annotations

from typing import cast

import pytest

from components import GatewayPolicies, GatewayPoliciesArgs
from source_ip.plan import AllowlistField, GatewayRef
from tools.program import run_body

LABELS = {"app": "istio-ingressgateway", "istio": "ingressgateway"}


def policies(allowlist: list[str], field: str = "remoteIpBlocks", access_logs: bool = False):
    args = GatewayPoliciesArgs(
        gateway=GatewayRef(name="istio-ingressgateway", namespace="istio-system", labels=LABELS),
        allowlist=allowlist,
        allowlist_field=cast(AllowlistField, field),  # the tests also pass a wrong one
        access_logs=access_logs,
    )
    return run_body(lambda: GatewayPolicies("policies", args))


@pytest.mark.parametrize("field", ["ipBlocks", "remoteIpBlocks"])
def test_allowlist_is_an_allow_policy_on_the_gateway_pods(field: str) -> None:
    [policy] = policies(["203.0.113.0/24", "10.0.0.0/8"], field).k8s_objects("AuthorizationPolicy")
    assert policy["metadata"]["namespace"] == "istio-system"
    assert policy["spec"] == {
        "selector": {"matchLabels": LABELS},
        "action": "ALLOW",
        "rules": [{"from": [{"source": {field: ["10.0.0.0/8", "203.0.113.0/24"]}}]}],
    }


def test_no_allowlist_no_policy_and_telemetry_only_when_asked() -> None:
    assert policies([]).k8s_objects("AuthorizationPolicy") == []
    assert policies([]).k8s_objects("Telemetry") == []
    [telemetry] = policies([], access_logs=True).k8s_objects("Telemetry")
    assert telemetry["spec"] == {
        "selector": {"matchLabels": LABELS},
        "accessLogging": [{"providers": [{"name": "envoy"}]}],
    }


def test_access_logs_add_a_router_log_with_the_direct_peer_on_the_gateway_pods() -> None:
    assert policies([]).k8s_objects("EnvoyFilter") == []
    [peers] = policies([], access_logs=True).k8s_objects("EnvoyFilter")
    assert peers["metadata"] == {"name": "istio-ingressgateway-access-log-peers", "namespace": "istio-system"}
    assert peers["spec"]["workloadSelector"] == {"labels": LABELS}
    [patch] = peers["spec"]["configPatches"]
    [log] = patch["patch"]["value"]["typed_config"]["upstream_log"]
    assert "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%" in log["typed_config"]["log_format"]["json_format"].values()


def test_an_unknown_allowlist_field_is_refused() -> None:
    with pytest.raises(ValueError, match="allowlist_field 'sourceIps'; allowed: ipBlocks, remoteIpBlocks"):
        policies(["10.0.0.0/8"], "sourceIps")
