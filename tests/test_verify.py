"""tools.verify against real servers on 127.0.0.1: every verdict from a real exchange, and the exit codes.

The one exception is the DNS failure: resolving a name would send a query to this machine's
resolver, which is not ours to send traffic to, so that test injects a resolver that fails.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time

import pytest

from tests import verify_servers
from tests.verify_servers import (
    HOST,
    Gateway,
    GoHttpbin,
    HAProxy,
    PypiHttpbin,
    RawServer,
    free_port,
    wait_listening,
)
from tools import verify as v


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    """With a 2 s budget: several tests here wait for a silent or trickling server."""
    return verify_servers.run_main(capsys, *args, timeout=2)


@pytest.mark.parametrize("echo_app", [GoHttpbin, PypiHttpbin], ids=["go-httpbin", "pypi-httpbin"])
def test_client_address_arrives(echo_app, capsys: pytest.CaptureFixture[str]) -> None:
    with echo_app() as echo, Gateway(echo) as gateway:
        code, result = run_main(capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1")
    assert (code, result["verdict"]) == (0, "ok")
    assert result["forwardedFor"] == ["127.0.0.1"] and result["externalAddress"] == "127.0.0.1"
    assert result["origin"].split(",")[0] == "127.0.0.1"


@pytest.mark.parametrize("echo_app", [GoHttpbin, PypiHttpbin], ids=["go-httpbin", "pypi-httpbin"])
def test_node_address_means_the_address_was_lost(echo_app, capsys: pytest.CaptureFixture[str]) -> None:
    with echo_app() as echo, Gateway(echo, snat_to="10.244.1.7") as gateway:
        code, result = run_main(capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1")
    assert (code, result["verdict"]) == (10, "address-lost")
    assert "a private (node or load-balancer) address arrived: 10.244.1.7" in result["diagnosis"]
    assert "externalTrafficPolicy: Local" in result["hint"]


def test_private_address_without_expectation_asks_for_expect_ip(capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        code, result = run_main(capsys, "--url", gateway.url, "--host", HOST)
    assert (code, result["verdict"]) == (10, "address-lost")
    assert "--expect-ip" in result["hint"]


def test_client_supplied_forwarded_for_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    with PypiHttpbin() as echo, Gateway(echo) as gateway:
        code, result = run_main(
            capsys,
            "--url",
            gateway.url,
            "--host",
            HOST,
            "--expect-ip",
            "127.0.0.1",
            "--header",
            "X-Forwarded-For: 203.0.113.9",
        )
    assert (code, result["verdict"]) == (11, "forged-xff")
    assert result["forwardedFor"] == ["203.0.113.9", "127.0.0.1"]
    assert result["externalAddress"] == "127.0.0.1"  # what the gateway itself trusts
    assert "first entry (203.0.113.9) was supplied by the client" in result["diagnosis"]


def test_forwarded_for_from_trusted_l7_hops_is_fine(capsys: pytest.CaptureFixture[str]) -> None:
    """An L7 proxy in front appended the client (203.0.113.9); the gateway trusts one hop."""
    with GoHttpbin() as echo, Gateway(echo, trusted_hops=1) as gateway:
        code, result = run_main(
            capsys,
            "--url",
            gateway.url,
            "--host",
            HOST,
            "--expect-ip",
            "203.0.113.9",
            "--num-trusted-proxies",
            "1",
            "--header",
            "X-Forwarded-For: 203.0.113.9",
        )
    assert (code, result["verdict"]) == (0, "ok")


def test_wrong_host_gets_404_from_the_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", "other.example.com", "--expect-ip", "127.0.0.1"
        )
    assert (code, result["verdict"]) == (13, "wrong-host")
    assert "echoHost" in result["hint"]


def test_connection_refused_is_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, result = run_main(capsys, "--url", f"http://127.0.0.1:{port}", "--host", HOST)
    assert (code, result["verdict"]) == (14, "unreachable")
    assert "connection refused" in result["diagnosis"]


def test_silent_listener_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel accepts; nobody ever answers
        target = v.Target(f"http://127.0.0.1:{silent.getsockname()[1]}", HOST)
        verdict = v.verify(target, "127.0.0.1", attempts=1, timeout=0.3)
    assert (verdict.verdict, verdict.exit_code) == ("unreachable", 14)
    assert "no answer" in verdict.diagnosis and "firewall" in verdict.hint


def test_dns_failure_is_unreachable() -> None:
    def failing_resolver(host: str, port: int) -> tuple[str, int]:
        raise v.NetworkError("dns", f"cannot resolve {host}: Name or service not known")

    verdict = v.verify(v.Target("http://gateway.invalid", HOST), None, attempts=1, resolver=failing_resolver)
    assert (verdict.verdict, verdict.exit_code) == ("unreachable", 14)
    assert "gatewayAddress" in verdict.hint


def test_retries_with_backoff_until_the_gateway_listens() -> None:
    port = free_port()
    lines: list[str] = []
    listening = threading.Event()
    with GoHttpbin() as echo:

        def start_late() -> None:
            time.sleep(0.4)  # the LB is still coming up for the first attempts
            with Gateway(echo, port=port):
                listening.set()
                time.sleep(2)

        threading.Thread(target=start_late, daemon=True).start()
        verdict = v.verify(
            v.Target(f"http://127.0.0.1:{port}", HOST),
            "127.0.0.1",
            attempts=6,
            backoff=0.2,
            progress=lines.append,
        )
    assert listening.is_set()
    assert verdict.verdict == "ok" and verdict.attempts >= 2
    assert lines[0].startswith("waiting for the gateway (attempt 1/6): connection refused")


def test_whoami_endpoint_supplies_the_expected_address(capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as whoami, GoHttpbin() as echo, Gateway(echo) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--whoami-url", f"{whoami.url}/ip"
        )
    assert (code, result["expected"]) == (0, "127.0.0.1")


def test_text_output_is_a_verdict_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo, snat_to="10.0.0.9") as gateway:
        code = v.main(["--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1", "--attempts", "1"])
    out = capsys.readouterr().out
    assert code == 10
    assert out.startswith("FAIL [address-lost] expected 127.0.0.1 but a private")
    assert "  hint:" in out and "X-Forwarded-For: 10.0.0.9" in out


@pytest.mark.parametrize(
    "args",
    [
        ["--url", "ftp://x", "--host", HOST],  # was https://x, which verify now speaks
        ["--url", "http://127.0.0.1", "--expect-ip", "not-an-ip"],
        ["--url", "http://127.0.0.1", "--expect-ip", "10.0.0.1/24"],
        ["--url", "http://127.0.0.1", "--timeout", "0"],
        ["--url", "http://127.0.0.1", "--timeout", "-1"],
        ["--url", "http://127.0.0.1", "--timeout", "nan"],
        ["--url", "http://127.0.0.1", "--timeout", "inf"],
        ["--url", "http://127.0.0.1", "--attempts", "0"],
        ["--url", "http://127.0.0.1", "--num-trusted-proxies", "-1"],
        ["--url", "http://127.0.0.1", "--header", "no colon"],
        ["--url", "http://127.0.0.1", "--whoami-url", "ftp://x/ip"],
        ["--url", "http://127.0.0.1", "--bogus"],
        [],
    ],
)
def test_usage_errors_exit_2_with_a_message_and_no_traceback(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert v.main(args) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


@pytest.mark.skipif(
    shutil.which("pulumi") is not None, reason="the Pulumi CLI is installed: this checks its absence"
)
def test_stack_mode_without_the_cli_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert v.main(["--stack", "dev"]) == 2
    assert (
        "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/): use --url"
        in capsys.readouterr().err
    )


haproxy_missing = HAProxy.available()


@pytest.mark.skipif(haproxy_missing is not None, reason=str(haproxy_missing))
def test_plain_request_to_a_listener_that_expects_the_proxy_header(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The gateway has gatewayTopology.proxyProtocol but the LB does not send the header."""
    port = free_port()
    with (
        GoHttpbin() as echo,
        HAProxy.expecting_the_proxy_header(port, echo.port, "http"),
    ):
        wait_listening(port)
        code, result = run_main(
            capsys, "--url", f"http://127.0.0.1:{port}", "--host", HOST, "--expect-ip", "127.0.0.1"
        )
    assert (code, result["verdict"]) == (12, "proxy-protocol-mismatch")
    assert "closed the connection without a reply" in result["diagnosis"] or "reset" in result["diagnosis"]


