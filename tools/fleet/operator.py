"""operator: Pulumi Kubernetes Operator v2.9.0 objects for a management cluster (GitOps).

What applies as written (`kubectl apply -f DIR/manifests.yaml`): the Namespace, the workspaces'
ServiceAccount and its `system:auth-delegator` ClusterRoleBinding, and one `pulumi.com/v1` Stack per
stack with a pinned workspace image, a periodic resync that finds drift, optional git credentials and
the rollout waves as `prerequisites`. Field names from the v2.9.0 CRD (shared/upstream/
pulumi-kubernetes-operator/crds/pulumi.com_stacks.yaml) and the operator's code at v2.9.0
(operator/internal/controller/pulumi/stack_controller.go, operator/api/pulumi/shared/stack_types.go).

The output folder follows the render's rules (tools/render.py check_folder): a new or empty folder, or
one this command wrote (marked by MARK, holding only its files); anything else is refused, nothing
written; the folder is written beside and swapped in (tools/folders.py swap_in)."""

from __future__ import annotations

import argparse
import itertools
import os
import re
from pathlib import Path
from typing import Any

import yaml

from tools.folders import swap_in

from .facts import (
    AUTH_DELEGATOR,
    OPERATOR_MIN_RESYNC_SECONDS,
    WORKSPACE_RESOURCES,
    branch_problem,
    is_dns_label,
    is_dns_subdomain,
    is_label_value,
)
from .kinds import NAMESPACE, ROOT, UsageError
from .selection import StackFile

STACK_API_VERSION = "pulumi.com/v1"
"""The Stack kind of Pulumi Kubernetes Operator v2.9.0 (deploy/crds/pulumi.com_stacks.yaml)."""
MARK = ".tools-fleet-operator"
MARK_TEXT = "Written by `python -m tools.fleet operator`: it replaces this folder as a whole.\n"
FILES = ("manifests.yaml", "releases.yaml", "README.md", MARK)
PART_OF = {"app.kubernetes.io/part-of": NAMESPACE, "app.kubernetes.io/managed-by": "tools.fleet"}


def object_name(stack: StackFile) -> str:
    return f"{NAMESPACE}-{stack.name}"


def binding_name(args: argparse.Namespace) -> str:
    return f"{NAMESPACE}-fleet-{args.namespace}-{args.service_account}-auth-delegator"


def _secret(name: str, key: str) -> dict[str, Any]:
    return {"type": "Secret", "secret": {"name": name, "key": key}}


def _git_key(args: argparse.Namespace) -> str:
    return "sshPrivateKey" if args.repo.startswith(("ssh://", "git@")) else "accessToken"


def git_auth(args: argparse.Namespace) -> dict[str, Any]:
    """spec.gitAuth from --git-auth-secret: an ssh key for ssh URLs, else an access token (https)."""
    reference = _secret(args.git_auth_secret, _git_key(args))
    if _git_key(args) == "sshPrivateKey":
        return {"sshAuth": {"sshPrivateKey": reference}}
    return {"accessToken": reference}


