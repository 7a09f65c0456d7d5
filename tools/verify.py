"""verify: prove the real client IP arrives at the echo app, and say what is wrong when it does not.

    python -m tools.verify (--stack NAME | --url URL) [--host HOST] [--expect-ip IP | --whoami-url URL]
                           [--num-trusted-proxies N] [--header 'Name: value'] [--timeout S] [--json]
                           [--from-docker-network NETWORK [--image IMAGE]]

With --from-docker-network (e.g. kind) the request is sent from a throwaway container attached to
that Docker network, and the expected address is the container's own, read back from Docker: the
sender is known exactly. This works where the host cannot reach kind's network (Docker Desktop).

Requests /headers and /ip on the echo app through the gateway with the echo Host header and
compares the first X-Forwarded-For entry and X-Envoy-External-Address with the expected client
address (as addresses: any IPv6 spelling). Retries with backoff while the load balancer comes up;
--timeout bounds the whole run. Any answer gets a verdict. Exit codes (also in --json):

    0  ok                       the client address arrived
    2  usage                    bad arguments, or `pulumi stack output` failed
   10  address-lost             a different (node/LB/private) address arrived: ETP Local or PROXY protocol not in effect
   11  forged-xff               X-Forwarded-For has more entries than trusted hops: its first entry is client-controlled
   12  proxy-protocol-mismatch  reset, empty or non-HTTP reply, or HTTP 400, right after connect: one side sends or
                                expects the PROXY header and the other does not
   13  wrong-host               HTTP 404 from the gateway: no route for this Host header
   14  unreachable              timeout, DNS failure or connection refused (after the retries)
   15  lb-not-ready             the stack has no gateway address yet
   16  http-error               any other HTTP status, or an answer that is not the echo app's JSON
                                (truncated, too large, TLS on the port, not an object)
"""

from __future__ import annotations

import argparse
import http.client
import io
import ipaddress
import json
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

EXIT_CODES = {
    "ok": 0,
    "usage": 2,
    "address-lost": 10,
    "forged-xff": 11,
    "proxy-protocol-mismatch": 12,
    "wrong-host": 13,
    "unreachable": 14,
    "lb-not-ready": 15,
    "http-error": 16,
}
RETRYABLE = {"timeout", "refused", "dns", "unavailable"}
MAX_ANSWER_BYTES = 1 << 20
"""An echo answer is a few kB; a larger one is not the echo app, and is not read further."""
DEFAULT_TIMEOUT = 60.0
HEADERS_PATH = "/headers?show_env=1"
"""Classic httpbin hides X-Forwarded-For and friends unless show_env=1; go-httpbin ignores it."""


class UsageError(Exception):
    pass


@dataclass(frozen=True)
class Target:
    url: str
    """Base URL of the gateway, e.g. http://203.0.113.10 or http://127.0.0.1:8080."""
    host: str
    """Host header (the echo host the Istio Gateway and VirtualService answer for)."""
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url if "://" in self.url else f"http://{self.url}")
        if parts.scheme != "http" or not parts.hostname:
            raise UsageError(f"--url must be http://HOST[:PORT], got {self.url!r}")
        return parts.hostname, parts.port or 80


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8", "replace"))


class NetworkError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        """timeout | refused | dns | reset | empty | garbled | unavailable"""


Resolver = Callable[[str, int], tuple[str, int]]


def resolve(host: str, port: int) -> tuple[str, int]:
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise NetworkError("dns", f"cannot resolve {host}: {error.strerror}") from None
    return str(info[0][4][0]), port