@pytest.mark.skipif(haproxy_missing is not None, reason=str(haproxy_missing))
def test_proxy_header_sent_to_a_plain_http_server(capsys: pytest.CaptureFixture[str]) -> None:
    """The LB sends the PROXY header but the gateway does not expect it: HTTP 400."""
    port = free_port()
    with (
        PypiHttpbin() as plain,
        HAProxy(
            f"frontend lb\n  mode tcp\n  bind 127.0.0.1:{port}\n  default_backend plain\n"
            f"backend plain\n  mode tcp\n  server s1 127.0.0.1:{plain.port} send-proxy\n"
        ),
    ):
        wait_listening(port)
        code, result = run_main(
            capsys, "--url", f"http://127.0.0.1:{port}", "--host", HOST, "--expect-ip", "127.0.0.1"
        )
    assert (code, result["verdict"]) == (12, "proxy-protocol-mismatch")
    # Envoy answers a proper HTTP 400; Werkzeug, seeing "PROXY TCP4 ..." as a request line, answers
    # in HTTP/0.9 style (a body, no status line). Both are the same mismatch.
    assert result["diagnosis"].startswith(
        (
            "HTTP 400 right after connect",
            f"127.0.0.1:{port} answered with something that is not an HTTP response",
        )
    )


@pytest.mark.skipif(haproxy_missing is not None, reason=str(haproxy_missing))
def test_proxy_protocol_on_both_sides_carries_the_client_address(capsys: pytest.CaptureFixture[str]) -> None:
    """The LB (HAProxy, send-proxy) and a strict gateway agree: the address from the header arrives."""
    port = free_port()
    with (
        GoHttpbin() as echo,
        Gateway(echo, proxy_protocol=True) as gateway,
        HAProxy(
            f"frontend lb\n  mode tcp\n  bind 127.0.0.1:{port}\n  default_backend gw\n"
            f"backend gw\n  mode tcp\n  server s1 127.0.0.1:{gateway.port} send-proxy\n"
        ),
    ):
        wait_listening(port)
        code, result = run_main(
            capsys, "--url", f"http://127.0.0.1:{port}", "--host", HOST, "--expect-ip", "127.0.0.1"
        )
        direct_code, direct = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1"
        )
    assert (code, result["verdict"]) == (0, "ok")
    assert (direct_code, direct["verdict"]) == (
        12,
        "proxy-protocol-mismatch",
    )  # no header: the strict gateway drops it


