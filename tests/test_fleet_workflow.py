"""The fleet's GitHub workflows, read and partly run: the fleet step under the runner's bash (a cancel
reaches pulumi), OIDC, the pinned CLI, the pip cache, the default selection without the kind stacks,
verify once per stack, and the scheduled verify-and-drift check with its summary."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet_helpers import calls, use_fake_cli
from tools import fleet
from tools.fleet.facts import PULUMI_CLI_VERSION

WORKFLOWS = fleet.ROOT / ".github" / "workflows"
FLEET = yaml.safe_load((WORKFLOWS / "fleet.yml").read_text())
CHECK = yaml.safe_load((WORKFLOWS / "fleet-check.yml").read_text())
SHELL = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
"""How GitHub's runner starts a `run:` step on Linux (its default `shell: bash`)."""


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def step(workflow: dict[str, Any], job: str, step_id: str) -> dict[str, Any]:
    return next(s for s in steps(workflow, job) if s.get("id") == step_id)


def fleet_lines(workflow: dict[str, Any]) -> list[str]:
    """Every line of a `run:` that starts tools.fleet preview/up/destroy/verify."""
    runs = [s.get("run", "") for job in workflow["jobs"] for s in steps(workflow, job)]
    commands = ("preview", "up", "destroy", "verify", '"$OPERATION"')
    return [
        line.strip()
        for run in runs
        for line in run.splitlines()
        if "-m tools.fleet" in line and any(f"tools.fleet {c}" in line for c in commands)
    ]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_fake_cli(tmp_path, monkeypatch)


