"""Real servers on 127.0.0.1 for the verify tests: echo apps, a gateway stand-in, HAProxy.

- `GoHttpbin`: answers like mccutchen/go-httpbin (header values are lists).
- `PypiHttpbin`: the PyPI `httpbin` app served by Werkzeug (header values are strings).
- `Gateway`: does what the Istio ingress gateway does to the request: routes only its Host
  (404 otherwise), appends the peer address to X-Forwarded-For and sets X-Envoy-External-Address
  to the entry `trusted_hops` from the end. `snat_to` replaces the peer with a node address, as
  kube-proxy does with externalTrafficPolicy Cluster; `proxy_protocol=True` requires a PROXY v1
  header first (Envoy's strict listener filter) and takes the client address from it.
  `tls=` serves it over TLS (a certificate from `Pki`); `client_header=` takes the client address
  from that header when the peer is in `trusted_peers` (else 403, as the frontProxy DENY guard does),
  and `external_header=False` leaves X-Envoy-External-Address out (Envoy with
  original_ip_detection_extensions and no use_remote_address).
- `Pki`: a CA and server certificates made with the `openssl` CLI in a temporary directory.
- `RateLimited`: the echo app behind a limit of K requests per client address (or per the value of a
  header), answering 429 with an optional retry-after afterwards.
- `HAProxy`: Debian's haproxy as the real PROXY-protocol peer (started per test).
- `run_main`: verify's main with --json, one attempt and a time budget: (exit code, the verdict).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import verify

HOST = "echo.example.com"
"""The Host the stand-in gateways route (and the TLS server name of their certificates)."""


def run_main(capsys: pytest.CaptureFixture[str], *args: str, timeout: float = 5) -> tuple[int, dict]:
    """verify's main with --json, one attempt and `timeout` seconds: (exit code, the verdict object)."""
    code = verify.main([*args, "--json", "--attempts", "1", "--timeout", f"{timeout:g}"])
    return code, json.loads(capsys.readouterr().out)


def ipv6_loopback_missing() -> str | None:
    """None if a server can listen on [::1] here, else why not (IPv6 switched off in this host)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as error:
        return f"no IPv6 loopback here: {error}"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout: float = 5.0, family: str = "127.0.0.1") -> None:
    """Wait until something listens on `port` of `family`'s loopback (127.0.0.1, or ::1)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET6 if ":" in family else socket.AF_INET) as s:
            if s.connect_ex((family, port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {family}:{port}")


class _Server:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.port = server.server_address[1]
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host = str(self.server.server_address[0])
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *_: object) -> None:
        pass

    def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _GoHttpbinHandler(_Quiet):
    def do_GET(self) -> None:
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.title(), []).append(value)
        xff = headers.get("X-Forwarded-For", [""])[0].split(",")[0].strip()
        path = self.path.split("?", 1)[0]  # go-httpbin ignores query parameters it does not know
        if path == "/headers":
            self.reply(200, json.dumps({"headers": headers}).encode())
        elif path == "/ip":
            self.reply(200, json.dumps({"origin": xff or self.client_address[0]}).encode())
        else:
            self.reply(404, b"{}")


class _Ipv6HTTPServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def http_server(bind: str, port: int, handler: Any) -> ThreadingHTTPServer:
    """A threading HTTP server on `bind` (127.0.0.1, or ::1 for an IPv6 client)."""
    return (_Ipv6HTTPServer if ":" in bind else ThreadingHTTPServer)((bind, port), handler)


def GoHttpbin(bind: str = "127.0.0.1") -> _Server:  # noqa: N802 (reads like the server it stands for)
    return _Server(http_server(bind, 0, _GoHttpbinHandler))


def PypiHttpbin() -> _Server:  # noqa: N802
    import httpbin
    from werkzeug.serving import make_server

    return _Server(make_server("127.0.0.1", 0, httpbin.app, threaded=True))


class _TlsHTTPServer(ThreadingHTTPServer):
    """Accepts plain TCP and runs the TLS handshake in the connection's own thread."""

    context: ssl.SSLContext

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, *_: object) -> None:
        pass  # a failed handshake is what some tests are about


