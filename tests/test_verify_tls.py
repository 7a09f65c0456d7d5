"""verify over TLS against real TLS servers on 127.0.0.1, with a CA and certificates made by `openssl`
in the test: each TLS failure has its own verdict, exit code and hint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import FAKES, fake_env, verify_cli
from tests.verify_servers import (
    HOST,
    Gateway,
    GoHttpbin,
    HAProxy,
    Pki,
    RawServer,
    free_port,
    run_main,
    wait_listening,
)
from tools import verify as v

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(Pki.missing() is not None, reason=str(Pki.missing()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    pki = Pki(tmp_path_factory.mktemp("pki"))
    pki.ca("gateway-ca")
    pki.ca("other-ca")
    return pki


def test_a_trusted_certificate_for_the_host_carries_the_client_address(
    pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    with GoHttpbin() as echo, Gateway(echo, tls=pki.server_context("gateway-ca", HOST)) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1",
            "--cacert", str(pki.directory / "gateway-ca.pem"),
        )  # fmt: skip
    assert (code, result["verdict"]) == (0, "ok"), result
    assert result["forwardedFor"] == ["127.0.0.1"] and result["url"].startswith("https://127.0.0.1:")
    assert result["tls"] == {
        "sni": HOST,
        "verified": True,
        "cacert": str(pki.directory / "gateway-ca.pem"),
        "version": "TLSv1.3",
    }


def test_a_certificate_from_another_ca_is_untrusted(pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo, tls=pki.server_context("gateway-ca", HOST)) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1",
            "--cacert", str(pki.directory / "other-ca.pem"),
        )  # fmt: skip
    assert (code, result["verdict"]) == (17, "tls-untrusted")
    assert "unable to get local issuer certificate" in result["diagnosis"]
    assert "--cacert" in result["hint"]


def test_the_system_store_does_not_trust_a_private_ca(pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo, tls=pki.server_context("gateway-ca", HOST)) as gateway:
        code, result = run_main(capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1")
    assert (code, result["verdict"]) == (17, "tls-untrusted")
    assert result["tls"]["verified"] is True and result["tls"]["cacert"] is None


def test_a_certificate_for_another_name_is_the_wrong_name(
    pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    context = pki.server_context("gateway-ca", "other.example.com")
    with GoHttpbin() as echo, Gateway(echo, tls=context) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1",
            "--cacert", str(pki.directory / "gateway-ca.pem"),
        )  # fmt: skip
    assert (code, result["verdict"]) == (18, "tls-wrong-name")
    assert "Hostname mismatch" in result["diagnosis"] and "tls.hosts" in result["hint"]


def test_insecure_skips_verification_and_says_so(pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    with (
        GoHttpbin() as echo,
        Gateway(echo, tls=pki.server_context("other-ca", "other.example.com")) as gateway,
    ):
        code = v.main(["--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1", "--insecure"])
        text = capsys.readouterr().out
        json_code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1", "--insecure"
        )
    assert code == json_code == 0
    assert "certificate NOT verified (--insecure)" in text
    assert result["tls"]["verified"] is False


def test_a_server_without_a_certificate_for_the_name_refuses_the_handshake(
    pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like a gateway with no TLS server for this SNI: the handshake ends before any HTTP."""
    context = pki.server_context("gateway-ca", "other.example.com", only_sni="other.example.com")
    with GoHttpbin() as echo, Gateway(echo, tls=context) as gateway:
        code, result = run_main(
            capsys, "--url", gateway.url, "--host", HOST, "--cacert", str(pki.directory / "gateway-ca.pem")
        )
    assert (code, result["verdict"]) == (19, "tls-handshake-reset")
    assert "during the TLS handshake" in result["diagnosis"] and "UNRECOGNIZED_NAME" in result["diagnosis"]
    assert "SNI" in result["hint"]


