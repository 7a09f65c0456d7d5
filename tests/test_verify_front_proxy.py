"""verify --via-header (a request sent as a CDN would) and --rate (the first 429), against local
servers on 127.0.0.1: a gateway stand-in that takes the client address from a header, and an echo
app behind a limit of K requests per client."""

from __future__ import annotations

import json
import time

import pytest

from tests.verify_servers import HOST, Gateway, GoHttpbin, RateLimited, RawServer, run_main
from tools import verify as v

CF = "CF-Connecting-IP"


# --- --via-header ----------------------------------------------------------------------------------


def test_the_headers_address_is_the_one_the_gateway_trusted(capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo, client_header=CF) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--via-header", f"{CF}: 203.0.113.7"
        )
    assert (code, result["verdict"]) == (0, "ok")
    assert result["externalAddress"] == "203.0.113.7" and result["expected"] == "203.0.113.7"
    assert result["viaHeader"] == {"name": CF, "address": "203.0.113.7"}
    assert result["forwardedFor"] == ["127.0.0.1"]  # the peer, which the gateway did not trust as the client
    assert f"took the client address 203.0.113.7 from {CF}, not the peer's" in result["diagnosis"]


def test_a_gateway_without_front_proxy_trusts_the_peer_and_ignores_the_header(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--via-header", f"{CF}: 203.0.113.7"
        )
    assert (code, result["verdict"]) == (22, "via-header-ignored")
    assert "the gateway trusted the peer's address: 127.0.0.1" in result["diagnosis"]
    assert "frontProxy" in result["hint"]


def test_no_external_address_header_leaves_the_trusted_address_unconfirmed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with GoHttpbin() as echo, Gateway(echo, client_header=CF, external_header=False) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--via-header", f"{CF}: 203.0.113.7"
        )
    assert (code, result["verdict"]) == (23, "via-header-unconfirmed")
    assert "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" in result["hint"]


def test_a_sender_outside_the_proxys_ranges_is_refused_by_the_guard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with GoHttpbin() as echo, Gateway(echo, client_header=CF, trusted_peers=("192.0.2.0/24",)) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--via-header", f"{CF}: 203.0.113.7"
        )
    assert (code, result["verdict"]) == (16, "http-error")
    assert result["diagnosis"].startswith("HTTP 403") and "DENY guard" in result["hint"]


def test_forwarded_for_from_one_trusted_hop_is_read_as_the_client(capsys: pytest.CaptureFixture[str]) -> None:
    """numTrustedProxies: 1 (X-Forwarded-For as the front proxy's header): the entry before the peer."""
    with GoHttpbin() as echo, Gateway(echo, trusted_hops=1) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--via-header", "X-Forwarded-For: 203.0.113.9"
        )
    assert (code, result["verdict"]) == (0, "ok")  # two entries, yet not forged-xff: verify sent the first
    assert result["forwardedFor"] == ["203.0.113.9", "127.0.0.1"]


