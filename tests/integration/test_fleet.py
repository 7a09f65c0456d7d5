"""Integration tier for tools.fleet with the real Pulumi CLI.

- With the CLI only: `tools.fleet preview` over two stacks on a throwaway file backend. Whatever the
  preview finds without a cluster, every stack gets a row, its own engine log, and the stack now
  exists in that backend (the Automation API's version check, stack select/init and event stream
  worked against the real CLI).
- With the CLI, a kube context and ISTIO_SOURCE_IP_E2E=1 (as tests/integration/test_automation.py):
  `tools.fleet up` on ISTIO_SOURCE_IP_E2E_STACK (default dev), which verifies the client address,
  then `tools.fleet destroy`. It deploys to that cluster.

Skipped otherwise, with the reason.

    .venv/bin/python -m pytest tests/integration/test_fleet.py -v
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_automation import skip_reason as e2e_skip_reason
from tools.program import ROOT

CLI = shutil.which("pulumi")
NO_CLI = "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/)"


def fleet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "tools.fleet", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=1800,
    )
    print(result.stdout, result.stderr, sep="\n")
    return result


@pytest.mark.skipif(CLI is None, reason=NO_CLI)
def test_preview_of_two_stacks_through_the_real_cli(tmp_path: Path) -> None:
    backend = tmp_path / "state"
    backend.mkdir()
    env = {"PULUMI_BACKEND_URL": f"file://{backend}", "PULUMI_CONFIG_PASSPHRASE": ""}
    result = fleet("preview", "--stacks", "aws,gcp", "--log-dir", str(tmp_path / "logs"), env=env)

    assert result.returncode in (0, 1), result.stderr
    table = result.stdout.split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in table[1:]] == ["aws", "gcp"]
    assert all(line.split()[2] in ("succeeded", "failed") for line in table[1:])
    for stack in ("aws", "gcp"):
        assert (tmp_path / "logs" / f"{stack}.log").read_text().strip(), f"{stack}: empty engine log"
    listed = subprocess.run(
        [CLI or "pulumi", "stack", "ls", "--json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    assert '"aws"' in listed.stdout and '"gcp"' in listed.stdout


@pytest.mark.skipif(e2e_skip_reason() is not None, reason=e2e_skip_reason() or "")
def test_up_verifies_then_destroy() -> None:
    stack = os.environ.get("ISTIO_SOURCE_IP_E2E_STACK", "dev")
    options = ["--attempts", "20", "--timeout", "300"]
    if os.environ.get("ISTIO_SOURCE_IP_E2E_DOCKER_NETWORK"):
        options += ["--from-docker-network", os.environ["ISTIO_SOURCE_IP_E2E_DOCKER_NETWORK"]]
    elif os.environ.get("ISTIO_SOURCE_IP_E2E_CLIENT_IP"):
        options += ["--expect-ip", os.environ["ISTIO_SOURCE_IP_E2E_CLIENT_IP"]]
    (ROOT / ".pulumi-state").mkdir(exist_ok=True)
    try:
        up = fleet("up", "--stacks", stack, *options, env={})
        assert up.returncode == 0, up.stdout
        assert " ok" in up.stdout.splitlines()[1]
    finally:
        destroyed = fleet("destroy", "--stacks", stack, env={})
    assert destroyed.returncode == 0, destroyed.stdout
