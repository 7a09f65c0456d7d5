"""istio-source-ip policy pack: `pulumi preview --policy-pack policy` from the project root."""

import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # source_ip/ holds the facts

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from policy import validators

ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]
StackCheck = Callable[[Iterable[tuple[str, Mapping[str, Any]]]], list[str]]


def _resource_policy(check: ResourceCheck, level: EnforcementLevel) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        # pulumi-policy turns an unknown value into an advisory note, which would skip a mandatory
        # check in preview: report it as a violation at the policy's own level instead.
        try:
            messages = check(args.resource_type, args.props)
        except UnknownValueError as unknown:
            messages = [
                f"cannot be checked in preview: {unknown.message}; make the value known (a plain value, "
                "not the output of another resource)"
            ]
        for message in messages:
            report_violation(message, None)

    name = check.__name__.replace("_", "-")
    return ResourceValidationPolicy(
        name=name,
        description=(check.__doc__ or name).strip().splitlines()[0],
        validate=validate,
        enforcement_level=level,
    )


def _stack_policy(check: StackCheck, level: EnforcementLevel) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        try:
            messages = check((r.resource_type, r.props) for r in args.resources)
        except UnknownValueError as unknown:
            messages = [f"cannot be checked in preview: {unknown.message}"]
        for message in messages:
            report_violation(message, None)

    name = check.__name__.replace("_", "-")
    return StackValidationPolicy(
        name=name,
        description=(check.__doc__ or name).strip().splitlines()[0],
        validate=validate,
        enforcement_level=level,
    )


RESOURCE_CHECKS: list[tuple[ResourceCheck, EnforcementLevel]] = [
    (validators.proxy_protocol_on_both_sides, EnforcementLevel.MANDATORY),
    (validators.etp_cluster_without_proxy_protocol, EnforcementLevel.ADVISORY),
    (validators.trusted_proxies_behind_l4, EnforcementLevel.MANDATORY),
    (validators.https_redirect_keeps_acme_challenges, EnforcementLevel.ADVISORY),
]
"""Checks of one resource at a time; the tests run every one of them from here."""
STACK_CHECKS: list[tuple[StackCheck, EnforcementLevel]] = [
    (validators.l2_advertisements_cover_gateway, EnforcementLevel.MANDATORY),
    (validators.gateway_api_parameters_pair_proxy_protocol, EnforcementLevel.MANDATORY),
    (validators.front_proxy_guarded, EnforcementLevel.MANDATORY),
]
"""Checks across the stack's resources."""
POLICIES = [
    *(_resource_policy(check, level) for check, level in RESOURCE_CHECKS),
    *(_stack_policy(check, level) for check, level in STACK_CHECKS),
]

if __name__ == "__main__":
    PolicyPack(name="istio-source-ip", policies=POLICIES)