def test_forwarded_for_without_a_trusted_hop_is_ignored_though_it_arrives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The header's address reaches the app as the first X-Forwarded-For entry, but the gateway trusted
    the peer: verify goes by X-Envoy-External-Address, not by what it sent itself."""
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--via-header", "X-Forwarded-For: 203.0.113.9"
        )
    assert (code, result["verdict"]) == (22, "via-header-ignored")
    assert result["forwardedFor"][0] == "203.0.113.9" and result["externalAddress"] == "127.0.0.1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--via-header", f"{CF}: not-an-ip"], "not an IP address"),
        (["--via-header", "no colon"], "must be 'Name: address'"),
        (["--via-header", "bad name: 203.0.113.7"], "must be 'Name: address'"),
        (["--via-header", f"{CF}: 203.0.113.7", "--expect-ip", "203.0.113.7"], "drop --expect-ip"),
        (
            ["--via-header", f"{CF}: 203.0.113.7", "--from-docker-network", "kind"],
            "--from-docker-network takes",
        ),
        (["--rate", "0"], "from 1 to 1000"),
        (["--rate", "1001"], "from 1 to 1000"),
        (["--rate", "5", "--from-docker-network", "kind"], "--from-docker-network takes"),
    ],
)
def test_front_proxy_and_rate_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert v.main(["--url", "http://127.0.0.1:1", "--host", HOST, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# --- --rate ----------------------------------------------------------------------------------------


def test_the_first_429_and_its_retry_after_are_reported(capsys: pytest.CaptureFixture[str]) -> None:
    with RateLimited(limit=3, retry_after="42") as limited:
        code, result = run_main(capsys, "--url", limited.url, "--host", HOST, "--rate", "10")
    assert (code, result["verdict"]) == (0, "ok")
    assert result["rate"]["first429"] == 4 and result["rate"]["sent"] == 4 and result["rate"]["limit"] == 10
    assert result["rate"]["retryAfter"] == "42"
    assert "request 4 of 10 got HTTP 429 with retry-after: 42" in result["diagnosis"]


def test_no_429_within_n_requests_is_not_rate_limited(capsys: pytest.CaptureFixture[str]) -> None:
    with RateLimited(limit=100) as limited:
        code, result = run_main(capsys, "--url", limited.url, "--host", HOST, "--rate", "5")
        counted = dict(limited.counts)  # type: ignore[attr-defined]
    assert (code, result["verdict"]) == (24, "not-rate-limited")
    assert result["rate"]["sent"] == 5 and result["rate"]["first429"] is None
    assert counted == {"127.0.0.1": 5}  # N requests, not one more


def test_a_429_without_retry_after_is_its_own_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    with RateLimited(limit=1, retry_after=None) as limited:
        code, result = run_main(capsys, "--url", limited.url, "--host", HOST, "--rate", "3")
    assert (code, result["verdict"]) == (25, "rate-limit-without-retry-after")
    assert result["rate"]["first429"] == 2 and result["rate"]["retryAfter"] is None


def test_the_rate_burst_carries_the_via_header_and_is_keyed_on_it(capsys: pytest.CaptureFixture[str]) -> None:
    """A limiter keyed on the header's address, as the gateway's is on the trusted client address."""
    with RateLimited(limit=2, key_header=CF) as limited:
        code, result = run_main(
            capsys, "--url", limited.url, "--host", HOST, "--rate", "5", "--via-header", f"{CF}: 198.51.100.4"
        )
        counted = dict(limited.counts)  # type: ignore[attr-defined]
    assert (code, result["rate"]["first429"]) == (0, 3)
    assert counted == {"198.51.100.4": 3}
    assert result["viaHeader"] == {"name": CF, "address": "198.51.100.4"}


def test_a_wrong_host_during_the_burst_gets_its_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        code, result = run_main(capsys, "--url", gateway.url, "--host", "other.example.com", "--rate", "5")
    assert (code, result["verdict"]) == (13, "wrong-host")
    assert result["rate"]["sent"] == 1


def test_the_burst_is_bounded_by_the_timeout() -> None:
    body = b'{"headers": {}}' + b" " * 100
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with RawServer(raw, trickle=0.01) as slow:
        started = time.monotonic()
        verdict = v.rate_probe(v.Target(slow.url, HOST), 1000, timeout=0.5)
        elapsed = time.monotonic() - started
    assert verdict.verdict == "unreachable" and "within the time left" in verdict.diagnosis
    assert verdict.rate is not None and verdict.rate["sent"] < 1000
    assert elapsed < 1.0, elapsed


def test_text_output_shows_the_rate_and_the_header_sent(capsys: pytest.CaptureFixture[str]) -> None:
    with RateLimited(limit=1, key_header=CF) as limited:
        code = v.main(
            ["--url", limited.url, "--host", HOST, "--rate", "3", "--via-header", f"{CF}: 198.51.100.4"]
        )
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("PASS [ok] request 2 of 3 got HTTP 429 with retry-after: 60")
    assert f"  sent:     {CF}: 198.51.100.4 (as a front proxy would)" in out
    assert "  rate:     2 of at most 3 request(s) in " in out and "first 429: 2; retry-after: 60" in out


def test_a_403_without_the_header_names_the_allowlist_and_the_guard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A client sending straight to a fronted gateway meets the DENY guard; the verdict says what answers."""
    answer = (
        b"HTTP/1.1 403 Forbidden\r\ncontent-length: 19\r\ncontent-type: text/plain\r\n\r\nRBAC: access denied"
    )
    with RawServer(answer) as server:
        code = v.main(["--url", server.url, "--host", "echo.example.com", "--json", "--attempts", "1"])
    result = json.loads(capsys.readouterr().out)
    assert (code, result["verdict"]) == (16, "http-error")
    assert result["diagnosis"] == (
        f"HTTP 403 from {server.url}: the gateway refused this sender (RBAC: access denied)"
    )
    assert (
        "an allowlist that does not hold the address" in result["hint"]
        and "frontProxy guard" in result["hint"]
    )
