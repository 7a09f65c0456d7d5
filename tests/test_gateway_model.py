"""One gateway model, two renderers: the chart values and the Gateway API parameters carry the same decisions.

Each renderer's output is read back here in its own shape (the chart's values; the patches istiod applies
to the Deployment, Service, HPA and PDB it generates) and reduced to the decisions a cluster would see.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.gateway_api_gateway import gateway_parameters
from components.ingress_gateway import chart_values
from source_ip.config.models import (
    FrontProxyConfig,
    GatewayConfig,
    GatewayFields,
    GatewayItem,
    MetalLBPlacementFields,
    RateLimitConfig,
    RouteConfig,
)
from source_ip.config.settings import (
    CertificateIssuerSettings,
    HttpsSettings,
    IpTagSettings,
    ObservabilitySettings,
)
from source_ip.facts import (
    GATEWAY_NAME_POD_LABEL,
    PLATFORMS,
    STATUS_PORT_PROXY_PROTOCOL_ENV,
    gateway_selector_labels,
)
from source_ip.gateway import (
    CertificateIssuer,
    Deployer,
    FrontProxyArgs,
    GatewayHttps,
    GatewaySettings,
    IngressGatewayArgs,
    MetalLBPlacement,
    RouteArgs,
    decide,
)
from source_ip.observability import IpTag, ObservabilityArgs
from source_ip.rate_limit import RateLimitArgs
from tests.conftest import cached_run, raw
from tests.gateway_cases import gateways_or_rejection, option_mixes, several_gateways
from tools import pyast

ROOT = Path(__file__).resolve().parent.parent


def from_chart(values: dict[str, Any]) -> dict[str, Any]:
    """What the istio/gateway chart makes of its values, as decisions."""
    service = values["service"]
    autoscaling = values["autoscaling"]
    bounds = (
        (autoscaling["minReplicas"], autoscaling["maxReplicas"])
        if autoscaling["enabled"]
        else (values["replicaCount"], values["replicaCount"])
    )
    return {
        "service annotations": service.get("annotations", {}),
        "externalTrafficPolicy": service.get("externalTrafficPolicy", "Cluster"),
        "pod annotations": values.get("podAnnotations", {}),
        "status-port env": values.get("env", {}).get(STATUS_PORT_PROXY_PROTOCOL_ENV),
        "pod labels added": values.get("labels", {}),
        "nodeSelector": values.get("nodeSelector"),
        "spread": values.get("topologySpreadConstraints"),
        "strategy": values["strategy"],
        "replica bounds": bounds,
        "ip families": (service.get("ipFamilyPolicy"), service.get("ipFamilies")),
    }


def from_parameters(parameters: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What istiod makes of the ConfigMap's patches, as decisions."""
    service = parameters.get("service", {})
    deployment = parameters["deployment"]["spec"]
    template = deployment.get("template", {})
    pod_spec = template.get("spec", {})
    env = {
        item["name"]: item["value"]
        for container in pod_spec.get("containers", [])
        if container["name"] == "istio-proxy"
        for item in container.get("env", [])
    }
    hpa = parameters["horizontalPodAutoscaler"]["spec"]
    return {
        "service annotations": service.get("metadata", {}).get("annotations", {}),
        "externalTrafficPolicy": service.get("spec", {}).get("externalTrafficPolicy", "Cluster"),
        "pod annotations": template.get("metadata", {}).get("annotations", {}),
        "status-port env": env.get(STATUS_PORT_PROXY_PROTOCOL_ENV),
        "pod labels added": template.get("metadata", {}).get("labels", {}),
        "nodeSelector": pod_spec.get("nodeSelector"),
        "spread": pod_spec.get("topologySpreadConstraints"),
        "strategy": deployment["strategy"],
        "replica bounds": (hpa["minReplicas"], hpa["maxReplicas"]),
        "ip families": (
            service.get("spec", {}).get("ipFamilyPolicy"),
            service.get("spec", {}).get("ipFamilies"),
        ),
    }


