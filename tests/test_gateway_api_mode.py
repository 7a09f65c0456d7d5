"""routing: gateway-api through the whole program: every source-IP path, policies by targetRefs, the
rejections, and the pack reading the parameters ConfigMap."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.gateway_api_gateway import gateway_parameters
from components.istio_install import IstiodTooOld
from composition import stack_inputs
from policy import validators as v
from source_ip.config import ConfigError, parse_config
from source_ip.facts import PLATFORMS
from tests.conftest import cached_run, raw
from tests.gateway_cases import gateway_options, platform_config
from tools.program import ProgramRun, run_program

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
PAIRS = [(p.id, m) for p in PLATFORMS.values() for m in p.modes]


def config(platform: str, mode: str = "auto", **keys: Any) -> dict[str, str]:
    """A config for `platform` (MetalLB nodes, Hetzner's location) in Gateway API mode."""
    return platform_config(platform, mode, routing="gateway-api", **keys)


def resources(run: ProgramRun) -> list[tuple[str, dict[str, Any]]]:
    return [(r.type, json.loads(json.dumps(r.inputs))) for r in run.resources if r.custom and not r.read_id]


@pytest.mark.parametrize(("platform_id", "mode"), PAIRS, ids=[f"{p}-{m}" for p, m in PAIRS])
def test_every_platform_and_mode_passes_the_pack_and_uses_no_gateway_chart(
    platform_id: str, mode: str
) -> None:
    run = cached_run(config(platform_id, mode, allowlist=["192.0.2.0/24"]))
    assert not [r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "gateway"]
    found = resources(run)
    assert v.gateway_api_parameters_pair_proxy_protocol(found) == []
    assert v.l2_advertisements_cover_gateway(found) == []
    [policy] = run.k8s_objects("AuthorizationPolicy")
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "istio-ingressgateway"}
    ]
    assert "selector" not in policy["spec"]
    field = set(policy["spec"]["rules"][0]["from"][0]["source"])
    assert field == ({"ipBlocks"} if mode == "local" else {"remoteIpBlocks"})


def test_the_pack_fails_a_configmap_whose_lb_sends_proxy_protocol_the_pods_do_not_parse() -> None:
    found = resources(cached_run(config("vngcloud")))
    for _, props in found:
        if props.get("kind") == "ConfigMap":
            deployment = yaml.safe_load(props["data"]["deployment"])
            del deployment["spec"]["template"]
            props["data"]["deployment"] = yaml.safe_dump(deployment)
    [violation] = v.gateway_api_parameters_pair_proxy_protocol(found)
    assert "the LB sends the PROXY header (vks.vngcloud.vn/enable-proxy-protocol)" in violation


def test_the_crds_are_installed_at_v1_5_1_the_release_istio_1_30_is_built_against() -> None:
    run = cached_run(config("gcp"))
    [crds] = run.of_type("kubernetes:yaml/v2:ConfigFile")
    assert "/v1.5.1/standard-install.yaml" in crds.inputs["file"]
    routes = run.of_type("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    assert sorted(r.name for r in routes) == ["echo-route-https-redirect", "echo-route-route"]
    assert all(crds.urn in route.dependencies for route in routes)


def test_crds_the_cluster_already_has_are_read_so_up_stops_when_they_are_missing() -> None:
    run = cached_run(config("gcp", istio={"gatewayApiCrds": False}))
    assert run.of_type("kubernetes:yaml/v2:ConfigFile") == []
    [read] = [r for r in run.resources if r.read_id]
    assert (read.type, read.read_id) == (
        "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
        "gateways.gateway.networking.k8s.io",
    )
    [gateway] = run.of_type(GATEWAY)
    assert read.urn in gateway.dependencies


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (
            # A reused Istio (installing 1.25 is refused by istio.version itself: out of support)
            {"istio": {"version": "1.25.4", "install": False}},
            "istio-source-ip:routing: Istio 1.25.4 does not read "
            "spec.infrastructure.parametersRef, which carries the source-IP path in this mode "
            '(got "gateway-api"); allowed: istio.version 1.26.0 or newer, or routing: istio',
        ),
        ({"routing": "gateway"}, 'istio-source-ip:routing: not an allowed value (got "gateway")'),
        (
            {"istio": {"version": "1.25.4"}},
            "istio-source-ip:istio.version: Istio 1.25 is out of support since about 2025-09-19 "
            "(6 weeks after Istio 1.27.0, 2025-08-08), so the program does not install it "
            '(got "1.25.4"); allowed with istio.install true: 1.29.x or 1.30.x, e.g. 1.30.3',
        ),
    ],
)
def test_rejections(keys: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**config("gcp"), **raw(None, **keys)})
    assert any(str(p).startswith(expected) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    "step",
    [
        {"sourceIp": "local", "gateway": {"proxyProtocolMigration": True}},
        {"sourceIp": "proxy-protocol", "gateway": {"proxyProtocolMigration": True}},
        {"sourceIp": "proxy-protocol"},
    ],
)
def test_the_proxy_protocol_migration_works_in_this_mode(step: dict[str, Any]) -> None:
    run = cached_run(raw("vngcloud", routing="gateway-api", **step))
    assert v.gateway_api_parameters_pair_proxy_protocol(resources(run)) == []
    migrating = step.get("gateway", {}).get("proxyProtocolMigration", False)
    assert bool(run.k8s_objects("EnvoyFilter")) == migrating


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PAIRS), gateway_options)
def test_pairing_invariants_hold_in_the_parameters(pair: tuple[str, str], gateway: dict[str, Any]) -> None:
    platform_id, mode = pair
    try:
        [args] = stack_inputs(parse_config(config(platform_id, mode, gateway=gateway))).gateways
    except ConfigError:
        return
    params = gateway_parameters(args)
    found = v.gateway_from_parameters(args.name, {k: yaml.safe_dump(p) for k, p in params.items()})
    assert (
        v.proxy_protocol_on_both_sides(
            v.GATEWAY_CHART_TYPES[0], {"chart": "gateway", "name": "g", "values": found.values}
        )
        == []
    )
    assert (args.mode == "local") == (found.service.get("externalTrafficPolicy") == "Local")
    assert not ("horizontalPodAutoscaler" in params and "replicas" in params["deployment"]["spec"])


def test_a_reused_istiod_older_than_1_26_stops_the_program_before_any_gateway() -> None:
    """istio.version says 1.30.3; the stand-in istiod's image says 1.25.2, which ignores parametersRef."""
    image = {
        "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": "istio/pilot:1.25.2"}]}}}
    }
    record = ProgramRun()
    with pytest.raises(IstiodTooOld, match=r"runs istio/pilot:1.25.2 \(Istio 1.25.2\), which does not read"):
        run_program(
            config("gcp", istio={"install": False, "version": "1.30.3"}),
            reads={"kubernetes:apps/v1:Deployment::istio-system/istiod": image},
            record=record,
        )
    assert record.of_type(GATEWAY) == [] and record.k8s_objects("ConfigMap") == []