class _GatewayHandler(_Quiet):
    config: dict[str, Any]

    def setup(self) -> None:
        self.tls_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)
            try:
                self.request.do_handshake()
            except (ssl.SSLError, OSError):
                self.tls_failed = True
        super().setup()

    def handle(self) -> None:
        if self.tls_failed:
            return
        self.proxy_source: str | None = None
        if self.config["proxy_protocol"]:
            line = self.rfile.readline(108)
            if not line.startswith(b"PROXY "):
                self.close_connection = True  # strict: no header, no request
                return
            self.proxy_source = line.split()[2].decode()
        super().handle()

    def do_GET(self) -> None:
        cfg = self.config
        if self.headers.get("Host", "").split(":")[0] != cfg["host"]:
            self.reply(404, b"", "text/plain")
            return
        peer = cfg["snat_to"] or self.proxy_source or self.client_address[0]
        chain = [p.strip() for p in self.headers.get("X-Forwarded-For", "").split(",") if p.strip()] + [peer]
        external = chain[-(cfg["trusted_hops"] + 1)] if len(chain) > cfg["trusted_hops"] else chain[0]
        if cfg["client_header"]:
            trusted = any(ipaddress.ip_address(peer) in ipaddress.ip_network(n) for n in cfg["trusted_peers"])
            if not trusted:
                self.reply(403, b"RBAC: access denied", "text/plain")
                return
            external = self.headers.get(cfg["client_header"], peer).strip()
        upstream = http.client.HTTPConnection("127.0.0.1", cfg["upstream_port"], timeout=5)
        dropped = ("x-forwarded-for", "connection", "x-envoy-external-address")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
        headers["X-Forwarded-For"] = ", ".join(chain)
        if cfg["external_header"]:
            headers["X-Envoy-External-Address"] = external
        upstream.request("GET", self.path, headers=headers)
        response = upstream.getresponse()
        self.reply(response.status, response.read(), response.getheader("Content-Type", "application/json"))
        upstream.close()


def Gateway(  # noqa: N802 (reads like the server it stands for)
    upstream: _Server,
    host: str = "echo.example.com",
    trusted_hops: int = 0,
    snat_to: str | None = None,
    proxy_protocol: bool = False,
    port: int = 0,
    tls: ssl.SSLContext | None = None,
    client_header: str | None = None,
    trusted_peers: tuple[str, ...] = ("127.0.0.0/8",),
    external_header: bool = True,
    bind: str = "127.0.0.1",
) -> _Server:
    handler = type(
        "Handler",
        (_GatewayHandler,),
        {
            "config": {
                "upstream_port": upstream.port,
                "host": host,
                "trusted_hops": trusted_hops,
                "snat_to": snat_to,
                "proxy_protocol": proxy_protocol,
                "client_header": client_header,
                "trusted_peers": trusted_peers,
                "external_header": external_header,
            }
        },
    )
    if tls is None:
        return _Server(http_server(bind, port, handler))
    server_class = type("TlsServer", (_TlsHTTPServer,), {"context": tls})
    return _TlsServer(server_class(("127.0.0.1", port), handler))


class _TlsServer(_Server):
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