# --- Any answer gets a verdict, and --timeout bounds the whole run ------------------------------------


def answer_with(raw: bytes, *, trickle: float = 0.0) -> RawServer:
    """A server that sends `raw` to every connection (one byte per `trickle` seconds if set), then closes."""
    return RawServer(raw, trickle=trickle)


def json_answer(body: bytes, extra_headers: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra_headers
        + b"\r\n"
        + body
    )


@pytest.mark.parametrize(
    ("raw", "verdict", "diagnosis"),
    [
        (json_answer(b'["headers"]'), "http-error", "a JSON list where an object was expected"),
        (json_answer(b'"hello"'), "http-error", "a JSON str where an object was expected"),
        (json_answer(b'{"headers": ["X-Forwarded-For"]}'), "http-error", "its JSON has no `headers` object"),
        (json_answer(b'{"headers": '), "http-error", "the answer is not the echo app's JSON"),
        (
            json_answer(b"{}", b"".join(b"X-H%d: v\r\n" % i for i in range(300))),
            "http-error",
            "sent a malformed HTTP answer",
        ),
        (
            b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"headers"',
            "http-error",
            "cut the answer off after",
        ),
        # A TLS alert in answer to plain HTTP: its own verdict since verify speaks HTTPS (was http-error).
        (b"\x15\x03\x01\x00\x02\x02\x50", "plain-http-to-tls-port", "answered with TLS"),
        (json_answer(b"x" * (v.MAX_ANSWER_BYTES + 10)), "http-error", "sent more than"),
        (
            b"PROXY? what\r\n",
            "proxy-protocol-mismatch",
            "answered with something that is not an HTTP response",
        ),
        (b"", "proxy-protocol-mismatch", "closed the connection without a reply"),
    ],
)
def test_any_answer_gets_a_verdict_never_a_traceback(raw: bytes, verdict: str, diagnosis: str) -> None:
    with answer_with(raw) as server:
        result = v.verify(v.Target(server.url, HOST), "127.0.0.1", attempts=1, timeout=5)
    assert result.verdict == verdict and diagnosis in result.diagnosis, result.diagnosis
    assert result.exit_code == v.EXIT_CODES[verdict]