class _Answer:
    """The bytes of a whole answer, as the socket http.client.HTTPResponse parses."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, *_: object, **__: object) -> io.BytesIO:
        return io.BytesIO(self.data)


def fetch(target: Target, path: str, deadline: float, resolver: Resolver = resolve) -> Response:
    """One GET that ends by `deadline` (time.monotonic), whatever the server does: every way it can
    fail becomes a NetworkError kind. The answer is read whole (Connection: close), then parsed."""
    ip, port = resolver(*target.address)
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {target.host}",
        "Accept: application/json",
        "Connection: close",
        *(f"{name}: {value}" for name, value in target.headers),
    ]
    try:
        with socket.create_connection((ip, port), timeout=_remaining(deadline, ip, port)) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            data = _read_all(sock, deadline, ip, port)
    except TimeoutError:
        raise NetworkError("timeout", f"no answer from {ip}:{port} within the time left") from None
    except ConnectionRefusedError:
        raise NetworkError("refused", f"connection refused by {ip}:{port}") from None
    except (ConnectionResetError, BrokenPipeError):
        raise NetworkError("reset", f"{ip}:{port} reset the connection") from None
    except OSError as error:
        raise NetworkError("refused", f"cannot connect to {ip}:{port}: {error.strerror or error}") from None
    return _parse(data, ip, port)


def _remaining(deadline: float, ip: str, port: int) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise NetworkError("timeout", f"no answer from {ip}:{port} within the time left")
    return left


def _read_all(sock: socket.socket, deadline: float, ip: str, port: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        sock.settimeout(_remaining(deadline, ip, port))  # a trickling server cannot stretch the deadline
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise NetworkError("too-large", f"{ip}:{port} sent more than {MAX_ANSWER_BYTES} bytes: not the echo app")
        chunks.append(chunk)


def _parse(data: bytes, ip: str, port: int) -> Response:
    if not data:
        raise NetworkError("empty", f"{ip}:{port} closed the connection without a reply")
    if data[:1] in (b"\x15", b"\x16") and data[1:2] == b"\x03":
        raise NetworkError("tls", f"{ip}:{port} answered with TLS: that port expects HTTPS, verify speaks plain HTTP")
    response = http.client.HTTPResponse(_Answer(data))  # type: ignore[arg-type]
    try:
        response.begin()
        body = response.read()
    except http.client.BadStatusLine as error:
        raise NetworkError(
            "garbled", f"{ip}:{port} answered with something that is not an HTTP response (starting {str(error)[:40]!r})"
        ) from None
    except http.client.IncompleteRead as error:
        raise NetworkError("truncated", f"{ip}:{port} cut the answer off after {len(error.partial)} bytes") from None
    except (http.client.HTTPException, ValueError) as error:
        raise NetworkError("malformed", f"{ip}:{port} sent a malformed HTTP answer: {error!s:.80}") from None
    return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


def header_values(headers: dict[str, Any], name: str) -> list[str]:
    """A header from /headers: go-httpbin gives lists, Python httpbin gives strings."""
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            values = value if isinstance(value, list) else [value]
            return [part.strip() for v in values for part in str(v).split(",") if part.strip()]
    return []


def same_address(a: str | None, b: str | None) -> bool:
    """Equal as IP addresses (any IPv6 spelling, IPv4-mapped IPv6 as IPv4), else as text."""
    if a is None or b is None:
        return a is b

    def parsed(text: str) -> object:
        try:
            ip = ipaddress.ip_address(text.strip().strip("[]"))
        except ValueError:
            return text.strip()
        return ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip

    return parsed(a) == parsed(b)


@dataclass
class Verdict:
    verdict: str
    diagnosis: str
    url: str
    host: str
    expected: str | None = None
    forwarded_for: list[str] = field(default_factory=list)
    external_address: str | None = None
    origin: str | None = None
    attempts: int = 0
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def as_json(self) -> str:
        """One object, camelCase keys throughout."""
        fields = {_camel(k): v for k, v in asdict(self).items()}
        return json.dumps({**fields, "ok": self.ok, "exitCode": self.exit_code}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        """A verdict another verify printed with --json (the one run in a container)."""
        data = json.loads(text)
        defaults = asdict(cls("http-error", "", "", ""))
        values = {name: data.get(_camel(name), default) for name, default in defaults.items()}
        if values["verdict"] not in EXIT_CODES:
            raise ValueError(f"unknown verdict {values['verdict']!r}")
        return cls(**values)

    def as_text(self) -> str:
        lines = [f"{'PASS' if self.ok else 'FAIL'} [{self.verdict}] {self.diagnosis}"]
        lines.append(f"  asked:    GET {self.url}{HEADERS_PATH}  Host: {self.host}  ({self.attempts} attempt(s))")
        if self.forwarded_for or self.external_address:
            lines.append(
                f"  arrived:  X-Forwarded-For: {', '.join(self.forwarded_for) or '-'}; "
                f"X-Envoy-External-Address: {self.external_address or '-'}; /ip origin: {self.origin or '-'}"
            )
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.hint:
            lines.append(f"  hint:     {self.hint}")
        return "\n".join(lines)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


def is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not ip.is_global


def diagnose(
    target: Target, headers: dict[str, Any], origin: str | None, expected: str | None, num_trusted_proxies: int, attempts: int
) -> Verdict:
    chain = header_values(headers, "X-Forwarded-For")
    externals = header_values(headers, "X-Envoy-External-Address")
    external = externals[0] if externals else None
    verdict = Verdict("ok", "", target.url, target.host, expected, chain, external, origin, attempts)
    first = chain[0] if chain else origin
    if len(chain) > num_trusted_proxies + 1:
        verdict.verdict = "forged-xff"
        verdict.diagnosis = (
            f"X-Forwarded-For has {len(chain)} entries but only {num_trusted_proxies} trusted hop(s) sit in "
            f"front of the gateway: the first entry ({chain[0]}) was supplied by the client, not "
            "by a proxy you trust"
        )
        verdict.hint = (
            "applications must not read the first X-Forwarded-For entry: use X-Envoy-External-Address, "
            "or the entry the gateway appended; if L7 proxies sit in front, set gateway.numTrustedProxies "
            "(with gateway.trustedHops: l7) and --num-trusted-proxies to their number"
        )
        return verdict
    if expected is None:
        if first and not is_private(first):
            verdict.diagnosis = f"a public client address arrived ({first}); pass --expect-ip to compare it exactly"
            return verdict
        verdict.verdict = "address-lost"
        verdict.diagnosis = f"the address that arrived ({first or 'none'}) is private: a node or load-balancer address"
        verdict.hint = (
            "if your client really is on a private network (kind, a VPN), pass --expect-ip with its "
            "address; otherwise externalTrafficPolicy Local or PROXY protocol is not in effect"
        )
        return verdict
    if same_address(first, expected) and (not external or same_address(external, expected)):
        verdict.diagnosis = f"the client address {expected} arrived at the echo app"
        return verdict
    verdict.verdict = "address-lost"
    kind = "a private (node or load-balancer) address" if first and is_private(first) else "another address"
    verdict.diagnosis = f"expected {expected} but {kind} arrived: {first or 'none'}"
    verdict.hint = (
        "passthrough LBs need externalTrafficPolicy: Local (and, on MetalLB, the announcing nodes "
        "running gateway pods); proxying LBs need PROXY protocol on the LB and "
        "gatewayTopology.proxyProtocol on the gateway — check `make render` and `pulumi stack output`"
    )
    return verdict


def network_verdict(target: Target, error: NetworkError, attempts: int, expected: str | None) -> Verdict:
    if error.kind in ("tls", "truncated", "too-large", "malformed"):
        return Verdict(
            "http-error",
            str(error),
            target.url,
            target.host,
            expected,
            attempts=attempts,
            hint={
                "tls": "point --url at the gateway's plain-HTTP port (80)",
                "truncated": "the connection broke mid-answer: retry, and check the gateway's logs",
            }.get(error.kind, "is the URL the gateway, and the Host routed to the echo app (go-httpbin)?"),
        )
    if error.kind in ("reset", "empty", "garbled"):
        return Verdict(
            "proxy-protocol-mismatch",
            f"{error}: the request was refused right after connect",
            target.url,
            target.host,
            expected,
            attempts=attempts,
            hint="one side speaks PROXY protocol and the other does not: the LB annotation and "
            "gatewayTopology.proxyProtocol must be set together (see the migration procedure)",
        )
    return Verdict(
        "unreachable",
        str(error),
        target.url,
        target.host,
        expected,
        attempts=attempts,
        hint={
            "dns": "check the address/hostname (pulumi stack output gatewayAddress)",
            "refused": "nothing listens there yet: is the LB provisioned and the gateway running?",
            "timeout": "a firewall, an LB still provisioning, or ETP Local with no gateway pod behind the announcing node",
        }.get(error.kind, ""),
    )


def http_verdict(target: Target, response: Response, attempts: int, expected: str | None) -> Verdict:
    if response.status == 400:
        return Verdict(
            "proxy-protocol-mismatch",
            "HTTP 400 right after connect: the request was not understood",
            target.url,
            target.host,
            expected,
            attempts=attempts,
            hint="a PROXY header reached a listener that does not expect it: the LB sends PROXY protocol "
            "but the gateway lacks gatewayTopology.proxyProtocol",
        )
    if response.status == 404:
        return Verdict(
            "wrong-host",
            f"HTTP 404 from the gateway for Host {target.host}: no route for it",
            target.url,
            target.host,
            expected,
            attempts=attempts,
            hint="use --host with the stack's echoHost (pulumi stack output echoHost); the Istio Gateway "
            "and VirtualService answer only for that host",
        )
    return Verdict(
        "http-error",
        f"HTTP {response.status} from {target.url}",
        target.url,
        target.host,
        expected,
        attempts=attempts,
        hint=response.body[:200].decode("utf-8", "replace"),
    )


def verify(
    target: Target,
    expected: str | None,
    num_trusted_proxies: int = 0,
    attempts: int = 6,
    timeout: float = DEFAULT_TIMEOUT,
    backoff: float = 1.0,
    resolver: Resolver = resolve,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> Verdict:
    """Ask the echo app what arrived, retrying (bounded, with backoff) while the LB comes up.
    `timeout` bounds the whole run: every connect, read and wait ends by the same deadline."""
    deadline = time.monotonic() + timeout
    delay = backoff
    for attempt in range(1, attempts + 1):
        try:
            response = fetch(target, HEADERS_PATH, deadline, resolver)
            if response.status in (502, 503, 504) and attempt < attempts:
                raise NetworkError("unavailable", f"HTTP {response.status} (no healthy upstream yet)")
            if response.status != 200:
                return http_verdict(target, response, attempt, expected)
            headers = _json_object(response).get("headers")
            if not isinstance(headers, dict):
                raise ValueError("its JSON has no `headers` object")
            ip_response = fetch(target, "/ip", deadline, resolver)
            origin = _json_object(ip_response).get("origin") if ip_response.status == 200 else None
            return diagnose(target, headers, str(origin) if origin is not None else None, expected, num_trusted_proxies, attempt)
        except NetworkError as error:
            left = deadline - time.monotonic()
            if error.kind not in RETRYABLE or attempt == attempts or left <= 0:
                return network_verdict(target, error, attempt, expected)
            wait = min(delay, left)
            progress(f"waiting for the gateway (attempt {attempt}/{attempts}): {error}; retrying in {wait:.3g}s")
            time.sleep(wait)
            delay = min(delay * 2, 10.0)
        except ValueError as error:
            return Verdict(
                "http-error",
                f"the answer is not the echo app's JSON: {error}",
                target.url,
                target.host,
                expected,
                attempts=attempt,
                hint="is the Host routed to the echo app (go-httpbin)?",
            )
    raise AssertionError("unreachable: the loop returns")


def _json_object(response: Response) -> dict[str, Any]:
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError(f"a JSON {type(data).__name__} where an object was expected")
    return data


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pulumi_env() -> dict[str, str]:
    """The Makefile's backend (a file backend in .pulumi-state, empty passphrase) unless the user set one."""
    env = dict(os.environ)
    env.setdefault("PULUMI_BACKEND_URL", "file://" + os.path.join(ROOT, ".pulumi-state"))
    env.setdefault("PULUMI_CONFIG_PASSPHRASE", "")
    return env


