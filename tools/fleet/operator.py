"""operator: Pulumi Kubernetes Operator v2.9.0 Stack objects for a management cluster (GitOps)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import yaml

from tools.folders import swap_in

from .kinds import NAMESPACE, UsageError
from .selection import StackFile

STACK_API_VERSION = "pulumi.com/v1"
"""The Stack kind of Pulumi Kubernetes Operator v2.9.0 (deploy/crds/pulumi.com_stacks.yaml)."""
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def stack_object(stack: StackFile, args: argparse.Namespace) -> dict[str, Any]:
    """One `pulumi.com/v1` Stack. Every credential is a Secret reference (operator v2.9.0,
    operator/internal/controller/pulumi/stack_controller.go): envRefs of type Secret become the workspace
    pod's env from secretKeyRef; secretsRef of type Secret is mounted into the `pulumi` container and set as
    secret stack config from that file."""
    secret = args.credentials_secret
    env_refs: dict[str, Any] = {
        "PULUMI_BACKEND_URL": {"type": "Secret", "secret": {"name": secret, "key": "PULUMI_BACKEND_URL"}},
    }
    for name in args.secret_env:
        env_refs[name] = {"type": "Secret", "secret": {"name": secret, "key": name}}
    spec: dict[str, Any] = {
        "stack": f"{args.org}/{stack.name}" if args.org else stack.name,
        "projectRepo": args.repo,
        "branch": args.branch,
        "envRefs": env_refs,
        "secretsRef": {
            "kubernetes:kubeconfig": {
                "type": "Secret",
                "secret": {"name": f"{args.kubeconfig_prefix}{stack.name}", "key": "kubeconfig"},
            }
        },
        "serviceAccountName": args.service_account,
        # Deleting the Stack object must not tear the cluster's ingress down: destroy is a separate decision.
        "destroyOnFinalize": False,
        "refresh": True,
    }
    if args.repo_dir:
        spec["repoDir"] = args.repo_dir
    if args.secrets_provider:
        spec["secretsProvider"] = args.secrets_provider
    else:
        env_refs["PULUMI_CONFIG_PASSPHRASE"] = {
            "type": "Secret",
            "secret": {"name": secret, "key": "PULUMI_CONFIG_PASSPHRASE"},
        }
    return {
        "apiVersion": STACK_API_VERSION,
        "kind": "Stack",
        "metadata": {
            "name": f"{NAMESPACE}-{stack.name}",
            "namespace": args.namespace,
            "labels": {"app.kubernetes.io/part-of": NAMESPACE, f"{NAMESPACE}/platform": stack.platform},
        },
        "spec": spec,
    }


def check_operator_args(stacks: list[StackFile], args: argparse.Namespace) -> None:
    if not args.repo:
        raise UsageError("operator needs --repo URL: the git repository the operator clones (this project)")
    if not args.out:
        raise UsageError("operator needs --out DIR: where to write the Stack objects")
    if not re.fullmatch(r"(https?|ssh)://\S+|git@[^\s:]+:\S+", args.repo):
        raise UsageError(f"--repo must be a git URL (https://, ssh:// or git@host:path), got {args.repo!r}")
    if not args.branch.strip():
        raise UsageError("--branch must not be empty")
    for label, value in (("--namespace", args.namespace), ("--credentials-secret", args.credentials_secret)):
        if not DNS_LABEL.fullmatch(value) or len(value) > 63:
            raise UsageError(f"{label} must be a DNS label (lowercase letters, digits, '-'), got {value!r}")
    if args.secrets_provider and not re.fullmatch(r"[a-z0-9]+://\S*", args.secrets_provider):
        raise UsageError(
            f"--secrets-provider must be a URL such as awskms://... , got {args.secrets_provider!r}"
        )
    for name in args.secret_env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise UsageError(f"--secret-env must name an environment variable, got {name!r}")
    for stack in stacks:
        for what, value in (
            ("Stack object name", f"{NAMESPACE}-{stack.name}"),
            ("kubeconfig Secret name", f"{args.kubeconfig_prefix}{stack.name}"),
        ):
            if not DNS_LABEL.fullmatch(value) or len(value) > 63:
                raise UsageError(f"stack {stack.name!r}: its {what} {value!r} is not a DNS label")


def write_operator(stacks: list[StackFile], args: argparse.Namespace) -> Path:
    """manifests.yaml (every Stack, for kubectl apply and check-render) and an empty releases.yaml,
    written into a temporary directory beside --out and renamed into place: all or nothing."""
    out = Path(args.out).resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a directory")
    if out.exists() and any(p.name not in ("manifests.yaml", "releases.yaml") for p in out.iterdir()):
        raise UsageError(
            f"--out {args.out} holds other files: give an empty or new directory (or the previous output)"
        )
    objects = [stack_object(s, args) for s in stacks]
    text = "".join("---\n" + yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objects)
    releases = (
        "# The operator installs no Helm release itself; the program's releases run in its workspace.\n[]\n"
    )
    try:
        swap_in(out, {"manifests.yaml": text, "releases.yaml": releases})
    except OSError as error:
        raise UsageError(f"cannot write {args.out}: {error.strerror or error}") from None
    return out
