"""The config fuzzer's strategies and checks, shared by the config and stack-file fuzz tests (a helpers
module, not a test module)."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

from hypothesis import strategies as st

from composition import stack_inputs
from source_ip.config import (
    NAMESPACE,
    ConfigError,
    StackConfig,
    near_miss_namespace_warnings,
    parse_config,
)
from source_ip.facts import FIXED_ADDRESS_ANNOTATIONS, SourceIpMode
from source_ip.plan import ProxyProtocolListener
from tests.conftest import NEAR_MISSES, STACKS, stack_raw_config

FUZZ_COUNTS: Counter[str] = Counter()

KNOWN = [
    "platform",
    "routing",
    "sourceIp",
    "istio",
    "gateway",
    "gateways",
    "echo",
    "metallb",
    "allowlist",
    "accessLogs",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def typo(word: str, position: int) -> str:
    """Drop one character (a common typo); short words get one added instead."""
    if len(word) <= 3:
        return word + "x"
    i = position % len(word)
    return word[:i] + word[i + 1 :]


@st.composite
def near_miss(draw: st.DrawFn) -> dict[str, str]:
    """A shipped stack's config with a few mutations: typos, wrong types, odd values, dropped keys."""
    config: dict[str, Any] = {
        k.split(":", 1)[1]: json.loads(v) if v[:1] in "{[" else v
        for k, v in stack_raw_config(draw(st.sampled_from(STACKS))).items()
        if k.startswith(f"{NAMESPACE}:")
    }
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(config) or KNOWN))
        action = draw(st.sampled_from(["typo", "value", "nested", "drop", "nested-typo"]))
        if action == "typo" and key in config:
            config[typo(key, draw(st.integers(0, 20)))] = config.pop(key)
        elif action == "value":
            config[key] = draw(json_values)
        elif action == "drop":
            config.pop(key, None)
        elif isinstance(config.get(key), dict) and config[key]:
            inner = draw(st.sampled_from(sorted(config[key])))
            if action == "nested":
                config[key][inner] = draw(json_values)
            else:
                config[key][typo(inner, draw(st.integers(0, 20)))] = config[key].pop(inner)
    return {f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


# --- Risky configs: the classes a config could break a live gateway with -------------
TRICKY_ENTRIES = [
    "203.0.113.7/0",
    "203.0.113.7/24",
    "fe80::1%eth0",
    "fe80::1%eth0/64",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "::ffff:203.0.113.7",
    "10.0.0.0/08",
    "0.0.0.0/0",
    "::/0",
    "192.0.2.0/24",
]
allowlist_entries = (
    st.sampled_from(TRICKY_ENTRIES)
    | st.tuples(st.ip_addresses(), st.integers(0, 128), st.booleans()).map(
        lambda t: f"{t[0]}/{min(t[1], t[0].max_prefixlen)}" if t[2] else str(t[0])
    )
    | st.tuples(st.ip_addresses(v=6), st.sampled_from(["eth0", "1", "%"])).map(lambda t: f"{t[0]}%{t[1]}")
)
RISKY_NAMES = ["echo", "1edge", "istio-reader-service-account", "istiod", "istio", "metallb-pinning", "edge"]
big_numbers = st.sampled_from([2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, -1, 0])
SHARED_VALUES = [
    "192.0.2.10",
    "192.0.2.11",
    "2001:db8::a",
    "2001:DB8:0::A",
    "eipalloc-0a",
    "eipalloc-0a,eipalloc-0b",
]


@st.composite
def risky(draw: st.DrawFn) -> dict[str, str]:
    """A shipped stack with one to three of the issue's risky changes: tricky allowlists, the accept-both
    step, names, numbers over int32/uint32, shared addresses, MetalLB's namespace, deep or huge values,
    a near-miss namespace, upsert."""
    raw = stack_raw_config(draw(st.sampled_from(STACKS)))
    ours = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith(f"{NAMESPACE}:")}
    config: dict[str, Any] = {k: _loaded(v) for k, v in ours.items()}
    extra: dict[str, str] = {}
    gateway: dict[str, Any] = config["gateway"] if isinstance(config.get("gateway"), dict) else {}
    for _ in range(draw(st.integers(1, 3))):
        change = draw(
            st.sampled_from(
                [
                    "allowlist",
                    "migration",
                    "name",
                    "numbers",
                    "addresses",
                    "namespace",
                    "deep",
                    "digits",
                    "near",
                    "upsert",
                ],
            )
        )
        if change == "allowlist":
            config["allowlist"] = draw(st.lists(allowlist_entries, min_size=1, max_size=3))
        elif change == "migration":
            gateway["proxyProtocolMigration"] = True
            config["sourceIp"] = draw(st.sampled_from(["local", "auto", "proxy-protocol"]))
            config.setdefault("allowlist", ["192.0.2.0/24"])
        elif change == "name":
            gateway["name"] = draw(st.sampled_from(RISKY_NAMES))
        elif change == "numbers":
            number = draw(st.sampled_from(["replicas", "maxReplicas", "numTrustedProxies"]))
            gateway[number] = draw(big_numbers)
            gateway["trustedHops"] = draw(st.sampled_from(["l4", "l7"]))
        elif change == "addresses":
            annotations = [draw(st.sampled_from(FIXED_ADDRESS_ANNOTATIONS)).key for _ in range(2)]
            config.pop("gateway", None)
            config["gateways"] = [
                {"name": f"g{i}", "serviceAnnotations": {key: draw(st.sampled_from(SHARED_VALUES))}}
                for i, key in enumerate(annotations)
            ]
        elif change == "namespace":
            where = draw(st.sampled_from(["echo", "gateway", "metallb"]))
            if not isinstance(config.get(where, {}), dict):
                continue
            section: dict[str, Any] = config.setdefault(where, {})
            section["namespace"] = draw(st.sampled_from(["metallb-system", "kube-system", "default", "edge"]))
        elif change == "deep":
            depth = draw(st.integers(10, 3000))
            config[draw(st.sampled_from(KNOWN))] = "[" * depth + "]" * depth
        elif change == "digits":
            config[draw(st.sampled_from(KNOWN))] = '{"replicas": ' + "9" * draw(st.integers(4290, 4310)) + "}"
        elif change == "near":
            namespace = draw(st.sampled_from(NEAR_MISSES))
            extra[f"{namespace}:{draw(st.sampled_from(KNOWN))}"] = "true"
        else:
            extra["kubernetes:upsertExistingObjects"] = draw(st.sampled_from(["true", "false", "1"]))
    if gateway and "gateways" not in config:
        config["gateway"] = gateway
    encoded = {f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    return {**encoded, **extra}


def _loaded(value: str) -> Any:
    try:
        return json.loads(value) if value[:1] in "{[" else value
    except ValueError:
        return value


RESERVED_NAMES = {"istio", "echo", "echo-routing", "echo-route", "metallb-pinning", "gateway-namespaces"}
"""The names __main__.py gives its own components, spelt out here rather than taken from the checks."""


def accepted_invariants(config: StackConfig) -> None:
    """What no accepted config may hold, stated from the issue (not from the checks' code; the address
    annotations are the facts table, which the generator also draws from)."""
    for allowed in config.allowlist:
        assert "%" not in allowed, allowed
        ipaddress.ip_network(allowed, strict=True)  # no host bits set
    claims: dict[tuple[str, str], str] = {}
    for entry in config.gateway_entries():
        gateway = entry.gateway
        assert gateway.name[0].isalpha() and gateway.name not in RESERVED_NAMES, gateway.name
        assert gateway.replicas <= 2**31 - 1 and (gateway.max_replicas or 0) <= 2**31 - 1  # Kubernetes int32
        assert gateway.num_trusted_proxies <= 2**32 - 1  # istiod's uint32
        for known in FIXED_ADDRESS_ANNOTATIONS:
            value = gateway.service_annotations.get(known.key, "")
            for item in filter(None, (i.strip() for i in value.split(","))):
                if known.claims == "ip":  # an address, whatever its spelling; an id as written
                    try:
                        item = str(ipaddress.ip_address(item))
                    except ValueError:
                        pass
                assert claims.setdefault((known.claims, item), entry.key) == entry.key, (item, claims)
    # An allowlist of 0.0.0.0/0 and ::/0 admits everyone: a spoofed PROXY header gains nothing.
    everyone = {"0.0.0.0/0", "::/0"} <= {str(ipaddress.ip_network(a, strict=False)) for a in config.allowlist}
    for checked in stack_inputs(config).gateways:
        accept_both = checked.listener == ProxyProtocolListener.ACCEPT_BOTH
        passthrough_accept_both = accept_both and checked.mode == SourceIpMode.LOCAL
        assert not (config.allowlist and not everyone and passthrough_accept_both), config


arbitrary = st.dictionaries(
    st.sampled_from(KNOWN) | st.text(min_size=1, max_size=10),
    json_values.map(lambda v: v if isinstance(v, str) else json.dumps(v)),
    max_size=6,
).map(lambda d: {f"{NAMESPACE}:{k}": v for k, v in d.items()})


def check_parse(raw: dict[str, str]) -> None:
    assert all(isinstance(w, str) and len(w) < 1000 for w in near_miss_namespace_warnings(raw))
    try:
        accepted_invariants(parse_config(raw))
        FUZZ_COUNTS["accepted"] += 1
    except Exception as error:
        if not isinstance(error, ConfigError):
            FUZZ_COUNTS["crashes"] += 1
            raise
        FUZZ_COUNTS["rejected"] += 1
        assert error.problems
        for problem in error.problems:
            assert problem.key.startswith((f"{NAMESPACE}:", "kubernetes:", "environment variable ")), problem
            shown = problem.key + ": " if len(problem.key) <= 200 else problem.key[:200]  # long keys are cut
            assert str(problem).startswith(shown)
            assert len(str(problem)) < 3000, str(problem)[:300]
    FUZZ_COUNTS["parsed"] += 1
