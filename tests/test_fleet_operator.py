"""tools.fleet operator: Pulumi Kubernetes Operator v2.9.0 objects that apply as written (the RBAC,
the pinned workspace, resync, git credentials, waves as prerequisites), checked against the operator's
CRD with check-render, and the inputs Kubernetes or git would refuse."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet_helpers import REPO, SHARED, project, run
from tools import fleet
from tools.fleet.facts import WORKSPACE_IMAGE, branch_problem


def objects_in(out: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((out / "manifests.yaml").read_text()))


def stacks_in(out: Path) -> list[dict[str, Any]]:
    return [o for o in objects_in(out) if o["kind"] == "Stack"]


def operator(out: Path, *extra: str) -> tuple[int, str]:
    return run("operator", "--stacks", "dev,aws,gcp,metallb", "--repo", REPO, "--out", str(out), *extra)


def test_operator_writes_stack_objects_whose_credentials_are_all_secret_references(tmp_path: Path) -> None:
    code, _ = operator(tmp_path / "out", "--secret-env", "AWS_ACCESS_KEY_ID", "--branch", "release")

    assert code == 0
    objects = stacks_in(tmp_path / "out")
    assert [o["metadata"]["name"] for o in objects] == [
        f"istio-source-ip-{s}" for s in ("dev", "aws", "gcp", "metallb")
    ]
    aws = objects[1]
    assert (aws["apiVersion"], aws["kind"]) == ("pulumi.com/v1", "Stack")
    assert aws["spec"]["projectRepo"] == REPO and aws["spec"]["branch"] == "release"
    assert aws["spec"]["envRefs"] == {
        name: {"type": "Secret", "secret": {"name": "istio-source-ip-fleet", "key": name}}
        for name in ("PULUMI_BACKEND_URL", "AWS_ACCESS_KEY_ID", "PULUMI_CONFIG_PASSPHRASE")
    }
    assert aws["spec"]["secretsRef"] == {
        "kubernetes:kubeconfig": {"type": "Secret", "secret": {"name": "kubeconfig-aws", "key": "kubeconfig"}}
    }
    assert aws["spec"]["destroyOnFinalize"] is False
    assert "backend" not in aws["spec"] and "config" not in aws["spec"] and "secrets" not in aws["spec"]


def test_operator_with_a_secrets_provider_needs_no_passphrase(tmp_path: Path) -> None:
    code, _ = operator(tmp_path / "out", "--secrets-provider", "awskms://alias/fleet")

    assert code == 0
    for o in stacks_in(tmp_path / "out"):
        assert o["spec"]["secretsProvider"] == "awskms://alias/fleet"
        assert "PULUMI_CONFIG_PASSPHRASE" not in o["spec"]["envRefs"]


CHECK_RENDER_VENV = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "check-render-venv" / "bin" / "python"
)


def check_render(directory: Path, upstream: Path) -> subprocess.CompletedProcess[str]:
    """check-render's own main() in its own virtualenv, reading only the operator's Stack CRD (the objects are
    all Stacks) and with libyaml's loader: the full run parses 1.5 MB of CRD with the pure-Python loader,
    about 3 s. `check-render DIR --project .` gives the same verdict (0 problems for --all, run by hand)."""
    crds = upstream / "pulumi-kubernetes-operator" / "crds"
    crds.mkdir(parents=True)
    (crds / "pulumi.com_stacks.yaml").symlink_to(
        SHARED / "upstream/pulumi-kubernetes-operator/crds/pulumi.com_stacks.yaml"
    )
    for part in ("pulumi/project.json", "istio/charts/gateway.values.schema.json"):
        (upstream / part).parent.mkdir(parents=True, exist_ok=True)
        (upstream / part).symlink_to(SHARED / "upstream" / part)
    script = (
        "import sys, yaml; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
        "import check_render as c; "
        "c.UPSTREAM = Path(sys.argv[2]); c.yaml.safe_load = lambda s: yaml.load(s, Loader=yaml.CSafeLoader); "
        "sys.exit(c.main([sys.argv[3], '--project', sys.argv[4]]))"
    )
    return subprocess.run(
        [
            str(CHECK_RENDER_VENV),
            "-c",
            script,
            str(SHARED / "tools"),
            str(upstream),
            str(directory),
            str(fleet.ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(
    not (SHARED / "tools" / "check_render.py").exists(), reason=f"{SHARED}/tools/check_render.py is absent"
)
@pytest.mark.skipif(
    not CHECK_RENDER_VENV.exists(),
    reason=f"check-render has not made its virtualenv yet ({CHECK_RENDER_VENV}): run it once",
)
def test_operator_output_for_every_shipped_stack_passes_check_render(tmp_path: Path) -> None:
    """Every shipped stack, in waves (prerequisites), with git credentials: the Stacks against the
    operator's CRD (and its CEL rules), the Namespace, ServiceAccount and ClusterRoleBinding against the
    Kubernetes schema."""
    waves = "dev,dev-gateway-api;" + ",".join(n for n in fleet.discover() if not n.startswith("dev"))
    extra = ("--git-auth-secret", "repo-creds", "--secret-env", "AWS_ROLE_ARN")
    code, _ = run("operator", "--waves", waves, "--repo", REPO, "--out", str(tmp_path / "out"), *extra)
    assert code == 0
    result = check_render(tmp_path / "out", tmp_path / "upstream")
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith(
        f"{len(fleet.discover()) + 3} objects, 0 patches, 0 releases checked: 0 problems"
    )


def test_operator_replaces_its_previous_output_whole(tmp_path: Path) -> None:
    assert operator(tmp_path / "out")[0] == 0
    assert run("operator", "--stacks", "hetzner", "--repo", REPO, "--out", str(tmp_path / "out"))[0] == 0

    names = [o["metadata"]["name"] for o in stacks_in(tmp_path / "out")]
    assert names == ["istio-source-ip-hetzner"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no staging directory left behind"


def test_operator_output_keeps_its_folders_mode_as_the_render_does(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        assert operator(tmp_path / "out")[0] == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755  # not mkdtemp's 0700
    (tmp_path / "out").chmod(0o750)
    assert operator(tmp_path / "out")[0] == 0
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o750


def test_operator_refuses_an_out_directory_holding_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")

    assert operator(tmp_path / "out")[0] == 2
    assert "is not empty and not an earlier output of this command" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]


def test_the_output_brings_the_namespace_service_account_and_its_auth_delegator_binding(
    tmp_path: Path,
) -> None:
    """The workspace agent checks the operator's token with the TokenReview API: its service account
    needs system:auth-delegator, or the agent refuses the operator."""
    code, _ = operator(tmp_path / "out", "--namespace", "gitops", "--service-account", "fleet-runner")

    assert code == 0
    by_kind = {o["kind"]: o for o in objects_in(tmp_path / "out") if o["kind"] != "Stack"}
    assert sorted(by_kind) == ["ClusterRoleBinding", "Namespace", "ServiceAccount"]
    assert by_kind["Namespace"]["metadata"]["name"] == "gitops"
    assert by_kind["ServiceAccount"]["metadata"] | {"labels": None} == {
        "name": "fleet-runner",
        "namespace": "gitops",
        "labels": None,
    }
    binding = by_kind["ClusterRoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "system:auth-delegator",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "fleet-runner", "namespace": "gitops"}]
    for stack in stacks_in(tmp_path / "out"):
        assert stack["metadata"]["namespace"] == "gitops"
        assert stack["spec"]["serviceAccountName"] == "fleet-runner"
    kinds = [o["kind"] for o in objects_in(tmp_path / "out")]
    assert kinds[:3] == ["Namespace", "ServiceAccount", "ClusterRoleBinding"], "applied before the Stacks"


def test_each_stack_runs_a_pinned_workspace_that_resyncs_to_find_drift(tmp_path: Path) -> None:
    assert operator(tmp_path / "out", "--resync-seconds", "900")[0] == 0

    for stack in stacks_in(tmp_path / "out"):
        spec = stack["spec"]
        assert spec["workspaceTemplate"]["spec"]["image"] == WORKSPACE_IMAGE
        assert not WORKSPACE_IMAGE.endswith(("latest", "latest-nonroot"))
        assert spec["workspaceTemplate"]["spec"]["resources"]["requests"]["memory"]
        assert (spec["resyncFrequencySeconds"], spec["continueResyncOnCommitMatch"]) == (900, True)
        assert spec["refresh"] is True
        assert "gitAuth" not in spec


@pytest.mark.parametrize(
    ("repo", "expected"),
    [
        (REPO, {"accessToken": {"type": "Secret", "secret": {"name": "repo-creds", "key": "accessToken"}}}),
        (
            "git@github.com:example/istio-source-ip.git",
            {
                "sshAuth": {
                    "sshPrivateKey": {
                        "type": "Secret",
                        "secret": {"name": "repo-creds", "key": "sshPrivateKey"},
                    }
                }
            },
        ),
    ],
    ids=["https", "ssh"],
)
def test_a_private_repository_gets_git_credentials_from_a_secret(
    repo: str, expected: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert (
        run(
            "operator",
            "--stacks",
            "aws",
            "--repo",
            repo,
            "--out",
            str(out),
            "--git-auth-secret",
            "repo-creds",
        )[0]
        == 0
    )

    [stack] = stacks_in(out)
    assert stack["spec"]["gitAuth"] == expected
    assert "repo-creds" in (out / "README.md").read_text()


def test_waves_become_the_operators_prerequisites(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run("operator", "--waves", "dev;aws,gcp;metallb", "--repo", REPO, "--out", str(out))[0] == 0

    prerequisites = {s["metadata"]["name"]: s["spec"].get("prerequisites") for s in stacks_in(out)}
    assert prerequisites == {
        "istio-source-ip-dev": None,
        "istio-source-ip-aws": [{"name": "istio-source-ip-dev"}],
        "istio-source-ip-gcp": [{"name": "istio-source-ip-dev"}],
        "istio-source-ip-metallb": [{"name": "istio-source-ip-aws"}, {"name": "istio-source-ip-gcp"}],
    }


def test_a_users_manifests_file_is_never_replaced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder holding a manifests.yaml (and releases.yaml) of the user's, not marked as this command's
    output, is refused whole: nothing written, nothing moved."""
    out = tmp_path / "k8s"
    out.mkdir()
    (out / "manifests.yaml").write_text("# mine\n")
    (out / "releases.yaml").write_text("[]\n")

    assert operator(out)[0] == 2
    assert capsys.readouterr().err.startswith(f"error: --out {out} is not empty and not an earlier output")
    assert (out / "manifests.yaml").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k8s"]