def stack_object(
    stack: StackFile, args: argparse.Namespace, after: list[StackFile] | None = None
) -> dict[str, Any]:
    """One `pulumi.com/v1` Stack. Every credential is a Secret reference: envRefs of type Secret become
    the workspace pod's env from secretKeyRef; secretsRef of type Secret is mounted into the `pulumi`
    container and set as secret stack config from that file. `after`: the previous wave's stacks, each a
    prerequisite (the operator runs this Stack only once each of them is in a successful state)."""
    secret = args.credentials_secret
    env_refs: dict[str, Any] = {"PULUMI_BACKEND_URL": _secret(secret, "PULUMI_BACKEND_URL")}
    for name in args.secret_env:
        env_refs[name] = _secret(secret, name)
    spec: dict[str, Any] = {
        "stack": f"{args.org}/{stack.name}" if args.org else stack.name,
        "projectRepo": args.repo,
        "branch": args.branch,
        "envRefs": env_refs,
        "secretsRef": {
            "kubernetes:kubeconfig": _secret(f"{args.kubeconfig_prefix}{stack.name}", "kubeconfig")
        },
        "serviceAccountName": args.service_account,
        # Deleting the Stack object must not tear the cluster's ingress down: destroy is a separate decision.
        "destroyOnFinalize": False,
        "refresh": True,
        # Re-run the update every resyncFrequencySeconds even without a new commit: with refresh, a
        # hand-edited object (drift) is found, and put back.
        "resyncFrequencySeconds": args.resync_seconds,
        "continueResyncOnCommitMatch": True,
        "workspaceTemplate": {
            "spec": {"image": args.workspace_image, "resources": WORKSPACE_RESOURCES},
        },
    }
    if args.git_auth_secret:
        spec["gitAuth"] = git_auth(args)
    if args.repo_dir:
        spec["repoDir"] = args.repo_dir
    if args.secrets_provider:
        spec["secretsProvider"] = args.secrets_provider
    else:
        env_refs["PULUMI_CONFIG_PASSPHRASE"] = _secret(secret, "PULUMI_CONFIG_PASSPHRASE")
    if after:
        spec["prerequisites"] = [{"name": object_name(s)} for s in after]
    labels = {**PART_OF, f"{NAMESPACE}/stack": stack.name}
    if stack.platform != "?":
        labels[f"{NAMESPACE}/platform"] = stack.platform
    return {
        "apiVersion": STACK_API_VERSION,
        "kind": "Stack",
        "metadata": {"name": object_name(stack), "namespace": args.namespace, "labels": labels},
        "spec": spec,
    }


def rbac_objects(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The Namespace, the workspaces' ServiceAccount, and its binding to system:auth-delegator: the
    workspace agent checks the operator's token with the TokenReview API and refuses it without that
    ("TokenReview API is unavailable")."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": args.namespace, "labels": PART_OF}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": args.service_account, "namespace": args.namespace, "labels": PART_OF},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": binding_name(args), "labels": PART_OF},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": AUTH_DELEGATOR,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": args.service_account, "namespace": args.namespace}
            ],
        },
    ]


def _refuse(flag: str, value: str, allowed: str) -> UsageError:
    return UsageError(f"{flag} {value!r} is refused: {allowed}")


def check_operator_args(stacks: list[StackFile], args: argparse.Namespace) -> None:
    """Every value Kubernetes, git or the operator would refuse, refused here first (exit 2)."""
    if not args.repo:
        raise UsageError("operator needs --repo URL: the git repository the operator clones (this project)")
    if not args.out:
        raise UsageError("operator needs --out DIR: where to write the objects")
    if not re.fullmatch(r"(https?|ssh)://\S+|git@[^\s:]+:\S+", args.repo):
        raise UsageError(f"--repo must be a git URL (https://, ssh:// or git@host:path), got {args.repo!r}")
    problem = branch_problem(args.branch)
    if problem:
        raise _refuse("--branch", args.branch, f"git refuses it as a branch name ({problem})")
    for flag, value in (("--namespace", args.namespace), ("--credentials-secret", args.credentials_secret)):
        if not is_dns_label(value):
            raise _refuse(flag, value, "it must be a DNS label (lowercase letters, digits, '-', at most 63)")
    for flag, value in (
        ("--service-account", args.service_account),
        ("--git-auth-secret", args.git_auth_secret),
    ):
        if value is not None and not is_dns_subdomain(value):
            raise _refuse(
                flag, value, "Kubernetes names are lowercase letters, digits, '-' and '.' (at most 253)"
            )
    if not is_dns_subdomain(binding_name(args)):
        raise _refuse(
            "--service-account", args.service_account, "its ClusterRoleBinding name would be too long"
        )
    if args.secrets_provider and not re.fullmatch(r"[a-z0-9]+://\S*", args.secrets_provider):
        raise _refuse(
            "--secrets-provider", args.secrets_provider, "it must be a URL such as awskms://alias/x"
        )
    for name in args.secret_env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise _refuse(
                "--secret-env", name, "it must name an environment variable ([A-Za-z_][A-Za-z0-9_]*)"
            )
    if not re.fullmatch(r"[^\s@]+(:[^\s@]+|@sha256:[0-9a-f]{64})", args.workspace_image):
        raise _refuse(
            "--workspace-image", args.workspace_image, "name a pinned image: repository:tag or @sha256:"
        )
    if args.workspace_image.endswith(":latest") or "latest-" in args.workspace_image.rsplit(":", 1)[-1]:
        raise _refuse(
            "--workspace-image", args.workspace_image, "a floating tag changes under the Stacks; pin one"
        )
    if args.resync_seconds < OPERATOR_MIN_RESYNC_SECONDS:
        raise _refuse(
            "--resync-seconds",
            str(args.resync_seconds),
            f"the operator takes at least {OPERATOR_MIN_RESYNC_SECONDS}",
        )
    for stack in stacks:
        for what, value in (
            ("Stack object name", object_name(stack)),
            ("kubeconfig Secret name", f"{args.kubeconfig_prefix}{stack.name}"),
        ):
            if not is_dns_subdomain(value) or not is_dns_label(value):
                raise UsageError(
                    f"--stacks selects {stack.name!r}, whose {what} {value!r} Kubernetes refuses: "
                    "lowercase letters, digits and '-' only, at most 63"
                )
        if stack.platform != "?" and not is_label_value(stack.platform):
            raise UsageError(
                f"Pulumi.{stack.name}.yaml: its platform {stack.platform!r} is not a Kubernetes label value "
                "(letters, digits, '-', '_', '.', at most 63)"
            )


