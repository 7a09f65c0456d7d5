"""verify over IPv6, on [::1] only: a client address of either family, and HAProxy as the load balancer
sending a PROXY header for a TCP6 client (v1 to the gateway stand-in, v2 to an HAProxy gateway)."""

from __future__ import annotations

import json

import pytest

from tests.verify_servers import (
    HOST,
    Gateway,
    GoHttpbin,
    HAProxy,
    free_port,
    ipv6_loopback_missing,
    run_main,
    wait_listening,
)
from tools.verify.client import Target, fetch, host_header

no_ipv6 = ipv6_loopback_missing()
haproxy_missing = HAProxy.available()
pytestmark = pytest.mark.skipif(no_ipv6 is not None, reason=str(no_ipv6))


def test_an_ipv6_literal_goes_into_the_host_header_in_brackets_and_a_name_as_it_is() -> None:
    assert host_header("::1") == "[::1]"
    assert host_header("2001:db8::7") == "[2001:db8::7]"
    assert host_header("127.0.0.1") == "127.0.0.1"
    assert host_header("echo.example.com") == "echo.example.com"


def test_a_request_to_an_ipv6_url_without_host_sends_the_bracketed_literal() -> None:
    import time

    with GoHttpbin(bind="::1") as echo:
        response = fetch(Target(echo.url, "::1"), "/headers", time.monotonic() + 5)
    assert echo.url.startswith("http://[::1]:")
    assert json.loads(response.body)["headers"]["Host"] == ["[::1]"]


def test_an_ipv6_client_through_a_passthrough_gateway_arrives_with_its_own_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with GoHttpbin() as echo, Gateway(echo, bind="::1") as gateway:
        assert gateway.url.startswith("http://[::1]:")
        code, result = run_main(capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "::1")
        spelt_long, long_form = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "0:0:0:0:0:0:0:1"
        )
        wrong_family, mismatch = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1"
        )
    assert (code, result["verdict"]) == (0, "ok")
    assert (spelt_long, long_form["verdict"]) == (0, "ok")
    assert wrong_family != 0 and mismatch["verdict"] != "ok"


def test_an_ipv4_client_is_still_expected_by_its_ipv4_address(capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        code, result = run_main(capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1")
        wrong_family, mismatch = run_main(capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "::1")
    assert (code, result["verdict"]) == (0, "ok")
    assert wrong_family != 0 and mismatch["verdict"] != "ok"


@pytest.mark.skipif(haproxy_missing is not None, reason=str(haproxy_missing))
def test_a_tcp6_client_in_a_proxy_v1_header_over_ipv4_reaches_a_strict_gateway(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The LB listens on [::1] and sends the gateway (on 127.0.0.1, an IPv4 path as Hetzner's node
    targets) a `PROXY TCP6 ::1 ...` line: the client's IPv6 address arrives."""
    port = free_port()
    with (
        GoHttpbin() as echo,
        Gateway(echo, proxy_protocol=True) as gateway,
        HAProxy(
            f"frontend lb\n  mode tcp\n  bind [::1]:{port}\n  default_backend gw\n"
            f"backend gw\n  mode tcp\n  server s1 127.0.0.1:{gateway.port} send-proxy\n"
        ),
    ):
        wait_listening(port, family="::1")
        code, result = run_main(capsys, "--url", f"http://[::1]:{port}", "--host", HOST, "--expect-ip", "::1")
    assert (code, result["verdict"]) == (0, "ok")


@pytest.mark.skipif(haproxy_missing is not None, reason=str(haproxy_missing))
def test_a_tcp6_client_in_a_proxy_v2_header_arrives_at_a_gateway_that_requires_the_header(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two HAProxies: the LB on [::1] sends PROXY v2 (send-proxy-v2) for the TCP6 client over IPv4 to a
    gateway that requires the header (accept-proxy, as gatewayTopology.proxyProtocol does) and, like Envoy,
    appends the header's source to X-Forwarded-For and sets X-Envoy-External-Address to it. A request
    straight to the gateway, without the header, is dropped."""
    lb, gw = free_port(), free_port()
    with (
        GoHttpbin() as echo,
        HAProxy(
            f"frontend lb\n  mode tcp\n  bind [::1]:{lb}\n  default_backend gw\n"
            f"backend gw\n  mode tcp\n  server s1 127.0.0.1:{gw} send-proxy-v2\n"
            f"frontend gateway\n  mode http\n  bind 127.0.0.1:{gw} accept-proxy\n  option forwardfor\n"
            "  http-request set-header X-Envoy-External-Address %[src]\n  default_backend echo\n"
            f"backend echo\n  mode http\n  server e1 127.0.0.1:{echo.port}\n"
        ),
    ):
        wait_listening(lb, family="::1")
        wait_listening(gw)
        code, result = run_main(capsys, "--url", f"http://[::1]:{lb}", "--host", HOST, "--expect-ip", "::1")
        direct_code, direct = run_main(
            capsys, "--url", f"http://127.0.0.1:{gw}", "--host", HOST, "--expect-ip", "::1"
        )
    assert (code, result["verdict"]) == (0, "ok"), result
    assert (direct_code, direct["verdict"]) == (12, "proxy-protocol-mismatch")
