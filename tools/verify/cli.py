"""verify: prove the real client IP arrives at the echo app, and say what is wrong when it does not.

    python -m tools.verify (--stack NAME | --url URL) [--host HOST] [--expect-ip IP | --whoami-url URL]
                           [--num-trusted-proxies N] [--header 'Name: value'] [--attempts N] [--timeout S]
                           [--cacert FILE | --insecure] [--via-header 'Name: address'] [--rate N] [--json]
                           [--from-docker-network NETWORK [--image IMAGE]]

Requests /headers and /ip on the echo app through the gateway with the echo Host header and
compares the first X-Forwarded-For entry and X-Envoy-External-Address with the expected client
address. Over https:// it connects to the URL's address and sends the Host as the TLS server name.
--via-header sends the request as a front proxy (CDN) would and checks that the gateway trusted the
header's address; --rate N sends up to N requests and reports the first 429. Any answer gets a
verdict; docs/verify.md is the reference, with every hint. Exit codes (also in --json):
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
import sys
from collections.abc import Callable

from .backend import describe
from .client import Target, url_parts
from .kinds import EXIT_CODES, Kind, NetworkError, UsageError
from .probe import DEFAULT_TIMEOUT, MAX_RATE, rate_probe, verify
from .readers import (
    DEFAULT_IMAGE,
    discover_expected,
    quickstart_ca,
    stack_outputs,
    stack_target,
    tls_options,
    verify_from_container,
)
from .verdicts import Verdict, make_verdict

TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""An HTTP header name (RFC 9110 token)."""


