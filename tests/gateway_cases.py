"""Gateway configs the invariant, model and Gateway API tests share: platform configs, option strategies
and the source-IP invariants of one gateway's chart values (a helpers module, not a test module)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from components.ingress_gateway import GatewaySettings, chart_values
from composition import stack_inputs
from source_ip.config import ConfigError, parse_config
from source_ip.facts import PLATFORMS, Platform
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