def stack_outputs(stack: str) -> dict[str, Any]:
    try:
        result = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
            capture_output=True,
            text=True,
            check=False,
            env=pulumi_env(),
            cwd=ROOT,
        )
    except FileNotFoundError:
        raise UsageError(
            "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/): use --url (and --host) instead of --stack"
        ) from None
    if result.returncode != 0:
        raise UsageError(f"pulumi stack output --stack {stack} failed: {result.stderr.strip()}")
    try:
        outputs = json.loads(result.stdout or "{}")
    except ValueError:
        raise UsageError(f"pulumi stack output --stack {stack} did not print JSON") from None
    if not isinstance(outputs, dict):
        raise UsageError(f"pulumi stack output --stack {stack} printed no object")
    return outputs


def discover_expected(whoami_url: str, timeout: float) -> str:
    """The caller's public address from a what-is-my-IP endpoint the user names (text or JSON)."""
    parts = urlsplit(whoami_url)
    if parts.scheme != "http" or not parts.hostname:
        raise UsageError(f"--whoami-url must be http://HOST[:PORT]/PATH, got {whoami_url!r}")
    target = Target(f"http://{parts.netloc}", parts.hostname)
    response = fetch(target, parts.path or "/", time.monotonic() + timeout)
    text = response.body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
        text = str(data.get("ip") or data.get("origin")) if isinstance(data, dict) else str(data)
    except ValueError:
        pass
    address = text.split(",")[0].strip()
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(f"--whoami-url answered {address[:60]!r}, which is not an IP address") from None
    return address


