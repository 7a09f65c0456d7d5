"""The per-client rate limit: the EnvoyFilter and its typed config, checked field by field against Envoy's
own protos (verbatim excerpts in tests/envoy_protos/), in both routing modes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from source_ip.config import ConfigError, parse_config
from source_ip.rate_limit import RateLimitArgs, local_rate_limit_config, refill, retry_after_seconds
from tests.conftest import cached_run, raw
from tools.program import ProgramRun

PROTOS = Path(__file__).with_name("envoy_protos") / "rate_limit_excerpts.proto"


def proto_declarations(text: str) -> dict[str, set[str]]:
    """Each message's field names and each enum's value names, by their nested name (e.g.
    `RateLimit.Action.RemoteAddress`); a oneof's fields belong to its message."""
    declared: dict[str, set[str]] = {}
    stack: list[tuple[str, str]] = []  # (kind, name) of the open blocks
    for line in text.splitlines():
        code = line.split("//", 1)[0]
        opened = re.match(r"\s*(message|enum|oneof)\s+(\w+)\s*\{", code)
        if opened:
            kind, name = opened.groups()
            stack.append((kind, name))
            if kind != "oneof":
                declared[".".join(n for k, n in stack if k != "oneof")] = set()
        elif stack and stack[-1][0] == "enum" and (value := re.match(r"\s*(\w+)\s*=\s*\d+", code)):
            declared[".".join(n for k, n in stack if k != "oneof")].add(value.group(1))
        elif stack and (
            field := re.match(r"\s*(?:repeated\s+|optional\s+)?[\w.<>, ]+?\s+(\w+)\s*=\s*\d+", code)
        ):
            declared[".".join(n for k, n in stack if k != "oneof")].add(field.group(1))
        depth_change = code.count("}") - (1 if opened else 0) - (code.count("{") - (1 if opened else 0))
        for _ in range(max(depth_change, 0)):
            if stack:
                stack.pop()
    return declared


DECLARED = proto_declarations(PROTOS.read_text(encoding="utf-8"))

# The message type of each field the program sets that is itself a message (or an enum), by the message
# it belongs to: what Envoy's JSON-to-proto reading would follow.
MESSAGE_FIELDS: dict[tuple[str, str], str] = {
    ("LocalRateLimit", "status"): "HttpStatus",
    ("HttpStatus", "code"): "enum StatusCode",
    ("LocalRateLimit", "token_bucket"): "TokenBucket",
    ("LocalRateLimit", "filter_enabled"): "RuntimeFractionalPercent",
    ("LocalRateLimit", "filter_enforced"): "RuntimeFractionalPercent",
    ("RuntimeFractionalPercent", "default_value"): "FractionalPercent",
    ("FractionalPercent", "denominator"): "enum FractionalPercent.DenominatorType",
    ("LocalRateLimit", "rate_limits"): "RateLimit",
    ("RateLimit", "actions"): "RateLimit.Action",
    ("RateLimit.Action", "remote_address"): "RateLimit.Action.RemoteAddress",
    ("LocalRateLimit", "descriptors"): "LocalRateLimitDescriptor",
    ("LocalRateLimitDescriptor", "entries"): "RateLimitDescriptor.Entry",
    ("LocalRateLimitDescriptor", "token_bucket"): "TokenBucket",
    ("LocalRateLimit", "response_headers_to_add"): "HeaderValueOption",
    ("HeaderValueOption", "header"): "HeaderValue",
    ("HeaderValueOption", "append_action"): "enum HeaderValueOption.HeaderAppendAction",
}
"""Typed by hand from the protos: `repeated Entry entries` in LocalRateLimitDescriptor is
`v3.RateLimitDescriptor.Entry`, `default_value` of RuntimeFractionalPercent is `type.v3.FractionalPercent`."""