def check_out(out: Path) -> None:
    """Refuse a folder this command may not replace (the render's rules, tools/render.py check_folder)."""
    if out == out.parent:
        raise UsageError(f"--out {out} is the filesystem root; name a folder for the objects")
    cwd = Path(os.path.realpath(Path.cwd()))
    if out == cwd or out in cwd.parents or out == ROOT or out in ROOT.parents:
        raise UsageError(f"--out {out} holds the working directory or the project; name a folder of its own")
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"--out {out} is a file; name a directory")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if MARK not in entries:
        raise UsageError(
            f"--out {out} is not empty and not an earlier output of this command (it holds "
            f"{', '.join(entries[:5])}); it replaces its folder as a whole, so it writes only into a new or "
            "empty folder or one it wrote"
        )
    foreign = [n for n in entries if n not in FILES]
    if foreign:
        raise UsageError(
            f"--out {out} is an earlier output, but holds {', '.join(foreign[:5])}, which this command did "
            "not write; a new output would delete it: move it out, or write into another folder"
        )


README = """# Pulumi Kubernetes Operator objects for istio-source-ip

Written by `python -m tools.fleet operator` (docs/fleet.md, "Engine 2"); it replaces this folder
as a whole. Apply with `kubectl apply -f manifests.yaml` on the management cluster, after creating
the Secrets it names in namespace `{namespace}`:

- `{credentials}`: PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE (unless --secrets-provider){extra}
- `{prefix}<stack>`: key `kubeconfig`, for each stack{git}

`releases.yaml` is an empty list, so that `check-render DIR --project .` checks these objects.
"""


def write_operator(stacks: list[StackFile], waves: list[list[StackFile]], args: argparse.Namespace) -> Path:
    """manifests.yaml (the RBAC, then every Stack, for kubectl apply and check-render), an empty
    releases.yaml, a README and the mark, written beside --out and swapped in: all or nothing."""
    out = Path(os.path.realpath(args.out))
    check_out(out)
    previous: dict[str, list[StackFile]] = {}
    for before, wave in itertools.pairwise(waves):
        for stack in wave:
            previous[stack.name] = before
    objects = rbac_objects(args) + [stack_object(s, args, previous.get(s.name)) for s in stacks]
    text = "".join("---\n" + yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objects)
    releases = (
        "# The operator installs no Helm release itself; the program's releases run in its workspace.\n[]\n"
    )
    readme = README.format(
        namespace=args.namespace,
        credentials=args.credentials_secret,
        extra="".join(f", {name}" for name in args.secret_env),
        prefix=args.kubeconfig_prefix,
        git=(
            f"\n- `{args.git_auth_secret}`: key `{_git_key(args)}`, to clone the private repository"
            if args.git_auth_secret
            else ""
        ),
    )
    try:
        swap_in(
            out, {"manifests.yaml": text, "releases.yaml": releases, "README.md": readme, MARK: MARK_TEXT}
        )
    except OSError as error:
        raise UsageError(f"--out {args.out}: cannot write: {error.strerror or error}") from None
    return out
