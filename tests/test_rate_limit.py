"""The per-client rate limit: the EnvoyFilter and its typed config, parsed strictly with Envoy's API (the
xds-protos package, tests/envoy_api.py), in both routing modes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from source_ip.config import ConfigError, parse_config
from source_ip.rate_limit import (
    RateLimitArgs,
    local_rate_limit_config,
    rate_limit_filter_spec,
    refill,
    retry_after_seconds,
)
from tests import envoy_api
from tests.conftest import cached_run, raw
from tools.program import ProgramRun

LIMIT = RateLimitArgs(requests_per_minute=120, burst=20, tracked_clients=5000)


def test_the_excerpt_holds_the_one_field_the_pinned_xds_protos_lacks_and_only_that() -> None:
    """When a newer xds-protos holds max_dynamic_descriptors, this fails: drop the excerpt then."""
    assert envoy_api.excerpt_fields() == {"max_dynamic_descriptors": ("google.protobuf.UInt32Value", 18)}
    declared = envoy_api.message_class(
        "envoy.extensions.filters.http.local_ratelimit.v3.local_rate_limit_pb2.LocalRateLimit"
    ).DESCRIPTOR.fields_by_name
    assert "max_dynamic_descriptors" not in declared
    assert declared["rate_limits"].number == 17  # the excerpt's neighbour, so the excerpt's 18 is free


def test_every_field_of_the_filter_parses_strictly_as_envoys_local_rate_limit() -> None:
    [message] = envoy_api.parse_envoy_filter({"spec": rate_limit_filter_spec({"app": "gw"}, LIMIT)})
    assert message.name == "envoy.filters.http.local_ratelimit"
    config = envoy_api.typed_config(message)
    assert config.DESCRIPTOR.full_name == "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
    [action] = config.rate_limits[0].actions
    assert action.WhichOneof("action_specifier") == "masked_remote_address"


@pytest.mark.parametrize(
    ("path", "bad", "expected"),
    [
        (("max_dynamic_descriptors",), "many", "max_dynamic_descriptors: 'many' is not a"),
        (("status", "code"), "TooManyRequest", "Invalid enum value TooManyRequest"),
        (("descriptors", 0, "entries", 0, "valu"), "", 'has no field named "valu"'),
        (
            ("rate_limits", 0, "actions", 0, "masked_remote_address", "v6_prefix_mask"),
            64,
            'has no field named "v6_prefix_mask"',
        ),
    ],
)
def test_the_strict_parse_catches_a_misspelt_field_a_wrong_enum_value_and_a_wrong_type(
    path: tuple[Any, ...], bad: Any, expected: str
) -> None:
    spec = rate_limit_filter_spec({"app": "gw"}, LIMIT)
    node: Any = spec["configPatches"][0]["patch"]["value"]["typed_config"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = bad
    with pytest.raises(envoy_api.EnvoyApiError, match=re.escape(expected)):
        envoy_api.parse_envoy_filter({"spec": spec})


def test_a_client_is_its_ipv4_address_or_its_ipv6_slash_64_not_each_address() -> None:
    """One IPv6 client owns a /64 and may rotate through it; each address its own bucket never limits it."""
    config: dict[str, Any] = local_rate_limit_config(LIMIT)
    assert config["rate_limits"] == [
        {"actions": [{"masked_remote_address": {"v4_prefix_mask_len": 32, "v6_prefix_mask_len": 64}}]}
    ]
    # The entry key Envoy's masked_remote_address action writes (router_ratelimit.cc), value left out: a
    # wildcard, one bucket per masked address.
    assert config["descriptors"][0]["entries"] == [{"key": "masked_remote_address"}]


@pytest.mark.parametrize("prefix", [48, 56, 128])
def test_the_ipv6_prefix_is_a_parameter_of_the_spec(prefix: int) -> None:
    spec = rate_limit_filter_spec(
        {"app": "gw"}, RateLimitArgs(requests_per_minute=60, burst=5, ipv6_prefix=prefix)
    )
    [message] = envoy_api.parse_envoy_filter({"spec": spec})
    [action] = envoy_api.typed_config(message).rate_limits[0].actions
    assert action.masked_remote_address.v6_prefix_mask_len.value == prefix
    assert action.masked_remote_address.v4_prefix_mask_len.value == 32


@pytest.mark.parametrize("prefix", [-1, 129, True, "64"])
def test_an_ipv6_prefix_envoy_would_refuse_is_refused_naming_the_parameter(prefix: Any) -> None:
    """Envoy's API: v6_prefix_mask_len at most 128 (route_components.proto validate rule)."""
    with pytest.raises(ValueError, match="ipv6_prefix must be a prefix length from 0 to 128"):
        local_rate_limit_config(RateLimitArgs(requests_per_minute=60, burst=5, ipv6_prefix=prefix))


def test_one_bucket_per_client_enforced_on_every_request_answering_429_with_retry_after() -> None:
    config: dict[str, Any] = local_rate_limit_config(LIMIT)
    bucket = {"max_tokens": 20, "tokens_per_fill": 1, "fill_interval": "0.5s"}
    # The descriptor: the key the masked_remote_address action produces, with no value: a wildcard, one
    # bucket for each client, in an LRU of max_dynamic_descriptors.
    assert config["descriptors"] == [{"entries": [{"key": "masked_remote_address"}], "token_bucket": bucket}]
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
        ({"burst": 10}, "gateway.rateLimit.requestsPerMinute: is required"),
        ({"requestsPerMinute": 10, "burst": 0}, "gateway.rateLimit.burst"),
        ({"requestsPerMinute": 10, "burst": 1, "trackedClients": 0}, "gateway.rateLimit.trackedClients"),
        ({"requestsPerMinute": 10, "burst": 1, "perClient": True}, "gateway.rateLimit.perClient"),
    ],
)
def test_a_bad_rate_limit_is_refused_naming_the_key(rate_limit: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"istio-source-ip:{expected}")):
        parse_config(raw("vngcloud", gateway={"rateLimit": rate_limit}))


@pytest.mark.parametrize(("per_minute", "burst"), [(600, 100), (1, 1), (61, 11)])
def test_a_rate_limit_without_a_burst_gets_ten_seconds_of_its_rate_as_its_bucket(
    per_minute: int, burst: int
) -> None:
    run = cached_run(raw("gcp", gateway={"rateLimit": {"requestsPerMinute": per_minute}}))
    [envoy_filter] = run.k8s_objects("EnvoyFilter")
    bucket = envoy_filter["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]["token_bucket"]
    assert bucket["max_tokens"] == burst


def test_a_rate_limit_during_the_proxy_protocol_migration_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(
            raw(
                "aws-nlb",
                sourceIp="local",
                gateway={"proxyProtocolMigration": True, "rateLimit": {"requestsPerMinute": 60}},
            )
        )
    assert [p.key for p in refused.value.problems] == ["istio-source-ip:gateway.rateLimit"]
    assert "PROXY header a passthrough client can write itself" in str(refused.value)
