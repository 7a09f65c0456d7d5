"""The source-IP invariants, over every platform in the registry and generated option mixes.

- PROXY header sent by the LB  <=>  the gateway parses it (never one side alone);
- passthrough  =>  externalTrafficPolicy Local;
- the gateway values carry exactly the platform entry's annotations for the mode;
- the allowlist uses ipBlocks only when the packet source is the client;
- settings that let a client forge X-Forwarded-For are rejected.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.ingress_gateway import GatewaySettings, chart_values
from composition import stack_inputs
from source_ip.config import ConfigError, parse_config
from source_ip.facts import PLATFORMS, Platform, SourceIpMode, proxy_switch_for
from source_ip.plan import allowlist_field
from tests.conftest import raw
from tools.program import HELM_RELEASE, run_program

POOL = "gw-pool"
METALLB = {"nodes": ["worker-1", "worker-2"], "pool": POOL}
PAIRS = [(p.id, mode) for p in PLATFORMS.values() for mode in p.modes]


def required_annotations(platform: str) -> dict[str, str]:
    """What a stack on this platform must add itself (Hetzner: a location)."""
    required = PLATFORMS[platform].required_one_of
    return {required[0]: "fsn1"} if required else {}


def platform_config(platform: str, mode: str, **keys: Any) -> dict[str, str]:
    extra: dict[str, Any] = {"metallb": METALLB} if PLATFORMS[platform].pins_nodes else {}
    gateway = {**keys.pop("gateway", {}), "serviceAnnotations": required_annotations(platform)}
    return raw(platform, sourceIp=mode, gateway=gateway, **extra, **keys)


def expected_annotations(platform: Platform, mode: str) -> dict[str, str]:
    """The entry's annotations for the mode, plus the documented additions."""
    expected: dict[str, str] = dict(
        platform.proxy_protocol_annotations if mode == "proxy-protocol" else platform.local_annotations
    )
    expected.update(required_annotations(platform.id))
    if platform.pins_nodes:
        expected["metallb.io/address-pool"] = POOL
    if mode == "proxy-protocol" and platform.hairpin_value == "true" and platform.hairpin_annotation:
        expected[platform.hairpin_annotation] = "true"
    if mode == "proxy-protocol" and platform.ip_mode_annotation:  # ipMode: Proxy (OCI)
        expected[platform.ip_mode_annotation[0]] = platform.ip_mode_annotation[1]
    if (
        mode == "proxy-protocol" and not platform.proxy_protocol_annotations
    ):  # generic: the operator's declaration
        expected["istio-source-ip.io/lb-sends-proxy-protocol"] = "true"
    return expected


def topology(values: dict[str, Any]) -> dict[str, Any]:
    annotation = values.get("podAnnotations", {}).get("proxy.istio.io/config")
    return json.loads(annotation)["gatewayTopology"] if annotation else {}