def test_a_trickling_server_cannot_hold_verify_past_its_timeout() -> None:
    with answer_with(json_answer(b'{"headers": {}}' + b" " * 200), trickle=0.05) as server:
        started = time.monotonic()
        result = v.verify(
            v.Target(server.url, HOST),
            "127.0.0.1",
            attempts=3,
            timeout=1.0,
            backoff=0.1,
            progress=lambda line: None,
        )
        elapsed = time.monotonic() - started
    assert result.verdict == "unreachable" and "within the time left" in result.diagnosis
    assert elapsed < 1.5, elapsed


def test_addresses_are_compared_as_addresses() -> None:
    assert v.same_address("::1", "0:0:0:0:0:0:0:1")
    assert v.same_address("2001:DB8::1", "2001:db8:0::1")
    assert v.same_address("::ffff:127.0.0.1", "127.0.0.1")
    assert not v.same_address("127.0.0.1", "127.0.0.2")
    verdict = v.diagnose(
        v.Target("http://gw", HOST), {"X-Forwarded-For": "2001:db8::0:1"}, None, "2001:DB8::1", 0, 1
    )
    assert verdict.verdict == "ok"


def test_json_keys_are_camel_case() -> None:
    keys = set(json.loads(v.Verdict("ok", "", "http://gw", HOST).as_json()))
    assert keys == {
        "verdict",
        "diagnosis",
        "url",
        "host",
        "expected",
        "forwardedFor",
        "externalAddress",
        "origin",
        "attempts",
        "hint",
        "ok",
        "exitCode",
    }


@pytest.mark.parametrize(
    ("flag", "header", "expected"),
    [
        ("--header", "Host: other.example", "Host is a header verify sets itself (use --host)"),
        ("--header", "host: other.example", "host is a header verify sets itself (use --host)"),
        ("--header", "Content-Length: 5", "reserved: Connection, Content-Length, Host, Transfer-Encoding"),
        ("--header", "X-Note: snow\u2603", "the header value has '\u2603' (U+2603); allowed: Latin-1"),
        ("--header", "X-N\u00e4me: 1", "header name of letters, digits"),
        ("--via-header", "Host: 192.0.2.7", "Host is a header verify sets itself (use --host)"),
    ],
)
def test_a_reserved_or_non_latin1_header_is_refused_before_any_request_with_exit_2(
    flag: str, header: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Port 9 (discard) on 127.0.0.1: were a request sent, the verdict would be a connection error, not 2."""
    assert v.main(["--url", "http://127.0.0.1:9/", flag, header, "--attempts", "1", "--timeout", "1"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or flag == "--via-header"  # argparse adds its usage line


def test_a_latin1_header_value_is_still_sent(capsys: pytest.CaptureFixture[str]) -> None:
    assert v.main(["--url", "http://127.0.0.1:9/", "--header", "X-Note: caf\u00e9", "--attempts", "1"]) != 2
