"""The verdict kinds (with their exit codes), the network failure kinds, and verify's two errors."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What verify concluded. The value is the `verdict` string of the JSON output; never renamed."""

    OK = "ok"
    USAGE = "usage"
    ADDRESS_LOST = "address-lost"
    FORGED_XFF = "forged-xff"
    PROXY_PROTOCOL_MISMATCH = "proxy-protocol-mismatch"
    WRONG_HOST = "wrong-host"
    UNREACHABLE = "unreachable"
    LB_NOT_READY = "lb-not-ready"
    HTTP_ERROR = "http-error"
    TLS_UNTRUSTED = "tls-untrusted"
    TLS_WRONG_NAME = "tls-wrong-name"
    TLS_HANDSHAKE_RESET = "tls-handshake-reset"
    TLS_TO_PLAIN_PORT = "tls-to-plain-port"
    PLAIN_HTTP_TO_TLS_PORT = "plain-http-to-tls-port"
    VIA_HEADER_IGNORED = "via-header-ignored"
    VIA_HEADER_UNCONFIRMED = "via-header-unconfirmed"
    NOT_RATE_LIMITED = "not-rate-limited"
    RATE_LIMIT_WITHOUT_RETRY_AFTER = "rate-limit-without-retry-after"


EXIT_CODES: dict[str, int] = {
    Kind.OK: 0,
    Kind.USAGE: 2,
    Kind.ADDRESS_LOST: 10,
    Kind.FORGED_XFF: 11,
    Kind.PROXY_PROTOCOL_MISMATCH: 12,
    Kind.WRONG_HOST: 13,
    Kind.UNREACHABLE: 14,
    Kind.LB_NOT_READY: 15,
    Kind.HTTP_ERROR: 16,
    Kind.TLS_UNTRUSTED: 17,
    Kind.TLS_WRONG_NAME: 18,
    Kind.TLS_HANDSHAKE_RESET: 19,
    Kind.TLS_TO_PLAIN_PORT: 20,
    Kind.PLAIN_HTTP_TO_TLS_PORT: 21,
    Kind.VIA_HEADER_IGNORED: 22,
    Kind.VIA_HEADER_UNCONFIRMED: 23,
    Kind.NOT_RATE_LIMITED: 24,
    Kind.RATE_LIMIT_WITHOUT_RETRY_AFTER: 25,
}
"""Exit code of each kind (also `exitCode` in --json). Codes never change; a new kind gets a new code."""


class Failure(StrEnum):
    """How one exchange failed before an HTTP answer could be read (the kind of a NetworkError)."""

    TIMEOUT = "timeout"
    REFUSED = "refused"
    DNS = "dns"
    UNAVAILABLE = "unavailable"
    """HTTP 502/503/504 while retries are left: no healthy upstream yet."""
    RESET = "reset"
    EMPTY = "empty"
    GARBLED = "garbled"
    TRUNCATED = "truncated"
    TOO_LARGE = "too-large"
    MALFORMED = "malformed"
    TLS_ANSWER = "tls"
    """A plain-HTTP request was answered with TLS records, or the port completes a TLS handshake."""
    TLS_UNTRUSTED = "tls-untrusted"
    TLS_WRONG_NAME = "tls-wrong-name"
    TLS_HANDSHAKE = "tls-handshake"
    TLS_PLAIN_ANSWER = "tls-plain-answer"
    """A TLS ClientHello was answered with something that is not TLS (usually an HTTP 400)."""


RETRYABLE = frozenset({Failure.TIMEOUT, Failure.REFUSED, Failure.DNS, Failure.UNAVAILABLE})


class UsageError(Exception):
    """Bad arguments, or a reader (pulumi, docker) that failed: exit 2, one line, no traceback."""


class NetworkError(Exception):
    def __init__(self, kind: Failure | str, detail: str) -> None:
        super().__init__(detail)
        self.kind = Failure(kind)
