"""Verdicts: what arrived, compared with what should have, and a diagnosis and a hint for every kind.

`make_verdict` is the one place a Verdict is built; `HINTS` holds each kind's default hint.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .client import Response, Target
from .kinds import EXIT_CODES, Failure, Kind, NetworkError

HEADERS_PATH = "/headers?show_env=1"
"""Classic httpbin hides X-Forwarded-For and friends unless show_env=1; go-httpbin ignores it."""

MIGRATION = (
    "the LB annotation and gatewayTopology.proxyProtocol must be set together (switch in three steps with "
    "gateway.proxyProtocolMigration: docs/migration.md)"
)
HINTS: dict[Kind, str] = {
    Kind.OK: "",
    Kind.USAGE: "",
    Kind.ADDRESS_LOST: (
        "passthrough LBs need externalTrafficPolicy: Local (and, on MetalLB, the announcing nodes "
        "running gateway pods); proxying LBs need PROXY protocol on the LB and "
        "gatewayTopology.proxyProtocol on the gateway — check `make render` and `pulumi stack output`"
    ),
    Kind.FORGED_XFF: (
        "applications must not read the first X-Forwarded-For entry: use X-Envoy-External-Address, "
        "or the entry the gateway appended; if L7 proxies sit in front, set gateway.numTrustedProxies "
        "(with gateway.trustedHops: l7), or gateway.frontProxy for a CDN, and --num-trusted-proxies to the "
        "hops the gateway trusts (the stack's numTrustedProxies output)"
    ),
    Kind.PROXY_PROTOCOL_MISMATCH: f"one side speaks PROXY protocol and the other does not: {MIGRATION}",
    Kind.WRONG_HOST: (
        "use --host with the stack's echoHost (pulumi stack output echoHost); the Istio Gateway "
        "and VirtualService answer only for that host"
    ),
    Kind.UNREACHABLE: "nothing answered: is the LB provisioned and the gateway running?",
    Kind.LB_NOT_READY: "wait for the LB, then `pulumi refresh` / `pulumi up` to record its address",
    Kind.HTTP_ERROR: "is the URL the gateway, and the Host routed to the echo app (go-httpbin)?",
    Kind.TLS_UNTRUSTED: (
        "pass the CA that issued the gateway's certificate with --cacert FILE (e.g. the quickstart's "
        "self-signed CA), or --insecure to skip the check for this run only"
    ),
    Kind.TLS_WRONG_NAME: (
        "the certificate does not name the Host: --host must be one of the gateway's tls.hosts, and the "
        "certificate's dnsNames must list it (cert-manager: the Certificate's dnsNames)"
    ),
    Kind.TLS_HANDSHAKE_RESET: (
        "no TLS server for this name on the gateway (SNI not in its tls.hosts), a PROXY-protocol "
        "listener that got no PROXY header (set the LB annotation and gatewayTopology.proxyProtocol "
        "together), or the port is not TLS"
    ),
    Kind.TLS_TO_PLAIN_PORT: (
        "that port speaks plain HTTP: use http:// (port 80), or the gateway's HTTPS port (443)"
    ),
    Kind.PLAIN_HTTP_TO_TLS_PORT: "that port speaks TLS: use https:// (with --cacert if the CA is private)",
    Kind.VIA_HEADER_IGNORED: (
        "the gateway did not take the client address from the front proxy's header: set frontProxy on "
        "the gateway (its profile's header), and send from an address inside the proxy's ranges"
    ),
    Kind.VIA_HEADER_UNCONFIRMED: (
        "the echo app saw no X-Envoy-External-Address, so the address the gateway trusted cannot be read: "
        "Envoy sets that header only with use_remote_address (not with original_ip_detection_extensions); "
        "have the gateway add it from %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"
    ),
    Kind.NOT_RATE_LIMITED: (
        "no 429 within --rate requests: is rateLimit set on this gateway, and is N above "
        "requestsPerMinute + burst? The limit is per gateway replica"
    ),
    Kind.RATE_LIMIT_WITHOUT_RETRY_AFTER: (
        "the gateway's 429 must carry a retry-after header (rateLimit adds it)"
    ),
}


MEANINGS: dict[Kind, str] = {
    Kind.OK: (
        "the client address arrived (with --via-header: the header's; with --rate: a 429 with retry-after)"
    ),
    Kind.USAGE: "bad arguments, or a reader failed (`pulumi stack output`, docker); one line on stderr",
    Kind.ADDRESS_LOST: "a node, LB or other address arrived: ETP Local / PROXY protocol not in effect",
    Kind.FORGED_XFF: (
        "X-Forwarded-For has more entries than trusted hops: its first entry is client-controlled"
    ),
    Kind.PROXY_PROTOCOL_MISMATCH: (
        "reset, empty or non-HTTP reply, or HTTP 400, right after connect: the PROXY header on one side only"
    ),
    Kind.WRONG_HOST: "HTTP 404 from the gateway: no route for that Host",
    Kind.UNREACHABLE: "timeout, DNS failure or connection refused, after the retries",
    Kind.LB_NOT_READY: "the stack has no gateway address yet",
    Kind.HTTP_ERROR: (
        "any other status, or an answer that is not the echo app's JSON (cut off, too large, not an object)"
    ),
    Kind.TLS_UNTRUSTED: (
        "https: the certificate does not chain to a trusted CA (or is expired, not yet valid)"
    ),
    Kind.TLS_WRONG_NAME: "https: the certificate is valid but does not name the Host (the SNI sent)",
    Kind.TLS_HANDSHAKE_RESET: "https: the server closed, reset or refused (an alert) the TLS handshake",
    Kind.TLS_TO_PLAIN_PORT: "https: the port answered the ClientHello with plain text (an HTTP server)",
    Kind.PLAIN_HTTP_TO_TLS_PORT: (
        "http: the port answered with TLS, or closed and then completed a TLS handshake when asked"
    ),
    Kind.VIA_HEADER_IGNORED: (
        "--via-header: the gateway trusted another address (usually the sender's) than the header's"
    ),
    Kind.VIA_HEADER_UNCONFIRMED: (
        "--via-header: no X-Envoy-External-Address arrived, so the trusted address is unseen"
    ),
    Kind.NOT_RATE_LIMITED: "--rate N: N requests in a row, none answered HTTP 429",
    Kind.RATE_LIMIT_WITHOUT_RETRY_AFTER: "--rate N: an HTTP 429 came without a retry-after header",
}
"""What each kind means: the reference table of docs/verify.md is built from this and HINTS."""

VARIANTS: dict[str, tuple[Kind, str, str]] = {
    "no-expectation": (
        Kind.ADDRESS_LOST,
        "a private address arrived and nothing says which address to expect",
        "if your client really is on a private network (kind, a VPN), pass --expect-ip with its "
        "address; otherwise externalTrafficPolicy Local or PROXY protocol is not in effect",
    ),
    "http-400": (
        Kind.PROXY_PROTOCOL_MISMATCH,
        "HTTP 400 right after connect",
        "a PROXY header reached a listener that does not expect it: the LB sends PROXY protocol "
        "but the gateway lacks gatewayTopology.proxyProtocol",
    ),
    "via-403": (
        Kind.HTTP_ERROR,
        "HTTP 403 with --via-header",
        "a gateway with frontProxy refuses every direct peer outside the proxy's ranges "
        "(the DENY guard): that is the guard working; to test the header path, send from inside those ranges",
    ),
    "http-403": (
        Kind.HTTP_ERROR,
        "HTTP 403 without --via-header",
        "usually the program's AuthorizationPolicies: an allowlist that does not hold the address this "
        "request comes from, or a frontProxy guard refusing a direct peer outside the proxy's ranges "
        "(verify through the proxy, or with --via-header from an address inside them); a CDN's WAF or the "
        "app can answer 403 too",
    ),
    "not-json": (
        Kind.HTTP_ERROR,
        "HTTP 200 whose body is not the echo app's JSON object",
        "is the Host routed to the echo app (go-httpbin)?",
    ),
    "other-status": (
        Kind.HTTP_ERROR,
        "any other HTTP status",
        "(the first 200 characters of the answer's body)",
    ),
    Failure.TRUNCATED: (
        Kind.HTTP_ERROR,
        "the answer was cut off",
        "the connection broke mid-answer: retry, and check the gateway's logs",
    ),
    Failure.DNS: (
        Kind.UNREACHABLE,
        "the name does not resolve",
        "check the address/hostname (pulumi stack output gatewayAddress)",
    ),
    Failure.REFUSED: (
        Kind.UNREACHABLE,
        "connection refused",
        "nothing listens there yet: is the LB provisioned and the gateway running?",
    ),
    Failure.TIMEOUT: (
        Kind.UNREACHABLE,
        "no answer within --timeout",
        "a firewall, an LB still provisioning, or ETP Local with no gateway pod behind the announcing node",
    ),
}
"""Hints for particular cases of a kind (keyed by a name or a Failure), instead of the kind's default."""