def unknown_names(message: str, value: Any) -> Iterator[str]:
    """Every key (and enum value) of `value` that `message` does not declare, as a path."""
    if isinstance(value, list):
        for item in value:
            yield from unknown_names(message, item)
        return
    assert isinstance(value, dict), (message, value)
    for key, item in value.items():
        if key == "@type":
            continue
        if key not in DECLARED[message]:
            yield f"{message}.{key}"
            continue
        inner = MESSAGE_FIELDS.get((message, key))
        if inner is None:
            assert not isinstance(item, dict), f"{message}.{key} needs its message type in MESSAGE_FIELDS"
        elif inner.startswith("enum "):
            if item not in DECLARED[inner.removeprefix("enum ")]:
                yield f"{message}.{key} = {item}"
        else:
            yield from unknown_names(inner, item)


LIMIT = RateLimitArgs(requests_per_minute=120, burst=20, tracked_clients=5000)


def test_the_proto_reader_finds_the_messages_the_filter_uses() -> None:
    assert {"stat_prefix", "rate_limits", "max_dynamic_descriptors", "response_headers_to_add"} <= DECLARED[
        "LocalRateLimit"
    ]
    assert DECLARED["RateLimit.Action.RemoteAddress"] == set()
    assert (
        "TooManyRequests" in DECLARED["StatusCode"]
        and "HUNDRED" in DECLARED["FractionalPercent.DenominatorType"]
    )
    assert DECLARED["RateLimitDescriptor.Entry"] == {"key", "value"}


def test_every_field_of_the_typed_config_is_one_envoy_declares() -> None:
    config: dict[str, Any] = local_rate_limit_config(LIMIT)
    assert (
        config["@type"]
        == "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
    )
    assert list(unknown_names("LocalRateLimit", config)) == []


def test_the_field_check_catches_a_misspelt_field_and_enum_value() -> None:
    config: dict[str, Any] = local_rate_limit_config(LIMIT)
    config["max_dynamic_descriptor"] = config.pop("max_dynamic_descriptors")
    config["status"] = {"code": "TooManyRequest"}
    config["descriptors"][0]["entries"][0]["valu"] = ""
    assert sorted(unknown_names("LocalRateLimit", config)) == [
        "HttpStatus.code = TooManyRequest",
        "LocalRateLimit.max_dynamic_descriptor",
        "RateLimitDescriptor.Entry.valu",
    ]


def test_one_bucket_per_client_address_enforced_on_every_request_answering_429_with_retry_after() -> None:
    config: dict[str, Any] = local_rate_limit_config(LIMIT)
    bucket = {"max_tokens": 20, "tokens_per_fill": 1, "fill_interval": "0.5s"}
    # The descriptor: the key the remote_address action produces, with no value: a wildcard, one bucket
    # for each address, in an LRU of max_dynamic_descriptors.
    assert config["rate_limits"] == [{"actions": [{"remote_address": {}}]}]
    assert config["descriptors"] == [{"entries": [{"key": "remote_address"}], "token_bucket": bucket}]
    assert config["max_dynamic_descriptors"] == 5000
    # The default bucket never limits a request that has a descriptor.
    assert config["token_bucket"] == bucket and config["always_consume_default_token_bucket"] is False
    for key in ("filter_enabled", "filter_enforced"):
        assert config[key]["default_value"] == {"numerator": 100, "denominator": "HUNDRED"}
    assert config["status"] == {"code": "TooManyRequests"}
    assert config["response_headers_to_add"] == [
        {"append_action": "OVERWRITE_IF_EXISTS_OR_ADD", "header": {"key": "retry-after", "value": "1"}}
    ]


@pytest.mark.parametrize(
    ("per_minute", "tokens", "interval", "retry_after"),
    [
        (1, 1, "60s", "60"),
        (7, 1, "8.571428571s", "9"),
        (600, 1, "0.1s", "1"),
        (1200, 1, "0.05s", "1"),
        (5000, 5, "0.06s", "1"),
    ],
)
def test_the_bucket_refills_at_the_asked_rate_never_faster_than_every_50_ms(
    per_minute: int, tokens: int, interval: str, retry_after: str
) -> None:
    config = local_rate_limit_config(RateLimitArgs(requests_per_minute=per_minute, burst=3))
    assert config["descriptors"][0]["token_bucket"] == {
        "max_tokens": 3,
        "tokens_per_fill": tokens,
        "fill_interval": interval,
    }
    assert config["response_headers_to_add"][0]["header"]["value"] == retry_after
    assert config["max_dynamic_descriptors"] == 10_000