def program_gateway_values(config: dict[str, str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run = run_program(config)
    [values] = [r.inputs["values"] for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    return values, run.k8s_objects("AuthorizationPolicy")


@pytest.mark.parametrize(("platform_id", "mode"), PAIRS, ids=[f"{p}-{m}" for p, m in PAIRS])
def test_every_registry_entry_renders_its_annotations_and_both_sides(platform_id: str, mode: str) -> None:
    platform = PLATFORMS[platform_id]
    values, [policy] = program_gateway_values(platform_config(platform_id, mode, allowlist=["192.0.2.0/24"]))
    assert values["service"].get("annotations", {}) == expected_annotations(platform, mode)
    field = set(policy["spec"]["rules"][0]["from"][0]["source"])
    if mode == "proxy-protocol":
        assert topology(values) == {"proxyProtocol": {}}
        assert values["service"].get("externalTrafficPolicy") != "Local"
        assert field == {"remoteIpBlocks"}  # ipBlocks would match the LB's own address
        assert ("env" in values) == platform.status_port_proxy_protocol
    else:
        assert "proxyProtocol" not in topology(values)
        assert values["service"]["externalTrafficPolicy"] == "Local"
        assert field == {"ipBlocks"}  # the packet source is the client
        assert "env" not in values


def test_registry_entries_are_complete() -> None:
    assert len(PLATFORMS) >= 19
    for platform in PLATFORMS.values():
        assert platform.modes and platform.source and platform.lb
        if platform.lb_mode != "passthrough" and platform.id != "generic":
            assert platform.proxy_protocol_annotations, platform.id
        assert platform.status_port_proxy_protocol <= ("proxy-protocol" in platform.modes)


def test_passthrough_turns_proxy_off_where_removing_the_annotation_would_not() -> None:
    """Where the controller leaves PROXY on when its annotation goes (Alibaba clbv1/listeners.go; Civo
    civo/loadbalancer.go), the program writes the switch's off value in passthrough, so the first migration
    step and a switch back really turn it off; a switch with no off value says so in the caveats."""
    keeping = [p for p in PLATFORMS.values() if p.unset_keeps_proxy]
    assert {p.id for p in keeping} >= {"alibaba", "civo"}
    for platform in keeping:
        for switch in platform.main_switches:
            if switch.off:
                assert switch.reads(platform.local_annotations[switch.key]) == "off", platform.id
            else:
                assert (
                    switch.key not in platform.local_annotations
                    and "no value turns PROXY off" in platform.caveats
                )


def test_every_platform_writes_a_switch_value_its_own_controller_reads_as_the_mode() -> None:
    for platform in PLATFORMS.values():
        for mode, wanted in (("proxy-protocol", "on"), ("local", "off")):
            for key, value in platform.annotations_for(SourceIpMode(mode)).items():
                switch = proxy_switch_for(key)
                if switch is not None:
                    assert switch in platform.proxy_switches and switch.reads(value) == wanted, (
                        platform.id,
                        key,
                    )


gateway_options = st.fixed_dictionaries(
    {},
    optional={
        "numTrustedProxies": st.integers(0, 3),
        "trustedHops": st.sampled_from(["l4", "l7"]),
        "proxyProtocolMigration": st.booleans(),
        "replicas": st.integers(1, 4),
        "maxReplicas": st.integers(1, 8),
        "hairpinHostname": st.just("gw.example.com"),
        "serviceAnnotations": st.dictionaries(
            st.sampled_from(["example.com/a", "example.com/b"]), st.sampled_from(["1", "x"]), max_size=2
        ),
    },
)
SOURCE_IP = st.sampled_from(["auto", "proxy-protocol", "local"])

option_mixes = st.fixed_dictionaries(
    {"platform": st.sampled_from(sorted(PLATFORMS)), "sourceIp": SOURCE_IP},
    optional={
        "gateway": gateway_options,
        "allowlist": st.lists(st.sampled_from(["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]), max_size=2),
    },
)
several_gateways = st.lists(st.tuples(gateway_options, st.none() | SOURCE_IP), min_size=1, max_size=3).map(
    lambda items: [
        {**options, "name": f"gw-{i}", **({"sourceIp": ip} if ip else {})}
        for i, (options, ip) in enumerate(items)
    ]
)


def gateways_or_rejection(options: dict[str, Any]) -> list[GatewaySettings] | ConfigError:
    keys = dict(options)
    if PLATFORMS[keys["platform"]].pins_nodes:
        keys["metallb"] = METALLB
    required = required_annotations(keys["platform"])
    if required:
        for gateway in [keys.setdefault("gateway", {})] if "gateways" not in keys else keys["gateways"]:
            gateway["serviceAnnotations"] = {**gateway.get("serviceAnnotations", {}), **required}
    try:
        return stack_inputs(parse_config(raw(**keys))).gateways
    except ConfigError as error:
        return error


def assert_invariants(args: GatewaySettings) -> None:
    """The source-IP invariants on the chart values of one gateway."""
    values = chart_values(args)
    annotations = values["service"].get("annotations", {})
    pp_annotations = args.platform_entry.proxy_protocol_annotations
    lb_sends = bool(pp_annotations) and pp_annotations.items() <= annotations.items()
    parses_strict = "proxyProtocol" in topology(values)
    accepts_both = values.get("labels", {}).get("istio-source-ip.io/proxy-protocol") == "accept-both"

    if pp_annotations:  # never one side alone
        assert lb_sends <= (parses_strict or accepts_both)
        assert parses_strict <= lb_sends
    assert not (parses_strict and accepts_both)  # two proxy_protocol filters would eat the request
    assert (args.mode == "local") == (values["service"].get("externalTrafficPolicy") == "Local")
    assert args.num_trusted_proxies == 0 or args.trusted_hops == "l7"  # forged XFF otherwise
    assert topology(values).get("numTrustedProxies", 0) == args.num_trusted_proxies
    field = allowlist_field(args.client_address_source)
    assert (field == "ipBlocks") == (
        args.mode == "local" and not accepts_both and args.num_trusted_proxies == 0
    )
    if values["autoscaling"]["enabled"]:
        assert values["autoscaling"]["minReplicas"] == args.replicas
    else:
        assert values["replicaCount"] == args.replicas
    assert ("podDisruptionBudget" in values) == (args.replicas >= 2)
    assert values["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(option_mixes)
def test_invariants_hold_for_every_accepted_mix(options: dict[str, Any]) -> None:
    outcome = gateways_or_rejection(options)
    if isinstance(outcome, ConfigError):
        assert outcome.problems and all(p.key.startswith("istio-source-ip:") for p in outcome.problems)
        return
    [gateway] = outcome
    assert_invariants(gateway)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PLATFORMS)), SOURCE_IP, several_gateways)
def test_invariants_hold_per_gateway_with_several_gateways(
    platform: str, source_ip: str, gateways: list[dict[str, Any]]
) -> None:
    outcome = gateways_or_rejection({"platform": platform, "sourceIp": source_ip, "gateways": gateways})
    if isinstance(outcome, ConfigError):
        assert outcome.problems and all(p.key.startswith("istio-source-ip:") for p in outcome.problems)
        return
    assert [g.name for g in outcome] == [g["name"] for g in gateways]
    for args, asked in zip(outcome, gateways, strict=True):
        assert_invariants(args)
        wanted = asked.get("sourceIp", source_ip)  # the gateway's own sourceIp wins over the stack's
        if wanted != "auto":
            assert args.mode == wanted


@settings(max_examples=200, deadline=None)
@given(option_mixes)
def test_rejections_are_explained_by_the_rules(options: dict[str, Any]) -> None:
    outcome = gateways_or_rejection(options)
    platform = PLATFORMS[options["platform"]]
    gateway = options.get("gateway", {})
    migrating = gateway.get("proxyProtocolMigration", False) and "proxy-protocol" in platform.modes
    wrong_mode = (
        options["sourceIp"] != "auto"
        and options["sourceIp"] not in platform.modes
        and not (options["sourceIp"] == "local" and migrating)
    )
    forgeable = gateway.get("numTrustedProxies", 0) >= 1 and gateway.get("trustedHops", "l4") == "l4"
    keys = {p.key for p in outcome.problems} if isinstance(outcome, ConfigError) else set()
    assert ("istio-source-ip:sourceIp" in keys) == wrong_mode
    assert ("istio-source-ip:gateway.numTrustedProxies" in keys) == forgeable


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(PAIRS), st.booleans())
def test_program_hands_the_gateway_release_exactly_its_chart_values(
    pair: tuple[str, str], migrating: bool
) -> None:
    platform_id, mode = pair
    config = platform_config(platform_id, mode, gateway={"proxyProtocolMigration": migrating})
    outcome = gateways_or_rejection(
        {"platform": platform_id, "sourceIp": mode, "gateway": {"proxyProtocolMigration": migrating}}
    )
    if isinstance(outcome, ConfigError):
        assert migrating and "proxy-protocol" not in PLATFORMS[platform_id].modes
        return
    values, _ = program_gateway_values(config)
    assert values == chart_values(outcome[0])