class Pki:
    """A CA and server certificates made by the `openssl` CLI in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @staticmethod
    def missing() -> str | None:
        """None if the openssl CLI can run here, else the reason it cannot."""
        if shutil.which("openssl") is None:
            return "the openssl CLI is not installed (Debian package openssl): the TLS tests need it"
        return None

    def _openssl(self, *args: str) -> None:
        subprocess.run(["openssl", *args], cwd=self.directory, check=True, capture_output=True, timeout=30)

    def ca(self, name: str) -> Path:
        """A self-signed CA named `name`: returns its certificate (the key is beside it)."""
        self._openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        return self.directory / f"{name}.pem"

    def server(self, ca: str, dns_name: str) -> tuple[Path, Path]:
        """A server certificate for `dns_name` signed by CA `ca`: (certificate, key)."""
        stem = f"{dns_name}-by-{ca}"
        (self.directory / f"{stem}.ext").write_text(
            f"subjectAltName=DNS:{dns_name}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        )
        self._openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={dns_name}",
        )  # fmt: skip
        self._openssl(
            "x509", "-req", "-in", f"{stem}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-out", f"{stem}.pem", "-days", "2", "-extfile", f"{stem}.ext",
        )  # fmt: skip
        return self.directory / f"{stem}.pem", self.directory / f"{stem}.key"

    def server_context(self, ca: str, dns_name: str, only_sni: str | None = None) -> ssl.SSLContext:
        """A server context with that certificate; `only_sni` refuses any other server name with the
        unrecognized_name alert (a gateway without a TLS server for the name)."""
        cert, key = self.server(ca, dns_name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if only_sni:

            def check(_: Any, name: str | None, __: Any) -> int | None:
                return None if name == only_sni else ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME

            context.sni_callback = check
        return context


class _RateLimitedHandler(_GoHttpbinHandler):
    config: dict[str, Any]

    def do_GET(self) -> None:
        cfg = self.config
        key = self.headers.get(cfg["key_header"], "") if cfg["key_header"] else self.client_address[0]
        with cfg["lock"]:
            cfg["counts"][key] = cfg["counts"].get(key, 0) + 1
            over = cfg["counts"][key] > cfg["limit"]
        if over:
            self.send_response(429)
            if cfg["retry_after"] is not None:
                self.send_header("retry-after", cfg["retry_after"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


def RateLimited(  # noqa: N802 (reads like the server it stands for)
    limit: int, retry_after: str | None = "60", key_header: str | None = None
) -> _Server:
    """The echo app behind a limit of `limit` requests per client (or per `key_header` value)."""
    config: dict[str, Any] = {
        "limit": limit,
        "retry_after": retry_after,
        "key_header": key_header,
        "counts": {},
        "lock": threading.Lock(),
    }
    handler = type("Handler", (_RateLimitedHandler,), {"config": config})
    server = _Server(ThreadingHTTPServer(("127.0.0.1", 0), handler))
    server.counts = config["counts"]  # type: ignore[attr-defined]
    return server


class HAProxy:
    """haproxy in the foreground with the given frontends; ports allocated here."""

    def __init__(self, config_body: str) -> None:
        self.config_body = config_body
        self.process: subprocess.Popen[bytes] | None = None
        self.directory = tempfile.TemporaryDirectory()

    @classmethod
    def expecting_the_proxy_header(cls, port: int, backend_port: int, mode: str) -> HAProxy:
        """A listener on `port` that requires the PROXY header (`accept-proxy`), as a gateway with
        gatewayTopology.proxyProtocol does, in front of `backend_port` (mode http or tcp)."""
        return cls(
            f"frontend strict\n  mode {mode}\n  bind 127.0.0.1:{port} accept-proxy\n"
            f"  default_backend echo\nbackend echo\n  mode {mode}\n  server s1 127.0.0.1:{backend_port}\n"
        )

    @staticmethod
    def available() -> str | None:
        """None if haproxy can run here, else the reason it cannot."""
        if shutil.which("haproxy") is None:
            return "haproxy is not installed (Debian package haproxy; .ci/run installs it)"
        return None

    def __enter__(self) -> HAProxy:
        config = Path(self.directory.name) / "haproxy.cfg"
        config.write_text(
            "global\n  maxconn 64\ndefaults\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n"
            + self.config_body
        )
        self.process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        return self

    def __exit__(self, *_: object) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=5)
        self.directory.cleanup()


class RawServer:
    """Sends the same raw bytes to each connection on 127.0.0.1 (bytewise if `trickle`), then closes."""

    def __init__(self, raw: bytes, trickle: float = 0.0) -> None:
        self.raw, self.trickle = raw, trickle
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            if self.stop.is_set():  # the wake-up connection of __exit__
                conn.close()
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(2)
                conn.recv(65536)  # the request
                if self.trickle:
                    for byte in self.raw:
                        if self.stop.is_set():
                            return
                        conn.sendall(bytes([byte]))
                        time.sleep(self.trickle)
                else:
                    conn.sendall(self.raw)
            except OSError:
                return

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        try:  # wake the accept now rather than at its next timeout
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self.thread.join(timeout=2)
        self.sock.close()