def with_selector(spread: list[dict[str, Any]] | None, labels: dict[str, str]) -> list[dict[str, Any]] | None:
    """The spread constraints with their pod selector replaced: each deployer labels its pods its own way."""
    if spread is None:
        return None
    [constraint] = spread
    assert constraint["labelSelector"] == {"matchLabels": labels}
    return [{**constraint, "labelSelector": "the gateway's pods"}]


def assert_same_decisions(gateway: GatewaySettings) -> None:
    chart = from_chart(chart_values(gateway))
    istiod = from_parameters(gateway_parameters(gateway))
    chart["spread"] = with_selector(chart["spread"], gateway_selector_labels(gateway.name))
    istiod["spread"] = with_selector(istiod["spread"], {GATEWAY_NAME_POD_LABEL: gateway.name})
    assert chart == istiod

    # The PDB: the chart renders it from two replicas (it deletes what it no longer renders), istiod's
    # key is always there (istiod never deletes it); with two or more replicas both keep one pod and let
    # one go during a drain.
    values, parameters = chart_values(gateway), gateway_parameters(gateway)
    assert parameters["podDisruptionBudget"] == {"spec": {"maxUnavailable": 1}}
    if gateway.replicas >= 2:
        assert values["podDisruptionBudget"] == {"minAvailable": 1}
    else:
        assert "podDisruptionBudget" not in values

    # The ip_tagging EnvoyFilter: the same spec, selecting each deployer's pods.
    tagging = [decide(gateway, deployer).ip_tagging_filter for deployer in (Deployer.CHART, Deployer.ISTIOD)]
    assert (tagging[0] is None) == (tagging[1] is None) == (gateway.observability is None)
    if tagging[0] is not None and tagging[1] is not None:
        assert {**tagging[0], "workloadSelector": None} == {**tagging[1], "workloadSelector": None}

    # The accept-both EnvoyFilter: the same spec, selecting each deployer's pods.
    by_chart, by_istiod = decide(gateway, Deployer.CHART), decide(gateway, Deployer.ISTIOD)
    assert (by_chart.accept_both_filter is None) == (by_istiod.accept_both_filter is None)
    if by_chart.accept_both_filter and by_istiod.accept_both_filter:
        chart_filter, istiod_filter = dict(by_chart.accept_both_filter), dict(by_istiod.accept_both_filter)
        assert chart_filter.pop("workloadSelector") == {
            "labels": {**by_chart.pod_labels, **chart["pod labels added"]}
        }
        assert istiod_filter.pop("workloadSelector") == {
            "labels": {**by_istiod.pod_labels, **istiod["pod labels added"]}
        }
        assert chart_filter == istiod_filter


@st.composite
def likely_accepted(draw: st.DrawFn) -> dict[str, Any]:
    """Options built to pass the rules more often than not (every platform, both modes, migration, HPA)."""
    platform = draw(st.sampled_from(sorted(PLATFORMS)))
    replicas = draw(st.integers(1, 4))
    trusted = draw(st.integers(0, 2))
    gateway: dict[str, Any] = {"replicas": replicas, "numTrustedProxies": trusted}
    if trusted:
        gateway["trustedHops"] = "l7"
    if draw(st.booleans()):
        gateway["maxReplicas"] = replicas + draw(st.integers(0, 4))
    if draw(st.booleans()):
        gateway["proxyProtocolMigration"] = True
    if draw(st.booleans()):
        gateway["serviceAnnotations"] = {"example.com/team": "edge"}
    if draw(st.booleans()):
        per_minute, burst = draw(st.integers(1, 5000)), draw(st.integers(1, 50))
        gateway["rateLimit"] = {"requestsPerMinute": per_minute, "burst": burst}
    if draw(st.booleans()):
        gateway["ipFamilies"] = draw(st.sampled_from([["IPv4"], ["IPv6"], ["IPv4", "IPv6"]]))
    mode = draw(st.sampled_from(["auto", *(str(m) for m in PLATFORMS[platform].modes)]))
    if mode == "local" and not trusted and draw(st.booleans()):
        gateway["frontProxy"] = draw(
            st.sampled_from([{"profile": "cloudflare"}, {"profile": "custom", "cidrs": ["198.51.100.0/24"]}])
        )
    options: dict[str, Any] = {"platform": platform, "sourceIp": mode, "gateway": gateway}
    if draw(st.booleans()):
        options["observability"] = {"alerts": True, "nodeCidrs": ["10.0.0.0/16"]}
    return options