def variant_hint(key: str) -> str:
    return VARIANTS[key][2]


@dataclass
class Verdict:
    verdict: Kind | str
    """A Kind once built (a kind's string value is accepted and converted; anything else is refused)."""
    diagnosis: str
    url: str
    host: str
    expected: str | None = None
    forwarded_for: list[str] = field(default_factory=list)
    external_address: str | None = None
    origin: str | None = None
    attempts: int = 0
    hint: str = ""
    tls: dict[str, Any] | None = None
    """Over https: sni, verified (false with --insecure), cacert, version. Absent in JSON over http."""
    via_header: dict[str, Any] | None = None
    """With --via-header: name and address sent. Absent in JSON otherwise."""
    rate: dict[str, Any] | None = None
    """With --rate: limit, sent, first429 (1-based, or null), retryAfter, seconds. Absent otherwise."""

    OPTIONAL = ("tls", "via_header", "rate")

    def __post_init__(self) -> None:
        self.verdict = Kind(self.verdict)

    @property
    def ok(self) -> bool:
        return self.verdict is Kind.OK

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def as_json(self) -> str:
        """One object, camelCase keys throughout; the optional objects only when their flag was used."""
        values = {k: v for k, v in asdict(self).items() if not (k in self.OPTIONAL and v is None)}
        fields_ = {_camel(k): v for k, v in values.items()}
        return json.dumps({**fields_, "ok": self.ok, "exitCode": self.exit_code}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        """A verdict another verify printed with --json (the one run in a container)."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a verdict is a JSON object")
        values = {f.name: data[_camel(f.name)] for f in fields(cls) if _camel(f.name) in data}
        if values.get("verdict") not in EXIT_CODES:
            raise ValueError(f"unknown verdict {values.get('verdict')!r}")
        return cls(**{"diagnosis": "", "url": "", "host": "", **values})

    def as_text(self) -> str:
        lines = [f"{'PASS' if self.ok else 'FAIL'} [{self.verdict}] {self.diagnosis}"]
        lines.append(
            f"  asked:    GET {self.url}{HEADERS_PATH}  Host: {self.host}  ({self.attempts} attempt(s))"
        )
        if self.tls:
            check = (
                f"certificate checked against {self.tls.get('cacert') or 'the system CAs'}"
                if self.tls.get("verified")
                else "certificate NOT verified (--insecure): any server on the path could have answered"
            )
            version = self.tls.get("version") or "no handshake"
            lines.append(f"  tls:      SNI {self.tls.get('sni')}; {version}; {check}")
        if self.via_header:
            lines.append(
                f"  sent:     {self.via_header['name']}: {self.via_header['address']} "
                "(as a front proxy would)"
            )
        if self.forwarded_for or self.external_address:
            lines.append(
                f"  arrived:  X-Forwarded-For: {', '.join(self.forwarded_for) or '-'}; "
                f"X-Envoy-External-Address: {self.external_address or '-'}; /ip origin: {self.origin or '-'}"
            )
        if self.rate:
            first = self.rate.get("first429")
            lines.append(
                f"  rate:     {self.rate.get('sent')} of at most {self.rate.get('limit')} request(s) in "
                f"{self.rate.get('seconds')}s; first 429: {first or '-'}; "
                f"retry-after: {self.rate.get('retryAfter') or '-'}"
            )
        if self.expected:
            lines.append(f"  expected: {self.expected}")
        if self.hint:
            lines.append(f"  hint:     {self.hint}")
        return "\n".join(lines)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


def make_verdict(
    kind: Kind,
    diagnosis: str,
    target: Target | None,
    *,
    expected: str | None = None,
    attempts: int = 0,
    hint: str | None = None,
    tls_version: str | None = None,
    **observed: Any,
) -> Verdict:
    """The one way a Verdict is built: the target's URL, Host and TLS settings, the kind's default hint
    unless one is given, and whatever was observed (forwarded_for, external_address, origin, rate)."""
    tls = None
    via = observed.pop("via_header", None)
    if target is not None and target.secure:
        tls = {
            "sni": target.host,
            "verified": not target.tls.insecure,
            "cacert": target.tls.cacert,
            "version": tls_version,
        }
    return Verdict(
        kind,
        diagnosis,
        target.url if target else "",
        target.host if target else "",
        expected,
        attempts=attempts,
        hint=HINTS[kind] if hint is None else hint,
        tls=tls,
        via_header=via,
        **observed,
    )


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


def is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not ip.is_global


def _arrived(headers: dict[str, Any]) -> tuple[list[str], str | None]:
    """X-Forwarded-For as it arrived, and the first X-Envoy-External-Address (the address Envoy trusted)."""
    externals = header_values(headers, "X-Envoy-External-Address")
    return header_values(headers, "X-Forwarded-For"), externals[0] if externals else None


def _verdict_for(
    target: Target, *, expected: str | None, attempts: int, tls_version: str | None, **seen: Any
) -> Callable[..., Verdict]:
    """`verdict(kind, diagnosis, hint=None)` for one request: make_verdict with what it observed."""

    def verdict(kind: Kind, diagnosis: str, hint: str | None = None) -> Verdict:
        return make_verdict(
            kind,
            diagnosis,
            target,
            expected=expected,
            attempts=attempts,
            hint=hint,
            tls_version=tls_version,
            **seen,
        )

    return verdict


def diagnose(
    target: Target,
    headers: dict[str, Any],
    origin: str | None,
    expected: str | None,
    num_trusted_proxies: int,
    attempts: int,
    tls_version: str | None = None,
) -> Verdict:
    """The echo app's view of the request (its /headers and /ip answers) against the expected address."""
    chain, external = _arrived(headers)
    seen: dict[str, Any] = {"forwarded_for": chain, "external_address": external, "origin": origin}
    verdict = _verdict_for(target, expected=expected, attempts=attempts, tls_version=tls_version, **seen)

    first = chain[0] if chain else origin
    if len(chain) > num_trusted_proxies + 1:
        return verdict(
            Kind.FORGED_XFF,
            f"X-Forwarded-For has {len(chain)} entries but only {num_trusted_proxies} trusted hop(s) sit in "
            f"front of the gateway: the first entry ({chain[0]}) was supplied by the client, not "
            "by a proxy you trust",
        )
    if expected is None:
        if first and not is_private(first):
            return verdict(
                Kind.OK, f"a public client address arrived ({first}); pass --expect-ip to compare it exactly"
            )
        return verdict(
            Kind.ADDRESS_LOST,
            f"the address that arrived ({first or 'none'}) is private: a node or load-balancer address",
            variant_hint("no-expectation"),
        )
    if same_address(first, expected) and (not external or same_address(external, expected)):
        return verdict(Kind.OK, f"the client address {expected} arrived at the echo app")
    kind = "a private (node or load-balancer) address" if first and is_private(first) else "another address"
    return verdict(Kind.ADDRESS_LOST, f"expected {expected} but {kind} arrived: {first or 'none'}")


def diagnose_via(
    target: Target,
    headers: dict[str, Any],
    origin: str | None,
    via: tuple[str, str],
    attempts: int,
    tls_version: str | None = None,
) -> Verdict:
    """--via-header: the address the gateway trusted (X-Envoy-External-Address) must be the header's.
    X-Forwarded-For proves nothing here: it may carry the very value verify sent."""
    name, address = via
    chain, external = _arrived(headers)
    seen: dict[str, Any] = {
        "forwarded_for": chain,
        "external_address": external,
        "origin": origin,
        "via_header": {"name": name, "address": address},
    }
    verdict = _verdict_for(target, expected=address, attempts=attempts, tls_version=tls_version, **seen)

    if external is None:
        return verdict(
            Kind.VIA_HEADER_UNCONFIRMED,
            f"sent {name}: {address}, but no X-Envoy-External-Address arrived: "
            "which address the gateway trusted is not visible",
        )
    if same_address(external, address):
        return verdict(Kind.OK, f"the gateway took the client address {address} from {name}, not the peer's")
    peer = chain[-1] if chain else origin
    whose = "the peer's address" if peer and same_address(external, peer) else "another address"
    return verdict(
        Kind.VIA_HEADER_IGNORED,
        f"sent {name}: {address}, but the gateway trusted {whose}: {external}",
    )


NETWORK_KINDS: dict[Failure, Kind] = {
    Failure.TLS_ANSWER: Kind.PLAIN_HTTP_TO_TLS_PORT,
    Failure.TRUNCATED: Kind.HTTP_ERROR,
    Failure.TOO_LARGE: Kind.HTTP_ERROR,
    Failure.MALFORMED: Kind.HTTP_ERROR,
    Failure.RESET: Kind.PROXY_PROTOCOL_MISMATCH,
    Failure.EMPTY: Kind.PROXY_PROTOCOL_MISMATCH,
    Failure.GARBLED: Kind.PROXY_PROTOCOL_MISMATCH,
    Failure.TLS_UNTRUSTED: Kind.TLS_UNTRUSTED,
    Failure.TLS_WRONG_NAME: Kind.TLS_WRONG_NAME,
    Failure.TLS_HANDSHAKE: Kind.TLS_HANDSHAKE_RESET,
    Failure.TLS_PLAIN_ANSWER: Kind.TLS_TO_PLAIN_PORT,
}
"""Each network failure's verdict; the rest (timeout, refused, dns, unavailable) is `unreachable`."""


def network_verdict(target: Target, error: NetworkError, attempts: int, expected: str | None) -> Verdict:
    kind = NETWORK_KINDS.get(error.kind, Kind.UNREACHABLE)
    diagnosis = str(error)
    if kind is Kind.PROXY_PROTOCOL_MISMATCH:
        diagnosis = f"{error}: the request was refused right after connect"
    hint = variant_hint(error.kind) if error.kind in VARIANTS else HINTS[kind]
    return make_verdict(kind, diagnosis, target, expected=expected, attempts=attempts, hint=hint)


def http_verdict(
    target: Target,
    response: Response,
    attempts: int,
    expected: str | None,
    via: tuple[str, str] | None = None,
) -> Verdict:
    """A status other than 200 on the address check (502-504 are retried first)."""

    verdict = _verdict_for(target, expected=expected, attempts=attempts, tls_version=response.tls_version)

    if response.status == 400:
        return verdict(
            Kind.PROXY_PROTOCOL_MISMATCH,
            "HTTP 400 right after connect: the request was not understood",
            variant_hint("http-400"),
        )
    if response.status == 404:
        return verdict(Kind.WRONG_HOST, f"HTTP 404 from the gateway for Host {target.host}: no route for it")
    body = response.body[:200].decode("utf-8", "replace")
    if response.status == 403 and via:
        return verdict(
            Kind.HTTP_ERROR,
            f"HTTP 403 from {target.url} with {via[0]}: {via[1]}: the gateway refused this sender",
            variant_hint("via-403"),
        )
    if response.status == 403:
        said = " ".join(body.split()) or "no body"
        return verdict(
            Kind.HTTP_ERROR,
            f"HTTP 403 from {target.url}: the gateway refused this sender ({said})",
            variant_hint("http-403"),
        )
    return verdict(Kind.HTTP_ERROR, f"HTTP {response.status} from {target.url}", body)