DEFAULT_IMAGE = "python:3.12-alpine"
"""Any image with python3 runs this file: it uses only the standard library."""


def _docker(*args: str, timeout: float = 120) -> str:
    try:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=timeout)
    except FileNotFoundError:
        raise UsageError("docker is not installed: --from-docker-network needs the Docker CLI") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"docker {args[0]} did not finish within {timeout:g}s") from None
    if result.returncode != 0:
        raise UsageError(f"docker {args[0]} failed: {result.stderr.strip()[:300]}")
    return result.stdout.strip()


def container_address(container: str, network: str) -> str:
    """The container's address on `network`, as Docker reports it (IPv4, else IPv6)."""
    try:
        networks = json.loads(_docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container) or "{}")
    except ValueError:
        raise UsageError("docker inspect did not print JSON") from None
    settings = networks.get(network) if isinstance(networks, dict) else None
    address = (settings or {}).get("IPAddress") or (settings or {}).get("GlobalIPv6Address")
    if not address:
        raise UsageError(f"the verify container has no address on Docker network {network!r}")
    return str(address)


def verify_from_container(
    network: str, image: str, url: str, host: str, expected: str | None, num_trusted_proxies: int, attempts: int, timeout: float
) -> tuple[int, str]:
    """Run this file in a container on `network`; return its exit code and its JSON verdict."""
    name = f"istio-source-ip-verify-{os.getpid()}"
    _docker("create", "--name", name, "--network", network, image, "sleep", str(int(timeout) + 60))
    try:
        _docker("cp", os.path.abspath(__file__), f"{name}:/verify.py")
        _docker("start", name)
        expect = expected or container_address(name, network)
        args = [
            "exec",
            name,
            "python3",
            "/verify.py",
            "--url",
            url,
            "--host",
            host,
            "--expect-ip",
            expect,
            "--num-trusted-proxies",
            str(num_trusted_proxies),
            "--attempts",
            str(attempts),
            "--timeout",
            f"{timeout:g}",
            "--json",
        ]
        result = subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=timeout + 30)
        if result.returncode not in EXIT_CODES.values() or not result.stdout.strip().startswith("{"):
            raise UsageError(f"verify in the container failed: {(result.stderr or result.stdout).strip()[:300]}")
        return result.returncode, result.stdout.strip()
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def _seconds(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {minimum}, got {text!r}")
        return value

    parse.__name__ = "whole number"
    return parse


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m tools.verify",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--stack",
        help="read gatewayAddress/echoHost from `pulumi stack output` (the Makefile's backend unless PULUMI_BACKEND_URL is set)",
    )
    source.add_argument("--url", help="base URL of the gateway, e.g. http://203.0.113.10")
    ap.add_argument("--host", help="Host header (default: the stack's echoHost, else the URL's host)")
    expectation = ap.add_mutually_exclusive_group()
    expectation.add_argument("--expect-ip", type=_ip, help="the client address that must arrive")
    expectation.add_argument("--whoami-url", help="an http:// what-is-my-IP endpoint you trust, to discover it")
    ap.add_argument(
        "--num-trusted-proxies",
        type=_count(0),
        metavar="N",
        help="L7 proxies in front that append X-Forwarded-For, as gateway.numTrustedProxies "
        "(default: the stack's numTrustedProxies, else 0)",
    )
    ap.add_argument("--header", action="append", default=[], help="extra request header 'Name: value'")
    ap.add_argument("--attempts", type=_count(1), default=6, help="at most this many tries (default 6)")
    ap.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds for the whole run, retries included (default {DEFAULT_TIMEOUT:g})",
    )
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout (for CI)")
    ap.add_argument(
        "--from-docker-network",
        metavar="NETWORK",
        help="send the request from a container on this Docker network (e.g. kind) and expect its address",
    )
    ap.add_argument("--image", default=DEFAULT_IMAGE, help=f"image of that container (default {DEFAULT_IMAGE})")
    return ap


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or bad arguments (2, usage printed)
        return int(stop.code or 0)
    try:
        hops = args.num_trusted_proxies
        if args.stack:
            outputs = stack_outputs(args.stack)
            if not outputs.get("gatewayAddress"):
                verdict = Verdict(
                    "lb-not-ready",
                    f"stack {args.stack} has no gateway address yet",
                    "",
                    "",
                    hint="wait for the LB, then `pulumi refresh` / `pulumi up` to record its address",
                )
                print(verdict.as_json() if args.json else verdict.as_text())
                return verdict.exit_code
            url, host = f"http://{outputs['gatewayAddress']}", args.host or outputs.get("echoHost")
            if hops is None:
                try:
                    hops = int(outputs.get("numTrustedProxies") or 0)
                except (TypeError, ValueError):
                    raise UsageError("the stack's numTrustedProxies output is not a number") from None
        else:
            url, host = args.url, args.host
        headers = []
        for header in args.header:
            name, sep, value = header.partition(":")
            if not sep or not name.strip():
                raise UsageError(f"--header must be 'Name: value', got {header!r}")
            headers.append((name.strip(), value.strip()))
        target = Target(url, host or urlsplit(url if "://" in url else f"http://{url}").hostname or "", tuple(headers))
        target.address  # noqa: B018 (validates the URL before any request)
        if args.from_docker_network:
            if args.whoami_url or headers:
                raise UsageError("--from-docker-network takes neither --whoami-url nor --header")
            code, answer = verify_from_container(
                args.from_docker_network,
                args.image,
                target.url,
                target.host,
                args.expect_ip,
                hops or 0,
                args.attempts,
                args.timeout,
            )
            verdict = Verdict.from_json(answer)
            print(verdict.as_json() if args.json else verdict.as_text())
            return code
        expected = args.expect_ip or (discover_expected(args.whoami_url, args.timeout) if args.whoami_url else None)
    except (UsageError, ValueError, NetworkError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CODES["usage"]

    verdict = verify(target, expected, hops or 0, attempts=args.attempts, timeout=args.timeout)
    print(verdict.as_json() if args.json else verdict.as_text())
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
