"""A per-client rate limit on a gateway, as data: Envoy's local rate limit keyed on the client's network.

The filter (`envoy.filters.http.local_ratelimit`) is inserted before the router of every HTTP connection
manager of the gateway (an EnvoyFilter, context GATEWAY). Its own `rate_limits` produce one descriptor
entry per request, `masked_remote_address` = the address the connection manager trusted (the packet
source, the PROXY header's address, or the X-Forwarded-For entry behind a front proxy) masked to a prefix:
/32 for IPv4 (one address), /`ipv6_prefix` for IPv6 (default /64, the prefix one host or site is usually
given, so a client rotating addresses inside its /64 still meets one bucket). The descriptor whose entry has
no value is a wildcard: one token bucket per distinct prefix, kept in an LRU of `max_dynamic_descriptors`
buckets. Field names are those of Envoy's API (route_components.proto RateLimit.Action.MaskedRemoteAddress:
v4_prefix_mask_len, v6_prefix_mask_len, at most 32 and 128), parsed strictly by tests/test_rate_limit.py
with the xds-protos package; see docs/front-proxy.md.
"""

import math
from typing import Any, NotRequired, TypedDict

from source_ip.envoy_filters import http_filter_spec

LOCAL_RATE_LIMIT_FILTER = "envoy.filters.http.local_ratelimit"
LOCAL_RATE_LIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
MIN_FILL_INTERVAL_MS = 50
"""Envoy refuses a token bucket that refills more often (local_rate_limit.proto, token_bucket field)."""
TRACKED_CLIENTS_DEFAULT = 10_000
"""Buckets kept per gateway replica (Envoy's own default is 20, which would hand an evicted client a full
bucket as soon as 20 others were seen)."""
STAT_PREFIX = "client_rate_limit"
DESCRIPTOR_KEY = "masked_remote_address"
"""The key Envoy's masked_remote_address action gives its entry (fixed in Envoy's code, not configurable)."""
IPV4_PREFIX = 32
"""An IPv4 client is one address: a NAT's users share it anyway."""
IPV6_PREFIX_DEFAULT = 64
"""The IPv6 prefix one client gets: /64 is the smallest subnet a host or site is normally assigned, and a
client can pick any of its 2^64 addresses (Envoy's own default, /128, gives each of them a full bucket)."""


class RateLimitArgs(TypedDict):
    """A per-client rate limit: requests a minute per client address, and the burst it may spend at once."""

    requests_per_minute: int
    """Requests a minute each client address may send."""
    burst: NotRequired[int]
    """Requests a client may send at once (the bucket's size; default burst_default: ten seconds' worth)."""
    tracked_clients: NotRequired[int]
    """Client buckets kept per replica (default TRACKED_CLIENTS_DEFAULT)."""
    ipv6_prefix: NotRequired[int]
    """The IPv6 prefix length one bucket covers, 0-128 (default IPV6_PREFIX_DEFAULT, /64)."""


BURST_SECONDS = 10
"""A burst, unless one is given: what the client may send in ten seconds at its rate (at least one)."""


def burst_default(requests_per_minute: int) -> int:
    """The bucket's size when none is given: BURST_SECONDS of the rate, rounded up, at least 1 (600 a
    minute: 100). A page load's burst of requests fits, a flood still drains it in seconds."""
    return max(1, math.ceil(requests_per_minute * BURST_SECONDS / 60))


def refill(requests_per_minute: int) -> tuple[int, int]:
    """(tokens_per_fill, fill_interval in ns): the fewest tokens per refill (one, unless that would refill
    more often than Envoy allows) at this rate; the interval is rounded to the nanosecond (a protobuf
    Duration's unit), so a refill never hands out more than one bucket's worth at once."""
    tokens = max(1, math.ceil(MIN_FILL_INTERVAL_MS * 1_000_000 * requests_per_minute / 60e9))
    interval_ns = round(60 * 10**9 * tokens / requests_per_minute)
    if interval_ns < MIN_FILL_INTERVAL_MS * 1_000_000:  # rounding: one token more
        tokens += 1
        interval_ns = round(60 * 10**9 * tokens / requests_per_minute)
    return tokens, interval_ns