def test_the_fleet_step_run_as_the_runner_runs_it_passes_a_cancel_on_to_pulumi(cli: Path) -> None:
    """The step's own text under the runner's bash (in a checkout-like folder: the project's .venv, its
    code on PYTHONPATH); the runner's cancel is a SIGTERM to that bash."""
    script = step(FLEET, "stack", "fleet")["run"]
    checkout = cli / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(fleet.ROOT / ".venv")
    env = {**os.environ, "FAKE_PULUMI_SLEEP": "30", "STACK": "aws", "OPERATION": "up"}
    env["PYTHONPATH"] = str(fleet.ROOT)
    shell = subprocess.Popen(
        [*SHELL, script], cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    log = checkout / "fleet-logs" / "aws.log"
    deadline = time.monotonic() + 20
    while not (log.exists() and "Updating (aws)" in log.read_text()):
        if time.monotonic() > deadline or shell.poll() is not None:
            shell.kill()
            pytest.fail(f"the update did not start: {shell.communicate()}")
        time.sleep(0.05)
    shell.send_signal(signal.SIGTERM)
    out, err = shell.communicate(timeout=15)

    assert shell.returncode == 130, err
    [up] = [c for c in calls(cli) if "up" in c["args"]]
    assert (up["signals"], up["code"]) == (1, 255), "pulumi got one interrupt and cancelled"
    assert "cancelled" in out


@pytest.mark.parametrize("workflow", [FLEET, CHECK], ids=["fleet", "fleet-check"])
def test_every_fleet_command_in_a_step_runs_under_exec(workflow: dict[str, Any]) -> None:
    lines = fleet_lines(workflow)
    assert lines, "the workflow runs the fleet"
    assert all(line.startswith("exec .venv/bin/python -m tools.fleet ") for line in lines), lines


@pytest.mark.parametrize("workflow", [FLEET, CHECK], ids=["fleet", "fleet-check"])
def test_clouds_log_in_with_oidc_and_fall_back_to_static_keys(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
    actions = {s["uses"].split("@")[0]: s.get("with", {}) for s in steps(workflow, "stack") if "uses" in s}
    assert actions["aws-actions/configure-aws-credentials"]["role-to-assume"] == "${{ env.AWS_ROLE_ARN }}"
    assert (
        "secrets.AWS_ACCESS_KEY_ID" in actions["aws-actions/configure-aws-credentials"]["aws-access-key-id"]
    )
    google = actions["google-github-actions/auth"]
    assert (
        google["workload_identity_provider"] and "secrets.GCP_CREDENTIALS_JSON" in google["credentials_json"]
    )
    azure = actions["azure/login"]
    assert azure["client-id"] and "secrets.AZURE_CREDENTIALS" in azure["creds"]
    text = (WORKFLOWS / "fleet.yml").read_text()
    assert "AWS_SECRET_ACCESS_KEY: ${{ secrets" not in text, "no static key in the job's environment"


@pytest.mark.parametrize("workflow", [FLEET, CHECK], ids=["fleet", "fleet-check"])
def test_the_cli_is_pinned_to_the_tested_version_and_pip_is_cached(workflow: dict[str, Any]) -> None:
    assert workflow["env"]["PULUMI_VERSION"] == PULUMI_CLI_VERSION
    every = [s for job in workflow["jobs"] for s in steps(workflow, job)]
    [pulumi] = [s for s in every if s.get("uses", "").startswith("pulumi/actions@")]
    assert pulumi["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}"
    pythons = [s for s in every if s.get("uses", "").startswith("actions/setup-python@")]
    assert pythons and all(s["with"]["cache"] == "pip" for s in pythons)


def test_the_default_selection_leaves_the_kind_stacks_out(tmp_path: Path) -> None:
    list_step = step(FLEET, "stacks", "list")
    output = tmp_path / "output"
    env = {**os.environ, "WANTED": "", "GITHUB_OUTPUT": str(output)}
    subprocess.run([*SHELL, list_step["run"]], cwd=fleet.ROOT, env=env, check=True)
    chosen = json.loads(output.read_text().removeprefix("stacks="))
    on_kind = [
        p.name.removeprefix("Pulumi.").removesuffix(".yaml")
        for p in fleet.ROOT.glob("Pulumi.*.yaml")
        if "kind-" in str(yaml.safe_load(p.read_text())["config"].get("kubernetes:context", ""))
    ]
    assert sorted(on_kind) == ["dev", "dev-gateway-api"]
    assert chosen and not set(on_kind) & set(chosen)
    # named on purpose, a kind stack still runs
    output.unlink()
    subprocess.run([*SHELL, list_step["run"]], cwd=fleet.ROOT, env={**env, "WANTED": "dev"}, check=True)
    assert output.read_text() == 'stacks=["dev"]\n'


@pytest.mark.parametrize("workflow", [FLEET, CHECK], ids=["fleet", "fleet-check"])
def test_a_job_without_a_backend_of_its_own_stops_before_the_fleet(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    """On a runner the project's file default would be thrown away with the state."""
    guard = next(s for s in steps(workflow, "stack") if s.get("name") == "A backend that outlives the runner")
    assert steps(workflow, "stack").index(guard) < min(
        i for i, s in enumerate(steps(workflow, "stack")) if "tools.fleet" in s.get("run", "")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    refused = subprocess.run([*SHELL, guard["run"]], env=env, capture_output=True, text=True, check=False)
    assert refused.returncode == 1 and "PULUMI_BACKEND_URL" in refused.stdout
    given = subprocess.run(
        [*SHELL, guard["run"]], env={**env, "PULUMI_ACCESS_TOKEN": "x"}, capture_output=True, check=False
    )
    assert given.returncode == 0


def test_verify_runs_once_per_stack_and_one_job_reports_the_fleet() -> None:
    verifies = [s for s in steps(FLEET, "stack") if "tools.fleet verify" in s.get("run", "")]
    assert len(verifies) == 1
    assert 'if [ "$OPERATION" = up ]; then args+=(--no-verify); fi' in step(FLEET, "stack", "fleet")["run"]
    report = " ".join(s.get("run", "") for s in steps(FLEET, "report"))
    assert "tools.fleet report --markdown" in report and FLEET["jobs"]["report"]["needs"] == [
        "stacks",
        "stack",
    ]


def test_the_scheduled_check_runs_verify_and_a_drift_preview_over_the_fleet() -> None:
    triggers = CHECK.get("on", CHECK.get(True))
    assert triggers["schedule"] and "workflow_dispatch" in triggers
    runs = " ".join(s.get("run", "") for s in steps(CHECK, "stack"))
    assert "tools.fleet verify --stacks" in runs and "tools.fleet preview --drift --stacks" in runs
    assert "--all --skip-local" in step(CHECK, "stacks", "list")["run"]


def test_the_checks_summary_has_one_verdict_table_and_the_drift_and_fails_on_either(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts = cli / "artifacts"
    (artifacts / "verdicts").mkdir(parents=True)
    (artifacts / "drift").mkdir()
    for stack, ok in (("aws", True), ("gcp", True)):
        row = {"stack": stack, "platform": stack, "verdict": "ok", "ok": ok, "arrived": "192.0.2.1"}
        (artifacts / "verdicts" / f"{stack}.json").write_text(json.dumps([{**row, "expected": None}]))
    # real drift tables: the stand-in's preview always finds changes, so both stacks "drifted"
    monkeypatch.chdir(fleet.ROOT)
    for stack in ("aws", "gcp"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.fleet",
                "preview",
                "--drift",
                "--stacks",
                stack,
                "--log-dir",
                str(cli),
            ],
            capture_output=True,
            text=True,
            check=False,
            env=os.environ,
        )
        assert done.returncode == 1, done.stderr
        (artifacts / "drift" / f"{stack}.txt").write_text(done.stdout)
    summary = subprocess.run(
        ["hack/fleet-check-summary.sh", str(artifacts)],
        cwd=fleet.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert summary.returncode == 1
    assert summary.stdout.startswith("### Client IP: 2 of 2 stack(s) pass\n")
    assert "aws: drift: the cluster differs (create 3)" in summary.stdout
    refreshed = [c for c in calls(cli) if "preview" in c["args"]]
    assert refreshed and all("--refresh" in c["args"] for c in refreshed)