def _seconds(text: str) -> float:
    """An argparse type (verify's and fleet's): seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _count(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type (verify's and fleet's): a whole number from `minimum` (to `maximum`)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if maximum is not None and not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}, got {value}")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text!r}") from None


RESERVED_HEADERS = {"host": "--host", "connection": None, "content-length": None, "transfer-encoding": None}
"""Headers verify writes itself or that frame its request (a GET without a body, Connection: close): a
second copy would be a request the gateway may refuse (two Host headers) or read differently. Host is set
with --host."""


def _header_problem(name: str, value: str) -> str | None:
    """Why the header `name: value` cannot be sent as given (the end of one sentence), or None."""
    if name.lower() in RESERVED_HEADERS:
        instead = RESERVED_HEADERS[name.lower()]
        return (
            f"{name} is a header verify sets itself"
            + (f" (use {instead})" if instead else "")
            + f"; reserved: {', '.join(sorted(n.title() for n in RESERVED_HEADERS))}"
        )
    for part, what in ((name, "name"), (value, "value")):
        bad = next((c for c in part if ord(c) > 0xFF or c in "\r\n\0"), None)
        if bad is not None:
            return (
                f"the header {what} has {bad!r} (U+{ord(bad):04X}); allowed: Latin-1 "
                "characters (HTTP/1.1 sends header bytes as ISO-8859-1) without CR, LF or NUL"
            )
    return None


def _via(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not TOKEN.match(name.strip()):
        raise argparse.ArgumentTypeError(f"must be 'Name: address', got {text!r}")
    problem = _header_problem(name.strip(), "")
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return name.strip(), _ip(value)


def exit_code_table() -> str:
    return "\n".join(f"   {code:>2}  {kind}" for kind, code in EXIT_CODES.items())


def parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(
        prog="python -m tools.verify",
        description=doc.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc.split("\n\n", 2)[2] + "\n" + exit_code_table(),
    )
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--stack",
        help="read gatewayAddress/echoHost (and httpsUrl or tls, when present) from `pulumi stack output` "
        "(the Makefile's backend unless PULUMI_BACKEND_URL is set)",
    )
    source.add_argument(
        "--url", help="base URL of the gateway, e.g. http://203.0.113.10 or https://203.0.113.10"
    )
    ap.add_argument(
        "--host", help="Host header and TLS server name (default: the stack's echoHost, else the URL's host)"
    )
    expectation = ap.add_mutually_exclusive_group()
    expectation.add_argument("--expect-ip", type=_ip, help="the client address that must arrive")
    expectation.add_argument(
        "--whoami-url", help="an http(s):// what-is-my-IP endpoint you trust, to discover it"
    )
    ap.add_argument(
        "--num-trusted-proxies",
        type=_count(0),
        metavar="N",
        help="X-Forwarded-For hops the gateway trusts: gateway.numTrustedProxies, or 1 behind a "
        "gateway.frontProxy (default: the stack's numTrustedProxies output, else 0)",
    )
    ap.add_argument("--header", action="append", default=[], help="extra request header 'Name: value'")
    ap.add_argument("--attempts", type=_count(1), default=6, help="at most this many tries (default 6)")
    ap.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"seconds for the whole run, retries included (default {DEFAULT_TIMEOUT:g})",
    )
    trust = ap.add_mutually_exclusive_group()
    trust.add_argument(
        "--cacert", metavar="FILE", help="https: trust the CAs in this PEM file (not the system's)"
    )
    trust.add_argument(
        "--insecure", action="store_true", help="https: do not verify the certificate (said in the output)"
    )
    ap.add_argument(
        "--via-header",
        type=_via,
        metavar="'NAME: ADDRESS'",
        help="send this header as a front proxy (CDN) would, e.g. 'CF-Connecting-IP: 203.0.113.7'; "
        "the gateway "
        "must trust ADDRESS, not the sender's (replaces --expect-ip)",
    )
    ap.add_argument(
        "--rate",
        type=_count(1, MAX_RATE),
        metavar="N",
        help=f"send up to N requests (at most {MAX_RATE}, within --timeout) and report the first HTTP 429 "
        "and its retry-after; checks the rate limit instead of the address",
    )
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout (for CI)")
    ap.add_argument(
        "--from-docker-network",
        metavar="NETWORK",
        help="send the request from a container on this Docker network (e.g. kind) and expect its address",
    )
    ap.add_argument(
        "--image", default=DEFAULT_IMAGE, help=f"image of that container (default {DEFAULT_IMAGE})"
    )
    return ap


def _headers(raw: list[str]) -> tuple[tuple[str, str], ...]:
    """The --header values, each checked up front: a UsageError (exit 2) names the flag, the value and what
    is allowed."""
    headers = []
    for header in raw:
        name, sep, value = header.partition(":")
        if not sep or not TOKEN.match(name.strip()):
            raise UsageError(
                f"--header must be 'Name: value' with a header name of letters, digits and !#$%&'*+.^_`|~-, "
                f"got {header!r}"
            )
        problem = _header_problem(name.strip(), value.strip())
        if problem:
            raise UsageError(f"--header {header!r}: {problem}")
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


def _print(verdict: Verdict, as_json: bool) -> int:
    print(verdict.as_json() if as_json else verdict.as_text())
    return verdict.exit_code


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:  # --help (0) or bad arguments (2, usage printed)
        return int(stop.code or 0)
    try:
        hops = args.num_trusted_proxies
        if args.stack:
            print(describe(), file=sys.stderr)  # which backend the outputs come from
            outputs = stack_outputs(args.stack)
            if not outputs.get("gatewayAddress"):
                verdict = make_verdict(
                    Kind.LB_NOT_READY, f"stack {args.stack} has no gateway address yet", None
                )
                return _print(verdict, args.json)
            found = stack_target(args.stack, outputs)
            url, host = found.url, args.host or found.host
            if host is None:
                raise UsageError(
                    f"stack {args.stack} runs no echo app (echo.enabled: false), so there is no probe host "
                    "to call; name one with --host NAME: a host of yours whose Service answers /headers and "
                    "/ip as go-httpbin does (docs/routes.md), or turn the echo app on"
                )
            ca_secret = outputs.get("quickstartCaSecret")
            if url.startswith("https://") and ca_secret and not (args.cacert or args.insecure):
                args.cacert = quickstart_ca(str(ca_secret))  # the kind stacks' self-signed CA
            hops = found.num_trusted_proxies if hops is None else hops
        else:
            url, host = args.url, args.host
        target = Target(
            url,
            host or url_parts(url).hostname or "",
            _headers(args.header),
            tls_options(args.cacert, args.insecure),
        )
        target.address  # noqa: B018 (validates the URL before any request)
        if (args.cacert or args.insecure) and not target.secure:
            raise UsageError(f"--cacert and --insecure apply to https:// URLs; the URL is {target.url}")
        if args.via_header and (args.expect_ip or args.whoami_url):
            raise UsageError("--via-header names the expected address itself: drop --expect-ip/--whoami-url")
        if args.from_docker_network:
            if args.whoami_url or args.header or args.via_header or args.rate:
                raise UsageError(
                    "--from-docker-network takes neither --whoami-url, --header, --via-header nor --rate"
                )
            code, answer = verify_from_container(
                args.from_docker_network,
                args.image,
                target,
                args.expect_ip,
                hops or 0,
                args.attempts,
                args.timeout,
            )
            _print(Verdict.from_json(answer), args.json)
            return code
        if args.rate:
            return _print(rate_probe(target, args.rate, args.timeout, via=args.via_header), args.json)
        expected = args.expect_ip or (
            discover_expected(args.whoami_url, args.timeout) if args.whoami_url else None
        )
    except (UsageError, ValueError, NetworkError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CODES[Kind.USAGE]

    verdict = verify(
        target, expected, hops or 0, attempts=args.attempts, timeout=args.timeout, via=args.via_header
    )
    return _print(verdict, args.json)
