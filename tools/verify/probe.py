"""The checks: the address check (retried while the LB comes up) and the rate-limit burst."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from .client import Resolver, Response, Target, fetch, resolve, speaks_tls
from .kinds import RETRYABLE, Failure, Kind, NetworkError
from .verdicts import (
    HEADERS_PATH,
    Verdict,
    diagnose,
    diagnose_via,
    http_verdict,
    make_verdict,
    network_verdict,
    variant_hint,
)

DEFAULT_TIMEOUT = 60.0
MAX_RATE = 1000
"""--rate sends at most this many requests, whatever N says."""


def verify(
    target: Target,
    expected: str | None,
    num_trusted_proxies: int = 0,
    attempts: int = 6,
    timeout: float = DEFAULT_TIMEOUT,
    backoff: float = 1.0,
    resolver: Resolver = resolve,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    via: tuple[str, str] | None = None,
) -> Verdict:
    """Ask the echo app what arrived, retrying (bounded, with backoff) while the LB comes up.
    `timeout` bounds the whole run: every connect, read and wait ends by the same deadline.
    With `via` (header name, address) the request carries that header, as a front proxy's would, and
    the address the gateway trusted must be the header's."""
    deadline = time.monotonic() + timeout
    delay = backoff
    if via:
        target, expected = target.with_headers(via), via[1]
    for attempt in range(1, attempts + 1):
        try:
            response = fetch(target, HEADERS_PATH, deadline, resolver)
            if response.status in (502, 503, 504) and attempt < attempts:
                raise NetworkError(Failure.UNAVAILABLE, f"HTTP {response.status} (no healthy upstream yet)")
            if response.status != 200:
                return http_verdict(target, response, attempt, expected, via)
            headers = _json_object(response).get("headers")
            if not isinstance(headers, dict):
                raise ValueError("its JSON has no `headers` object")
            ip_response = fetch(target, "/ip", deadline, resolver)
            found = _json_object(ip_response).get("origin") if ip_response.status == 200 else None
            origin = str(found) if found is not None else None
            if via:
                return diagnose_via(target, headers, origin, via, attempt, response.tls_version)
            return diagnose(
                target, headers, origin, expected, num_trusted_proxies, attempt, response.tls_version
            )
        except NetworkError as error:
            left = deadline - time.monotonic()
            if error.kind not in RETRYABLE or attempt == attempts or left <= 0:
                return network_verdict(
                    target, _plain_to_tls(target, error, deadline, resolver), attempt, expected
                )
            wait = min(delay, left)
            progress(
                f"waiting for the gateway (attempt {attempt}/{attempts}): {error}; retrying in {wait:.3g}s"
            )
            time.sleep(wait)
            delay = min(delay * 2, 10.0)
        except ValueError as error:
            return make_verdict(
                Kind.HTTP_ERROR,
                f"the answer is not the echo app's JSON: {error}",
                target,
                expected=expected,
                attempts=attempt,
                hint=variant_hint("not-json"),
            )
    raise AssertionError("unreachable: the loop returns")


def _plain_to_tls(target: Target, error: NetworkError, deadline: float, resolver: Resolver) -> NetworkError:
    """A plain request that got no reply (closed, reset) to a port that completes a TLS handshake was
    sent to a TLS port, not refused for want of a PROXY header: say so."""
    if target.secure or error.kind not in (Failure.EMPTY, Failure.RESET):
        return error
    if not speaks_tls(target, deadline, resolver):
        return error
    return NetworkError(
        Failure.TLS_ANSWER, f"{error}, and that port answers a TLS handshake: it expects HTTPS"
    )


def _json_object(response: Response) -> dict[str, Any]:
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__} where an object was expected")
    return data


def rate_probe(
    target: Target,
    count: int,
    timeout: float = DEFAULT_TIMEOUT,
    resolver: Resolver = resolve,
    via: tuple[str, str] | None = None,
) -> Verdict:
    """Send up to `count` GETs (at most MAX_RATE) one after the other within `timeout`; stop at the
    first 429 and report its position and its retry-after header."""
    count = min(count, MAX_RATE)
    started = time.monotonic()
    deadline = started + timeout
    if via:
        target = target.with_headers(via)
    observed: dict[str, Any] = {}
    if via:
        observed["via_header"] = {"name": via[0], "address": via[1]}
    rate: dict[str, Any] = {"limit": count, "sent": 0, "first429": None, "retryAfter": None, "seconds": 0.0}

    def finish(verdict: Verdict) -> Verdict:
        rate["seconds"] = round(time.monotonic() - started, 3)
        verdict.rate = rate
        return verdict

    for sent in range(1, count + 1):
        try:
            response = fetch(target, HEADERS_PATH, deadline, resolver)
        except NetworkError as error:
            return finish(
                network_verdict(
                    target, _plain_to_tls(target, error, deadline, resolver), sent, via and via[1]
                )
            )
        rate["sent"] = sent
        if response.status == 429:
            rate["first429"] = sent
            rate["retryAfter"] = response.headers.get("retry-after")
            if rate["retryAfter"] is None:
                return finish(
                    make_verdict(
                        Kind.RATE_LIMIT_WITHOUT_RETRY_AFTER,
                        f"request {sent} of {count} got HTTP 429, without a retry-after header",
                        target,
                        attempts=sent,
                        tls_version=response.tls_version,
                        **observed,
                    )
                )
            return finish(
                make_verdict(
                    Kind.OK,
                    f"request {sent} of {count} got HTTP 429 with retry-after: {rate['retryAfter']}",
                    target,
                    attempts=sent,
                    tls_version=response.tls_version,
                    **observed,
                )
            )
        if not 200 <= response.status < 300:
            return finish(http_verdict(target, response, sent, via and via[1], via))
    return finish(
        make_verdict(
            Kind.NOT_RATE_LIMITED,
            f"{count} request(s) in a row, none answered HTTP 429",
            target,
            attempts=count,
            **observed,
        )
    )
