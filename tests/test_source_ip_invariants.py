"""The source-IP invariants, over every platform in the registry and generated option mixes.

- PROXY header sent by the LB  <=>  the gateway parses it (never one side alone);
- passthrough  =>  externalTrafficPolicy Local;
- the gateway values carry exactly the platform entry's annotations for the mode;
- the allowlist uses ipBlocks only when the packet source is the client;
- settings that let a client forge X-Forwarded-For are rejected.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.ingress_gateway import chart_values
from source_ip.config import ConfigError
from source_ip.facts import PLATFORMS, SourceIpMode, proxy_switch_for
from tests.gateway_cases import (
    PAIRS,
    SOURCE_IP,
    assert_invariants,
    expected_annotations,
    gateways_or_rejection,
    option_mixes,
    platform_config,
    program_gateway_values,
    several_gateways,
    topology,
)


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
