"""tools.verify: prove the real client IP arrives at the echo app (standard library only).

Modules, by job: `kinds` (the verdict and failure kinds, exit codes), `client` (one bounded GET over
HTTP or TLS), `verdicts` (diagnosis and hint of every kind), `probe` (the address check with retries,
the rate-limit burst), `readers` (pulumi stack output, Docker, a what-is-my-IP endpoint), `cli`.
The reference is docs/verify.md.
"""

from .cli import main, parser
from .client import MAX_ANSWER_BYTES, Resolver, Response, Target, TlsOptions, fetch, resolve
from .kinds import EXIT_CODES, RETRYABLE, Failure, Kind, NetworkError, UsageError
from .probe import DEFAULT_TIMEOUT, MAX_RATE, rate_probe, verify
from .readers import discover_expected, stack_outputs, stack_target
from .verdicts import HEADERS_PATH, HINTS, Verdict, diagnose, diagnose_via, make_verdict, same_address

__all__ = [
    "DEFAULT_TIMEOUT",
    "EXIT_CODES",
    "HEADERS_PATH",
    "HINTS",
    "MAX_ANSWER_BYTES",
    "MAX_RATE",
    "RETRYABLE",
    "Failure",
    "Kind",
    "NetworkError",
    "Resolver",
    "Response",
    "Target",
    "TlsOptions",
    "UsageError",
    "Verdict",
    "diagnose",
    "diagnose_via",
    "discover_expected",
    "fetch",
    "main",
    "make_verdict",
    "parser",
    "rate_probe",
    "resolve",
    "same_address",
    "stack_outputs",
    "stack_target",
    "verify",
]
