"""The pods the *real* istio/gateway chart creates carry the labels every Istio object selects.

Renders each gateway release with `helm template` and the upstream chart (../shared/upstream/charts,
the pinned helm that ../shared/tools/chart-render installs). Skipped, with the reason, when helm or
the charts are not on this machine; `.ci/run` runs chart-render first, which installs that helm.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import yaml

from tests.conftest import STACKS, cached_run, raw, stack_raw_config
from tools import charts
from tools.render import render

HELM, CHARTS = charts.find_helm(), charts.find_charts()
pytestmark = pytest.mark.skipif(
    HELM is None or CHARTS is None,
    reason=f"needs helm ({HELM or 'not found: run ../shared/tools/chart-render once, or set HELM'}) "
    "and the upstream charts "
    f"({CHARTS or 'not found: ../shared/upstream/charts, or set ISTIO_SOURCE_IP_CHARTS'})",
)
MIGRATING = raw(
    "vngcloud",
    sourceIp="proxy-protocol",
    gateway={"proxyProtocolMigration": True},
    allowlist=["192.0.2.0/24"],
    accessLogs=True,
)
CASES = {
    **{name: stack_raw_config(name) for name in STACKS if "gateway-api" not in name},
    "migration-step-2": MIGRATING,
}
"""Stacks in Gateway API mode have no gateway chart: istiod generates their pods (their labels are
checked in tests/components/test_gateway_api_gateway.py)."""


@functools.cache
def rendered(case: str) -> tuple[list[dict[str, Any]], dict[str, tuple[str, dict[str, str]]]]:
    """The program's own objects, and per gateway release: its namespace and the chart's pod labels."""
    files = render(cached_run(CASES[case], stack=case))
    declared = [d for d in yaml.safe_load_all(files["manifests.yaml"]) if d]
    pods: dict[str, tuple[str, dict[str, str]]] = {}
    for release in yaml.safe_load(files["releases.yaml"]):
        if release["chart"] != "gateway":
            continue
        assert HELM is not None and CHARTS is not None
        [deployment] = [
            o for o in charts.objects(charts.template(HELM, CHARTS, release)) if o["kind"] == "Deployment"
        ]
        pods[release["name"]] = (
            deployment["metadata"]["namespace"],
            deployment["spec"]["template"]["metadata"]["labels"],
        )
    return declared, pods


def selector_of(obj: dict[str, Any]) -> dict[str, str]:
    spec = obj["spec"]
    if obj["kind"] == "Gateway":
        return spec["selector"]
    if obj["kind"] == "EnvoyFilter":
        return spec["workloadSelector"]["labels"]
    return spec["selector"]["matchLabels"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_selecting_istio_object_matches_the_real_gateway_pods(case: str) -> None:
    declared, pods = rendered(case)
    selecting = [
        o for o in declared if o["kind"] in ("Gateway", "AuthorizationPolicy", "Telemetry", "EnvoyFilter")
    ]
    assert any(o["kind"] == "Gateway" for o in selecting)
    for obj in selecting:
        selector = selector_of(obj)
        matched = [name for name, (_, labels) in pods.items() if selector.items() <= labels.items()]
        assert len(matched) == 1, (
            f"{obj['kind']} {obj['metadata']['name']} selects {selector}: matches {matched}"
        )
        if obj["kind"] != "Gateway":  # workload selectors only reach pods of their own namespace
            assert obj["metadata"]["namespace"] == pods[matched[0]][0], obj["metadata"]["name"]


def test_the_migration_case_really_has_an_envoy_filter_and_policies() -> None:
    declared, _ = rendered("migration-step-2")
    assert {o["kind"] for o in declared} >= {"EnvoyFilter", "AuthorizationPolicy", "Telemetry", "Gateway"}
