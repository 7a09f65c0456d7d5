"""The HTTP/TLS client: one bounded GET over plain HTTP or TLS, every failure a NetworkError kind.

The TLS handshake runs over memory BIOs (ssl.SSLObject) so that the raw bytes a server sends back
are seen: an HTTP answer to a ClientHello is told apart from a reset or an alert.
"""

from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import json
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from .kinds import Failure, NetworkError, UsageError

MAX_ANSWER_BYTES = 1 << 20
"""An echo answer is a few kB; a larger one is not the echo app, and is not read further."""
DEFAULT_PORTS = {"http": 80, "https": 443}
HOSTNAME_MISMATCH = frozenset({62, 64})
"""OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH (include/openssl/x509_vfy.h)."""


@dataclass(frozen=True)
class TlsOptions:
    cacert: str | None = None
    """A PEM file of CAs to trust instead of the system's."""
    insecure: bool = False
    """Skip certificate verification (the output says so)."""

    def context(self) -> ssl.SSLContext:
        """One context per option set and CA file version in a process: building one loads the CA store
        (about 30 ms), which a rate burst or a fleet's verify would otherwise pay for every request."""
        try:
            stat = os.stat(self.cacert) if self.cacert else None
        except OSError:
            stat = None  # create_default_context says what is wrong with it
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino) if stat else None
        return _context(self.insecure, self.cacert, version)


@functools.lru_cache(maxsize=16)
def _context(insecure: bool, cacert: str | None, _version: tuple[int, int, int] | None) -> ssl.SSLContext:
    if insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    try:
        return ssl.create_default_context(cafile=cacert)
    except (OSError, ssl.SSLError) as error:
        raise UsageError(f"--cacert {cacert}: not a readable PEM file of certificates ({error})") from None


def host_header(host: str) -> str:
    """The Host header's value: an IPv6 literal in brackets (RFC 9110 uri-host, RFC 3986 IP-literal);
    anything else as it is."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def url_parts(url: str) -> SplitResult:
    """A --url split, `http://` when it names no scheme."""
    return urlsplit(url if "://" in url else f"http://{url}")


def is_tls_record(data: bytes, content_types: tuple[bytes, ...] = (b"\x15", b"\x16")) -> bool:
    """`data` starts like a TLS record: a content type (by default an alert or a handshake) and major
    version 3."""
    return data[:1] in content_types and data[1:2] == b"\x03"


@dataclass(frozen=True)
class Target:
    url: str
    """Base URL of the gateway, e.g. http://203.0.113.10, https://203.0.113.10 or http://127.0.0.1:8080."""
    host: str
    """Host header, and the TLS server name (SNI) over https (the echo host the gateway routes)."""
    headers: tuple[tuple[str, str], ...] = ()
    tls: TlsOptions = TlsOptions()

    @property
    def scheme(self) -> str:
        return url_parts(self.url).scheme

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    @property
    def address(self) -> tuple[str, int]:
        parts = url_parts(self.url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise UsageError(f"--url must be http://HOST[:PORT] or https://HOST[:PORT], got {self.url!r}")
        try:
            port = parts.port
        except ValueError:
            raise UsageError(f"--url has a bad port: {self.url!r}") from None
        return parts.hostname, port or DEFAULT_PORTS[parts.scheme]

    def with_headers(self, *extra: tuple[str, str]) -> Target:
        return Target(self.url, self.host, (*self.headers, *extra), self.tls)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    tls_version: str | None = None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8", "replace"))


Resolver = Callable[[str, int], tuple[str, int]]


def resolve(host: str, port: int) -> tuple[str, int]:
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise NetworkError(Failure.DNS, f"cannot resolve {host}: {error.strerror}") from None
    return str(info[0][4][0]), port


def fetch(target: Target, path: str, deadline: float, resolver: Resolver = resolve) -> Response:
    """One GET that ends by `deadline` (time.monotonic), whatever the server does: every way it can
    fail becomes a NetworkError kind. The answer is read whole (Connection: close), then parsed."""
    ip, port = resolver(*target.address)
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host_header(target.host)}",
        "Accept: application/json",
        "Connection: close",
        *(f"{name}: {value}" for name, value in target.headers),
    ]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    tls_version = None
    try:
        with socket.create_connection((ip, port), timeout=_remaining(deadline, ip, port)) as sock:
            if target.secure:
                channel = _TlsChannel(sock, target.tls.context(), target.host, deadline, f"{ip}:{port}")
                channel.handshake()
                tls_version = channel.version
                channel.sendall(request)
                data = channel.read_all()
            else:
                sock.sendall(request)
                data = _read_all(sock, deadline, ip, port)
    except TimeoutError:
        raise NetworkError(Failure.TIMEOUT, f"no answer from {ip}:{port} within the time left") from None
    except ConnectionRefusedError:
        raise NetworkError(Failure.REFUSED, f"connection refused by {ip}:{port}") from None
    except (ConnectionResetError, BrokenPipeError):
        raise NetworkError(Failure.RESET, f"{ip}:{port} reset the connection") from None
    except OSError as error:
        raise NetworkError(
            Failure.REFUSED, f"cannot connect to {ip}:{port}: {error.strerror or error}"
        ) from None
    return _parse(data, ip, port, tls_version)