def test_a_server_that_closes_on_the_client_hello_is_a_handshake_reset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Like a PROXY-protocol listener that got a ClientHello instead of a PROXY header."""
    with RawServer(b"") as server:
        code, result = run_main(capsys, "--url", f"https://127.0.0.1:{server.port}", "--host", HOST)
    assert (code, result["verdict"]) == (19, "tls-handshake-reset")
    assert "closed the connection during the TLS handshake" in result["diagnosis"]
    assert "PROXY" in result["hint"]


def test_plain_http_to_a_tls_port(pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    with GoHttpbin() as echo, Gateway(echo, tls=pki.server_context("gateway-ca", HOST)) as gateway:
        code, result = run_main(
            capsys, "--url", f"http://127.0.0.1:{gateway.port}", "--host", HOST, "--expect-ip", "127.0.0.1"
        )
    assert (code, result["verdict"]) == (21, "plain-http-to-tls-port"), result
    assert "expects HTTPS" in result["diagnosis"] and "https://" in result["hint"]
    assert "tls" not in result  # a plain-HTTP run has no tls object


def test_tls_to_a_plain_http_port(capsys: pytest.CaptureFixture[str]) -> None:
    """A plain HTTP/1 server cannot parse a ClientHello and answers 400 in plain text."""
    bad_request = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 11\r\nconnection: close\r\n\r\nBad Request"
    with RawServer(bad_request) as server:
        code, result = run_main(capsys, "--url", f"https://127.0.0.1:{server.port}", "--host", HOST)
    assert (code, result["verdict"]) == (20, "tls-to-plain-port")
    assert "answered the TLS handshake with plain text ('HTTP/1.1 400 Bad Request')" in result["diagnosis"]


def test_a_plain_reset_on_a_port_that_does_not_speak_tls_stays_a_proxy_protocol_mismatch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with RawServer(b"") as server:
        code, result = run_main(capsys, "--url", server.url, "--host", HOST)
    assert (code, result["verdict"]) == (12, "proxy-protocol-mismatch")


def test_stack_with_tls_is_verified_over_https(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with GoHttpbin() as echo, Gateway(echo, tls=pki.server_context("gateway-ca", HOST)) as gateway:
        outputs = {"gatewayAddress": f"127.0.0.1:{gateway.port}", "echoHost": HOST, "tls": {"hosts": [HOST]}}
        monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_PULUMI_OUTPUTS", json.dumps(outputs))
        monkeypatch.setenv("FAKE_PULUMI_LOG", str(tmp_path / "pulumi.log"))
        code, result = run_main(
            capsys,
            "--stack",
            "dev",
            "--expect-ip",
            "127.0.0.1",
            "--cacert",
            str(pki.directory / "gateway-ca.pem"),
        )
    assert (code, result["verdict"]) == (0, "ok")
    assert result["url"] == f"https://127.0.0.1:{gateway.port}" and result["tls"]["sni"] == HOST


def test_stack_outputs_choose_the_scheme() -> None:
    base = {"gatewayAddress": "203.0.113.10", "echoHost": HOST}
    assert v.stack_target("s", base).url == "http://203.0.113.10"  # no TLS output: plain HTTP, as before
    assert v.stack_target("s", {**base, "tls": False}).url == "http://203.0.113.10"
    assert v.stack_target("s", {**base, "tls": {"hosts": [HOST]}}).url == "https://203.0.113.10"
    assert (
        v.stack_target("s", {**base, "httpsUrl": "https://203.0.113.10:8443"}).url
        == "https://203.0.113.10:8443"
    )
    with pytest.raises(v.UsageError, match="httpsUrl output is not an https:// URL"):
        v.stack_target("s", {**base, "httpsUrl": "http://203.0.113.10"})


def test_from_a_container_the_ca_file_is_copied_in(pki: Pki, tmp_path: Path) -> None:
    with GoHttpbin() as echo, Gateway(echo, tls=pki.server_context("gateway-ca", HOST)) as gateway:
        outputs = {"gatewayAddress": f"127.0.0.1:{gateway.port}", "echoHost": HOST, "tls": True}
        env = fake_env(tmp_path, FAKE_PULUMI_OUTPUTS=json.dumps(outputs), FAKE_DOCKER_IP="127.0.0.1")
        result = verify_cli(
            "--stack", "dev", "--from-docker-network", "kind",
            "--cacert", str(pki.directory / "gateway-ca.pem"),
            "--json", "--attempts", "1", "--timeout", "10", env=env,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["tls"]["verified"] is True
    calls = [json.loads(line) for line in (tmp_path / "docker" / "calls.log").read_text().splitlines()]
    assert [c[0] for c in calls] == ["create", "cp", "cp", "start", "inspect", "exec", "rm"]
    assert calls[2][1] == str(pki.directory / "gateway-ca.pem") and calls[2][2].endswith(":/verify-ca.pem")
    exec_args = calls[5]
    assert exec_args[exec_args.index("--cacert") + 1] == "/verify-ca.pem"  # the path inside the container
    assert exec_args[exec_args.index("--url") + 1] == f"https://127.0.0.1:{gateway.port}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://127.0.0.1", "--insecure"], "--cacert and --insecure apply to https:// URLs"),
        (["--url", "https://127.0.0.1", "--cacert", "/nonexistent/ca.pem"], "no such file"),
        (["--url", "https://127.0.0.1", "--cacert", __file__], "not a readable PEM file"),
        (["--url", "https://127.0.0.1", "--cacert", __file__, "--insecure"], "not allowed with argument"),
        (["--url", "https://127.0.0.1:99999"], "bad port"),
    ],
)
def test_tls_usage_errors_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert v.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


haproxy_missing = HAProxy.available()


@pytest.mark.skipif(haproxy_missing is not None, reason=str(haproxy_missing))
def test_tls_to_a_listener_that_expects_the_proxy_header_is_a_handshake_reset(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """HAProxy with accept-proxy drops a ClientHello that comes without the PROXY header first."""
    port = free_port()
    with (
        GoHttpbin() as echo,
        HAProxy.expecting_the_proxy_header(port, echo.port, "tcp"),
    ):
        wait_listening(port)
        code, result = run_main(capsys, "--url", f"https://127.0.0.1:{port}", "--host", HOST)
    assert (code, result["verdict"]) == (19, "tls-handshake-reset")
    assert "during the TLS handshake" in result["diagnosis"] and "PROXY" in result["hint"]


def test_a_kind_stack_trusts_its_quickstart_ca_read_from_the_cluster(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make verify STACK=dev` passes no --cacert: verify reads the CA Secret the stack names (kubectl)."""
    with GoHttpbin() as echo, Gateway(echo, tls=pki.server_context("gateway-ca", HOST)) as gateway:
        outputs = {
            "gatewayAddress": f"127.0.0.1:{gateway.port}",
            "echoHost": HOST,
            "tls": {"hosts": [HOST]},
            "quickstartCaSecret": "cert-manager/istio-source-ip-quickstart-ca",
        }
        monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_PULUMI_OUTPUTS", json.dumps(outputs))
        monkeypatch.setenv("FAKE_PULUMI_LOG", str(tmp_path / "pulumi.log"))
        monkeypatch.setenv("FAKE_KUBECTL_SECRET", "cert-manager/istio-source-ip-quickstart-ca")
        monkeypatch.setenv("FAKE_KUBECTL_CA", str(pki.directory / "gateway-ca.pem"))
        code, result = run_main(capsys, "--stack", "dev", "--expect-ip", "127.0.0.1")
        assert (code, result["verdict"]) == (0, "ok")
        monkeypatch.setenv("FAKE_KUBECTL_SECRET", "cert-manager/another")
        code = v.main(["--stack", "dev", "--expect-ip", "127.0.0.1", "--attempts", "1", "--timeout", "5"])
        err = capsys.readouterr().err
    assert code == 2
    assert "could not read the quickstart CA from Secret cert-manager/istio-source-ip-quickstart-ca" in err
    assert "pass --cacert FILE" in err


def test_a_ca_file_rewritten_in_place_is_read_again_while_an_unchanged_one_is_reused(
    pki: Pki, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """verify keeps one TLS context per CA file (a rate burst reuses it), keyed by the file's version."""
    cacert = tmp_path / "ca.pem"
    cacert.write_bytes((pki.directory / "other-ca.pem").read_bytes())
    os.utime(cacert, ns=(1, 1))
    with GoHttpbin() as echo, Gateway(echo, tls=pki.server_context("gateway-ca", HOST)) as gateway:
        args = ("--url", gateway.url, "--host", HOST, "--expect-ip", "127.0.0.1", "--cacert", str(cacert))
        assert run_main(capsys, *args)[1]["verdict"] == "tls-untrusted"
        assert v.TlsOptions(cacert=str(cacert)).context() is v.TlsOptions(cacert=str(cacert)).context()
        cacert.write_bytes((pki.directory / "gateway-ca.pem").read_bytes())
        os.utime(cacert, ns=(2, 2))
        assert run_main(capsys, *args)[1]["verdict"] == "ok"