def test_an_earlier_output_with_a_file_added_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert operator(tmp_path / "out")[0] == 0
    (tmp_path / "out" / "notes.txt").write_text("mine")

    assert operator(tmp_path / "out")[0] == 2
    assert "holds notes.txt, which this command did not write" in capsys.readouterr().err
    assert (tmp_path / "out" / "notes.txt").exists()


def test_the_project_itself_is_never_the_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert operator(fleet.ROOT)[0] == 2
    assert "holds the working directory or the project" in capsys.readouterr().err


GIT = shutil.which("git")
BRANCHES = [
    "main",
    "release/2026.1",
    "ring-1",
    "feature/a..b",
    "-rf",
    "HEAD",
    "a@{1}",
    "x.lock",
    "dir/.hidden",
    "trailing/",
    "trailing.",
    "with space",
    "tilde~1",
    "caret^",
    "colon:",
    "q?",
    "star*",
    "bracket[",
    "back\\slash",
    "double//slash",
    "tab\tname",
    "ünïcode",
    "@at",
]


@pytest.mark.skipif(GIT is None, reason="git is not installed: the oracle for branch names")
def test_branch_names_are_refused_exactly_where_git_refuses_them() -> None:
    """git check-ref-format --branch is the oracle (run outside a repository: there `@` would be taken
    as HEAD's branch, which the fleet refuses as git's own rule 9 says); the fleet refuses a branch
    before writing a Stack."""
    for name in BRANCHES:
        git = subprocess.run(
            [str(GIT), "check-ref-format", "--branch", name], capture_output=True, check=False, cwd="/"
        )
        assert (branch_problem(name) is None) == (git.returncode == 0), name
    assert branch_problem("@") is not None


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--branch", "feature/a..b", "--branch 'feature/a..b' is refused: git refuses it as a branch name"),
        (
            "--service-account",
            "Fleet_Runner",
            "--service-account 'Fleet_Runner' is refused: Kubernetes names",
        ),
        ("--git-auth-secret", "Repo Creds", "--git-auth-secret 'Repo Creds' is refused: Kubernetes names"),
        ("--workspace-image", "pulumi/pulumi:latest-nonroot", "a floating tag changes under the Stacks"),
        ("--workspace-image", "pulumi/pulumi", "name a pinned image"),
        ("--resync-seconds", "30", "argument --resync-seconds: must be 60 or more, got 30"),
    ],
)
def test_values_kubernetes_git_or_the_operator_refuse_exit_2_and_write_nothing(
    flag: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert operator(tmp_path / "out", flag, value)[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_a_platform_that_is_no_label_value_is_refused_naming_its_stack_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, {"odd": "config:\n  istio-source-ip:platform: 'bare metal!'\n"}, monkeypatch)

    assert run("operator", "--all", "--repo", REPO, "--out", str(tmp_path / "out"))[0] == 2
    assert (
        "Pulumi.odd.yaml: its platform 'bare metal!' is not a Kubernetes label value"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()