ANY_OPTIONS = st.one_of(
    likely_accepted(),
    option_mixes,
    st.builds(lambda mix, gws: {**mix, "gateways": gws}, option_mixes, several_gateways),
)


@given(ANY_OPTIONS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_both_renderers_carry_the_same_decisions_for_any_accepted_gateway(options: dict[str, Any]) -> None:
    options.pop("gateway", None) if "gateways" in options else None
    outcome = gateways_or_rejection(options)
    if isinstance(outcome, list):
        for gateway in outcome:
            assert_same_decisions(gateway)


def test_a_migrating_gateway_gets_one_envoy_filter_in_each_routing_mode_selecting_its_own_pods() -> None:
    specs = {}
    for routing in ("istio", "gateway-api"):
        config = raw("aws-nlb", routing=routing, gateway={"proxyProtocolMigration": True})
        [envoy_filter] = cached_run(config).k8s_objects("EnvoyFilter")
        specs[routing] = envoy_filter["spec"]
    istio, gateway_api = (dict(specs[r]) for r in ("istio", "gateway-api"))
    assert istio.pop("workloadSelector")["labels"]["app"] == "istio-ingressgateway"
    assert gateway_api.pop("workloadSelector")["labels"][GATEWAY_NAME_POD_LABEL] == "istio-ingressgateway"
    assert istio == gateway_api
    assert istio["configPatches"][0]["patch"]["value"]["typed_config"][
        "allow_requests_without_proxy_protocol"
    ]


NESTED_ARGS: list[tuple[Any, Any]] = [
    (IngressGatewayArgs, GatewaySettings),
    (FrontProxyArgs, FrontProxyConfig),
    (RateLimitArgs, RateLimitConfig),
    (GatewayHttps, HttpsSettings),
    (CertificateIssuer, CertificateIssuerSettings),
    (MetalLBPlacement, MetalLBPlacementFields),
    (RouteArgs, RouteConfig),
    (ObservabilityArgs, ObservabilitySettings),
    (IpTag, IpTagSettings),
]


@pytest.mark.parametrize(("typed_dict", "model"), NESTED_ARGS, ids=lambda x: x.__name__)
def test_each_component_args_type_names_exactly_the_fields_of_its_settings_model(
    typed_dict: Any, model: Any
) -> None:
    assert set(typed_dict.__annotations__) == set(model.model_fields)
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert set(typed_dict.__required_keys__) == required


def test_a_gateway_key_of_a_stack_file_is_a_settings_field_or_decides_one() -> None:
    shared = set(GatewayFields.model_fields)
    assert shared <= set(GatewaySettings.model_fields)
    assert set(GatewayConfig.model_fields) - shared == {"proxy_protocol_migration", "tls"}
    assert set(GatewayItem.model_fields) - set(GatewayConfig.model_fields) == {"source_ip"}  # decides `mode`


def test_settings_round_trip_through_the_component_args() -> None:
    outcome = gateways_or_rejection({"platform": "metallb", "sourceIp": "auto", "gateway": {"replicas": 3}})
    assert isinstance(outcome, list)
    [gateway] = outcome
    assert GatewaySettings.of(gateway.args()) == gateway
    assert gateway.args()["replicas"] == 3


def imported_modules(path: Path) -> set[str]:
    tree = pyast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_domain_layer_imports_neither_components_nor_tools() -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] in layers)
        for layers in [{"components", "tools", "composition", "policy"}]
        for path in sorted((ROOT / "source_ip").rglob("*.py"))
    }
    assert {path: modules for path, modules in offending.items() if modules} == {}
    assert len(offending) >= 5


def test_the_layering_check_sees_an_import_it_must_refuse(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import json\nfrom components.base import Component\nimport tools.render as r\n")
    assert imported_modules(module) == {"json", "components.base", "tools.render"}