def speaks_tls(target: Target, deadline: float, resolver: Resolver = resolve) -> bool:
    """Whether the target's port answers a TLS ClientHello with TLS (a handshake, an alert): asked
    once, without verification, after a plain-HTTP request got no answer."""
    ip, port = resolver(*target.address)
    context = TlsOptions(insecure=True).context()
    try:
        with socket.create_connection((ip, port), timeout=_remaining(deadline, ip, port)) as sock:
            channel = _TlsChannel(sock, context, target.host, deadline, f"{ip}:{port}")
            try:
                channel.handshake()
            except NetworkError:
                return is_tls_record(channel.first_bytes)
            return True
    except (OSError, NetworkError):
        return False


class _TlsChannel:
    """TLS over a connected socket through memory BIOs, bounded by `deadline`."""

    def __init__(
        self, sock: socket.socket, context: ssl.SSLContext, host: str, deadline: float, peer: str
    ) -> None:
        self.sock, self.deadline, self.peer = sock, deadline, peer
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        # An IP address as the host: Python sends no SNI for it and checks the certificate's IP SAN.
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=host or None)
        self.first_bytes = b""
        self.version: str | None = None

    def _flush(self) -> None:
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _receive(self) -> bool:
        self.sock.settimeout(_remaining(self.deadline, self.peer))
        data = self.sock.recv(65536)
        if not data:
            self.incoming.write_eof()
            return False
        if len(self.first_bytes) < 64:
            self.first_bytes += data[: 64 - len(self.first_bytes)]
        self.incoming.write(data)
        return True

    def handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                self._flush()
                self.version = self.tls.version()
                return
            except ssl.SSLWantReadError:
                self._flush()
                try:
                    if not self._receive():
                        self._failed(None)
                except (ConnectionResetError, BrokenPipeError):
                    self._failed("reset")
            except ssl.SSLCertVerificationError as error:
                kind = (
                    Failure.TLS_WRONG_NAME
                    if error.verify_code in HOSTNAME_MISMATCH
                    else Failure.TLS_UNTRUSTED
                )
                raise NetworkError(kind, f"{self.peer}: {error.verify_message}") from None
            except ssl.SSLError as error:
                self._failed(error.reason or str(error))

    def _failed(self, reason: str | None) -> None:
        first = self.first_bytes
        if first and not is_tls_record(first, (b"\x14", b"\x15", b"\x16", b"\x17")):
            text = first.split(b"\r\n")[0].decode("latin-1")
            raise NetworkError(
                Failure.TLS_PLAIN_ANSWER,
                f"{self.peer} answered the TLS handshake with plain text ({text!r}): not a TLS port",
            )
        how = {None: "closed the connection", "reset": "reset the connection"}.get(
            reason, f"failed it ({reason})"
        )
        raise NetworkError(Failure.TLS_HANDSHAKE, f"{self.peer} {how} during the TLS handshake")

    def sendall(self, data: bytes) -> None:
        self.tls.write(data)
        self._flush()

    def read_all(self) -> bytes:
        return _capped(self._chunks(), self.peer)

    def _chunks(self) -> Iterator[bytes]:
        while True:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                try:
                    self._receive()
                except (ConnectionResetError, BrokenPipeError):
                    return
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return  # close_notify, or a close without it (common with Connection: close)
            except ssl.SSLError as error:
                raise NetworkError(
                    Failure.MALFORMED, f"{self.peer} broke the TLS stream: {error.reason}"
                ) from None
            if not chunk:
                return
            yield chunk


def _remaining(deadline: float, ip: str, port: int | None = None) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        peer = ip if port is None else f"{ip}:{port}"
        raise NetworkError(Failure.TIMEOUT, f"no answer from {peer} within the time left")
    return left


def _read_all(sock: socket.socket, deadline: float, ip: str, port: int) -> bytes:
    def chunks() -> Iterator[bytes]:
        while True:
            sock.settimeout(_remaining(deadline, ip, port))  # a trickling server cannot stretch the deadline
            chunk = sock.recv(65536)
            if not chunk:
                return
            yield chunk

    return _capped(chunks(), f"{ip}:{port}")


def _capped(chunks: Iterator[bytes], peer: str) -> bytes:
    """The whole answer, refused once it passes MAX_ANSWER_BYTES."""
    read: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise NetworkError(
                Failure.TOO_LARGE, f"{peer} sent more than {MAX_ANSWER_BYTES} bytes: not the echo app"
            )
        read.append(chunk)
    return b"".join(read)


class _Answer:
    """The bytes of a whole answer, as the socket http.client.HTTPResponse parses."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, *_: object, **__: object) -> io.BytesIO:
        return io.BytesIO(self.data)


def _parse(data: bytes, ip: str, port: int, tls_version: str | None = None) -> Response:
    if not data:
        raise NetworkError(Failure.EMPTY, f"{ip}:{port} closed the connection without a reply")
    if is_tls_record(data):
        raise NetworkError(
            Failure.TLS_ANSWER,
            f"{ip}:{port} answered with TLS: that port expects HTTPS, and the request was plain HTTP",
        )
    response = http.client.HTTPResponse(_Answer(data))  # type: ignore[arg-type]
    try:
        response.begin()
        body = response.read()
    except http.client.BadStatusLine as error:
        raise NetworkError(
            Failure.GARBLED,
            f"{ip}:{port} answered with something that is not an HTTP response "
            f"(starting {str(error)[:40]!r})",
        ) from None
    except http.client.IncompleteRead as error:
        raise NetworkError(
            Failure.TRUNCATED, f"{ip}:{port} cut the answer off after {len(error.partial)} bytes"
        ) from None
    except (http.client.HTTPException, ValueError) as error:
        raise NetworkError(
            Failure.MALFORMED, f"{ip}:{port} sent a malformed HTTP answer: {error!s:.80}"
        ) from None
    return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, body, tls_version)
