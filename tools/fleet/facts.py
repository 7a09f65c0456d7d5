"""Facts about the outside world the fleet relies on, each with where it comes from.

Kept here, as data, rather than in `source_ip/` (the program's domain): only the fleet uses them.
"""

from __future__ import annotations

import re

STACK_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
"""A stack name Pulumi accepts: not empty, at most 100 characters, only ASCII letters, digits, `-`, `_`
and `.` (pulumi/pulumi, sdk/go/common/tokens/stack_name.go, `ParseStackName` and `stackNameRegex`,
read at commit 78757ef6cea0c427a9bc8a025137a7f811a37501)."""

PULUMI_CLI_VERSION = "3.272.0"
"""The Pulumi version the project is tested with: the `pulumi` SDK pinned in requirements.txt (the
Automation API of that SDK drives the CLI; pulumi/pulumi releases the CLI and the SDKs under one
version). tests/test_fleet.py holds the two equal; the workflows pin the same CLI."""

WORKSPACE_IMAGE = f"pulumi/pulumi:{PULUMI_CLI_VERSION}-nonroot"
"""The operator's workspace image, pinned. Pulumi Kubernetes Operator v2.9.0 defaults to the floating
`pulumi/pulumi:latest-nonroot` for its `restricted` security profile (operator/api/auto/v1alpha1/
workspace_types.go, `SecurityProfileRestrictedDefaultImage`); the same image at the tested version."""

WORKSPACE_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
"""The workspace pod's `pulumi` container (a starting point, not a measurement: the program, its
providers and the Helm charts run there; nothing ran on a real operator here)."""

AUTH_DELEGATOR = "system:auth-delegator"
"""The ClusterRole a workspace's service account needs: the workspace agent authenticates the
operator's calls with the TokenReview API (operator v2.9.0 docs/migration.md, "Service Account")."""

OPERATOR_MIN_RESYNC_SECONDS = 60
"""`resyncFrequencySeconds` below 60 is taken as 60 (v2.9.0 CRD pulumi.com_stacks.yaml, its description)."""

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
"""RFC 1123 label, at most 63 characters: a Namespace's or Secret key owner's name (k8s.io/apimachinery,
pkg/util/validation/validation.go, `IsDNS1123Label`)."""

DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
"""RFC 1123 subdomain, at most 253 characters: a ServiceAccount's, Secret's or Stack's name (the same
file, `IsDNS1123Subdomain`)."""

LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
"""A label value, at most 63 characters (the same file, `IsValidLabelValue`)."""


def is_dns_label(value: str) -> bool:
    return len(value) <= 63 and bool(DNS_LABEL.fullmatch(value))


def is_dns_subdomain(value: str) -> bool:
    return len(value) <= 253 and bool(DNS_SUBDOMAIN.fullmatch(value))


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(LABEL_VALUE.fullmatch(value))


def branch_problem(name: str) -> str | None:
    """Why git refuses `name` as a branch (`git check-ref-format --branch`), or None. The rules of
    git's Documentation/git-check-ref-format.adoc and refs.c `check_refname_component`; the tests
    hold this to the real `git check-ref-format` where git is installed."""
    if not name:
        return "it is empty"
    if name.startswith("-"):
        return "it starts with '-'"
    if name in ("@", "HEAD"):
        return f"{name!r} names the checked-out commit, not a branch"
    bad = [c for c in name if ord(c) < 0x20 or ord(c) == 0x7F or c in " ~^:?*[\\"]
    if bad:
        return f"it holds {bad[0]!r}, which a ref name may not"
    if ".." in name or "@{" in name or "//" in name:
        return "it holds '..', '@{' or '//'"
    if name.startswith("/") or name.endswith("/") or name.endswith("."):
        return "it starts or ends with '/', or ends with '.'"
    for part in name.split("/"):
        if part.startswith("."):
            return f"its component {part!r} starts with '.'"
        if part.endswith(".lock"):
            return f"its component {part!r} ends with '.lock'"
    return None


WAVE_KEY = "fleet:wave"
"""The stack-file config key that puts a stack into a rollout wave (a whole number, lowest first). Its
own namespace, `fleet`: the program reads only `istio-source-ip:` keys and passes other namespaces
through (source_ip/config: `parse_config`), warning only about a namespace one slip from its own
(`near_miss_namespace_warnings`). `fleet` is far from it; tests/test_fleet_waves.py checks the program
takes the key without a warning. (Observed: `istio-source-ip-fleet` is not warned about either, but a
key that starts with the program's own name reads as the program's, which it is not.)"""