@pytest.mark.parametrize("per_minute", [1, 7, 59, 61, 1199, 1201, 99_991, 1_000_000])
def test_any_rate_refills_within_a_nanosecond_of_exact_and_no_faster_than_envoy_allows(
    per_minute: int,
) -> None:
    tokens, interval_ns = refill(per_minute)
    assert interval_ns >= 50_000_000
    assert abs(tokens * 60 * 10**9 - per_minute * interval_ns) <= per_minute  # within 1 ns per refill
    assert retry_after_seconds(per_minute) * 10**9 >= interval_ns


def rate_limit_filter(run: ProgramRun) -> dict[str, Any]:
    [envoy_filter] = [
        f for f in run.k8s_objects("EnvoyFilter") if f["metadata"]["name"].endswith("-rate-limit")
    ]
    return envoy_filter


@pytest.mark.parametrize(
    ("routing", "pod_labels"),
    [
        ("istio", {"app": "istio-ingressgateway", "istio": "ingressgateway"}),
        ("gateway-api", {"gateway.networking.k8s.io/gateway-name": "istio-ingressgateway"}),
    ],
)
def test_the_filter_goes_before_the_router_of_the_gateway_pods_in_both_routing_modes(
    routing: str, pod_labels: dict[str, str]
) -> None:
    run = cached_run(
        raw("vngcloud", routing=routing, gateway={"rateLimit": {"requestsPerMinute": 120, "burst": 20}})
    )
    envoy_filter = rate_limit_filter(run)
    assert envoy_filter["apiVersion"] == "networking.istio.io/v1alpha3"
    assert envoy_filter["metadata"] == {
        "name": "istio-ingressgateway-rate-limit",
        "namespace": "istio-system",
    }
    [patch] = envoy_filter["spec"]["configPatches"]
    assert envoy_filter["spec"]["workloadSelector"] == {"labels": pod_labels}
    assert patch["applyTo"] == "HTTP_FILTER"
    assert patch["match"] == {
        "context": "GATEWAY",
        "listener": {
            "filterChain": {
                "filter": {
                    "name": "envoy.filters.network.http_connection_manager",
                    "subFilter": {"name": "envoy.filters.http.router"},
                }
            }
        },
    }
    assert patch["patch"]["operation"] == "INSERT_BEFORE"
    assert patch["patch"]["value"]["name"] == "envoy.filters.http.local_ratelimit"
    assert patch["patch"]["value"]["typed_config"]["descriptors"][0]["token_bucket"]["max_tokens"] == 20


def test_no_rate_limit_no_filter() -> None:
    run = cached_run(raw("vngcloud"))
    assert [f for f in run.k8s_objects("EnvoyFilter") if f["metadata"]["name"].endswith("-rate-limit")] == []


@pytest.mark.parametrize(
    ("rate_limit", "expected"),
    [
        ({"requestsPerMinute": 0, "burst": 1}, "gateway.rateLimit.requestsPerMinute"),
        ({"requestsPerMinute": 10}, "gateway.rateLimit.burst: is required"),
        ({"requestsPerMinute": 10, "burst": 0}, "gateway.rateLimit.burst"),
        ({"requestsPerMinute": 10, "burst": 1, "trackedClients": 0}, "gateway.rateLimit.trackedClients"),
        ({"requestsPerMinute": 10, "burst": 1, "perClient": True}, "gateway.rateLimit.perClient"),
    ],
)
def test_a_bad_rate_limit_is_refused_naming_the_key(rate_limit: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"istio-source-ip:{expected}")):
        parse_config(raw("vngcloud", gateway={"rateLimit": rate_limit}))
