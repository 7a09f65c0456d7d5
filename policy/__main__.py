"""istio-source-ip policy pack: `pulumi preview --policy-pack policy` from the project root."""

import sys
from pathlib import Path

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

from policy import validators


def _resource_policy(check, level: EnforcementLevel) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, dict(args.props)):
            report_violation(message, None)

    name = check.__name__.replace("_", "-")
    return ResourceValidationPolicy(name=name, description=check.__doc__.strip().splitlines()[0],
                                    validate=validate, enforcement_level=level)


def _l2_covers(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for message in validators.l2_advertisements_cover_gateway((r.resource_type, dict(r.props)) for r in args.resources):
        report_violation(message, None)


POLICIES = [
    _resource_policy(validators.proxy_protocol_on_both_sides, EnforcementLevel.MANDATORY),
    _resource_policy(validators.etp_cluster_without_proxy_protocol, EnforcementLevel.ADVISORY),
    _resource_policy(validators.trusted_proxies_behind_l4, EnforcementLevel.MANDATORY),
    StackValidationPolicy(
        name="l2-advertisements-cover-gateway",
        description=validators.l2_advertisements_cover_gateway.__doc__.strip().splitlines()[0],
        validate=_l2_covers,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]

if __name__ == "__main__":
    PolicyPack(name="istio-source-ip", policies=POLICIES)
