"""First contact: the quickstart's proof on kind, and the Makefile without the CLI, a stack or ../shared.

`docker` and `pulumi` are fakes (tests/fakes) on PATH that record their calls and answer like the
real ones; the verify request itself is a real exchange with a gateway stand-in on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fake_env, make, verify_cli
from tests.verify_servers import Gateway, GoHttpbin
from tools.program import ROOT


def calls(tmp_path: Path, tool: str) -> list:
    log = tmp_path / ("docker/calls.log" if tool == "docker" else "pulumi.log")
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_make_verify_on_kind_sends_from_a_container_and_expects_its_address(tmp_path: Path) -> None:
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        outputs = {
            "gatewayAddress": gateway.url.removeprefix("http://"),
            "echoHost": "echo.example.com",
            "numTrustedProxies": 0,
        }
        env = fake_env(tmp_path, FAKE_PULUMI_OUTPUTS=json.dumps(outputs), FAKE_DOCKER_IP="127.0.0.1")
        result = make("verify", "STACK=dev", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS [ok] the client address 127.0.0.1 arrived at the echo app" in result.stdout
    assert "expected: 127.0.0.1" in result.stdout
    [pulumi_call] = calls(tmp_path, "pulumi")
    assert pulumi_call["args"][:3] == ["stack", "output", "--json"] and pulumi_call["args"][-2:] == [
        "--stack",
        "dev",
    ]
    assert pulumi_call["backend"] == f"file://{ROOT}/.pulumi-state"  # the Makefile's backend
    docker = [c[0] for c in calls(tmp_path, "docker")]
    assert docker == ["create", "cp", "start", "inspect", "exec", "rm"]
    create = calls(tmp_path, "docker")[0]
    assert create[create.index("--network") + 1] == "kind"
    exec_call = calls(tmp_path, "docker")[4]
    assert exec_call[exec_call.index("--expect-ip") + 1] == "127.0.0.1"  # the address Docker reported


def test_expect_ip_overrides_the_containers_address(tmp_path: Path) -> None:
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        outputs = {"gatewayAddress": gateway.url.removeprefix("http://"), "echoHost": "echo.example.com"}
        env = fake_env(tmp_path, FAKE_PULUMI_OUTPUTS=json.dumps(outputs))
        result = make("verify", "STACK=dev", "EXPECT_IP=192.0.2.7", env=env)
    assert "FAIL [address-lost] expected 192.0.2.7" in result.stdout
    assert "Error 10" in result.stderr  # make reports verify's exit code (address-lost)
    assert [c[0] for c in calls(tmp_path, "docker")] == ["create", "cp", "start", "exec", "rm"]  # no inspect


def test_verify_with_a_user_backend_keeps_it(tmp_path: Path) -> None:
    env = fake_env(tmp_path, FAKE_PULUMI_OUTPUTS="{}", PULUMI_BACKEND_URL="s3://team-state")
    result = verify_cli("--stack", "prod", env=env)
    assert result.returncode == 15 and "no gateway address yet" in result.stdout
    assert calls(tmp_path, "pulumi")[0]["backend"] == "s3://team-state"


def test_destroy_of_a_missing_stack_says_so_and_creates_nothing(tmp_path: Path) -> None:
    env = fake_env(tmp_path, FAKE_PULUMI_STACKS="dev")
    result = make("destroy", "STACK=typo", env=env)
    assert result.returncode != 0 and "there is no stack typo" in result.stdout
    assert [c["args"][:2] for c in calls(tmp_path, "pulumi")] == [["stack", "select"]]
    assert "--create" not in calls(tmp_path, "pulumi")[0]["args"]


@pytest.mark.parametrize("target", ["preview", "up", "destroy"])
def test_pulumi_targets_without_the_cli_say_how_to_install_it(tmp_path: Path, target: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "sh", "bash", "python3", "mkdir", "touch", "env"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    result = make(target, "STACK=dev", env=env)
    assert result.returncode != 0
    assert "the Pulumi CLI is not installed: see https://www.pulumi.com/docs/install/" in result.stdout


def test_check_render_without_the_shared_folder_skips_with_its_reason() -> None:
    result = make("check-render", "SHARED=/nonexistent")
    assert result.returncode == 0
    assert (
        "check-render: skipped: /nonexistent/tools/check-render and chart-render not found" in result.stdout
    )


def test_an_old_python_gets_one_clear_line(tmp_path: Path) -> None:
    old = tmp_path / "python3.10"
    old.write_text(
        "#!/bin/sh\nexec " + sys.executable + " -c 'import sys; sys.version_info = (3, 10, 0); "
        'sys.version = "3.10.0"; exec(sys.argv[2])\' "$@"\n'
    )
    old.chmod(0o755)
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-B",
            "-f",
            "Makefile",
            f"VENV={tmp_path}/venv",
            f"PYTHON={old}",
            "venv",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert (
        "istio-source-ip needs Python 3.11 or newer, and " in result.stderr and "is 3.10.0" in result.stderr
    )
    assert not (tmp_path / "venv").exists()