def retry_after_seconds(requests_per_minute: int) -> int:
    """The `retry-after` a limited client gets: the bucket's refill interval, rounded up to whole seconds."""
    _, interval_ns = refill(requests_per_minute)
    return max(1, math.ceil(interval_ns / 10**9))


def duration(nanoseconds: int) -> str:
    """A protobuf Duration in its JSON form: seconds, with up to nine digits of fraction."""
    seconds, nanos = divmod(nanoseconds, 10**9)
    return f"{seconds}.{nanos:09d}".rstrip("0").rstrip(".") + "s"


def client_key_action(ipv6_prefix: int = IPV6_PREFIX_DEFAULT) -> dict[str, Any]:
    """The rate_limits action that names the client: its address masked to /32 (IPv4) or /ipv6_prefix."""
    if isinstance(ipv6_prefix, bool) or not isinstance(ipv6_prefix, int) or not 0 <= ipv6_prefix <= 128:
        raise ValueError(f"ipv6_prefix must be a prefix length from 0 to 128, not {ipv6_prefix!r}")
    return {
        DESCRIPTOR_KEY: {"v4_prefix_mask_len": IPV4_PREFIX, "v6_prefix_mask_len": ipv6_prefix},
    }


def local_rate_limit_config(limit: RateLimitArgs) -> dict[str, Any]:
    """The filter's typed_config: one bucket per client (an IPv4 address, an IPv6 /64 unless
    `ipv6_prefix` says otherwise), 429 with `retry-after` when empty."""
    action = client_key_action(limit.get("ipv6_prefix", IPV6_PREFIX_DEFAULT))
    tokens, interval_ns = refill(limit["requests_per_minute"])
    bucket = {
        "max_tokens": limit.get("burst") or burst_default(limit["requests_per_minute"]),
        "tokens_per_fill": tokens,
        "fill_interval": duration(interval_ns),
    }
    every_request = {"numerator": 100, "denominator": "HUNDRED"}
    return {
        "@type": LOCAL_RATE_LIMIT_TYPE,
        "stat_prefix": STAT_PREFIX,
        "status": {"code": "TooManyRequests"},
        # The default bucket is only the fallback for a request without a descriptor (there is always a
        # client address); with always_consume_default_token_bucket (default true) it would be one more,
        # shared, limit on every request.
        "token_bucket": dict(bucket),
        "always_consume_default_token_bucket": False,
        # Both default to 0 % "for safety": without them nothing is limited.
        "filter_enabled": {"default_value": every_request, "runtime_key": f"{STAT_PREFIX}_enabled"},
        "filter_enforced": {"default_value": dict(every_request), "runtime_key": f"{STAT_PREFIX}_enforced"},
        "rate_limits": [{"actions": [action]}],
        "descriptors": [{"entries": [{"key": DESCRIPTOR_KEY}], "token_bucket": dict(bucket)}],
        "max_dynamic_descriptors": limit.get("tracked_clients", TRACKED_CLIENTS_DEFAULT),
        "response_headers_to_add": [
            {
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                "header": {
                    "key": "retry-after",
                    "value": str(retry_after_seconds(limit["requests_per_minute"])),
                },
            }
        ],
    }


def rate_limit_filter_spec(pod_labels: dict[str, str], limit: RateLimitArgs) -> dict[str, Any]:
    """EnvoyFilter spec: the local rate limit before the router in every HTTP connection manager of the
    gateway's pods (so after istiod's RBAC filter: a request the guard denies spends no token). The IPv6
    prefix one bucket covers is `limit["ipv6_prefix"]` (default 64); each connection manager (port 80,
    port 443) keeps its own buckets."""
    return http_filter_spec(
        pod_labels,
        "INSERT_BEFORE",
        {"name": LOCAL_RATE_LIMIT_FILTER, "typed_config": local_rate_limit_config(limit)},
        at_router=True,
    )
