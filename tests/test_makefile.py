"""The Makefile's own messages: `make help`, a stack that does not exist, a failing stack, `make env`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import STACKS, make, shell_without_pulumi, without_pulumi_login
from tools.program import ROOT
from tools.verify.readers import backend_defaults


def test_help_lists_every_target_and_says_that_stack_defaults_to_dev() -> None:
    result = make("help")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("make ")}
    phony = re.search(r"^\.PHONY:((?:.*\\\n)*.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert phony is not None
    targets = set(phony.group(1).replace("\\", " ").split()) - {"help", "venv", "known-stack"}
    assert targets <= listed, f"missing from make help: {sorted(targets - listed)}"
    assert {"lint", "lint-workflows", "charts-all", "env"} <= listed
    assert "STACK defaults to dev" in result.stdout
    [stacks] = [line for line in result.stdout.splitlines() if "stacks: " in line]
    assert set(STACKS) <= set(stacks.split("stacks: ", 1)[1].split())  # a user's own stacks may be there too


ABSENT = "no-such-stack-here"
"""A stack name no checkout has (the README's own example, `mine`, may well exist in a user's)."""


def test_an_unknown_stack_lists_the_stacks_and_says_how_to_make_one() -> None:
    assert not (ROOT / f"Pulumi.{ABSENT}.yaml").exists()
    for target in ("render", "preview", "up"):
        result = make(target, f"STACK={ABSENT}")
        assert result.returncode == 2, result.stdout + result.stderr
        [line] = [x for x in result.stdout.splitlines() if x.startswith("there is no stack")]
        assert line.startswith(
            f"there is no stack '{ABSENT}' here (no Pulumi.{ABSENT}.yaml); the stacks are: "
        )
        assert set(STACKS) <= set(line.split("the stacks are: ", 1)[1].split())
        assert f"cp Pulumi.gcp.yaml 'Pulumi.{ABSENT}.yaml'" in result.stdout
        assert "set istio-source-ip:platform and kubernetes:context" in result.stdout


def test_verify_echoes_one_command_line_without_a_dangling_backslash() -> None:
    result = make("-n", "-o", "venv", "verify", "STACK=gcp")
    assert result.stdout.splitlines() == [".venv/bin/python -m tools.verify --stack gcp"]
    on_kind = make("-n", "-o", "venv", "verify", "STACK=dev", "EXPECT_IP=192.0.2.7").stdout.splitlines()
    verify = ".venv/bin/python -m tools.verify"
    assert on_kind == [f"{verify} --stack dev --expect-ip 192.0.2.7 --from-docker-network kind"]


def test_make_env_gives_bare_pulumi_commands_the_targets_backend(tmp_path: Path) -> None:
    env = shell_without_pulumi()
    exported = make("-s", "env", env=env)
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith("export PULUMI_BACKEND_URL=")
    shown = subprocess.run(
        [
            "sh",
            "-c",
            'eval "$1"; printf "%s|%s" "$PULUMI_BACKEND_URL" "${PULUMI_CONFIG_PASSPHRASE-unset}"',
            "sh",
            exported.stdout,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == f"file://{ROOT}/.pulumi-state|"
    # A passphrase of the user's own survives the shell's quoting, whatever it holds.
    env["PULUMI_CONFIG_PASSPHRASE"] = 'it\'s $HOME `x` "q"'
    exported = make("-s", "env", env=env)
    shown = subprocess.run(
        ["sh", "-c", 'eval "$1"; printf "%s" "$PULUMI_CONFIG_PASSPHRASE"', "sh", exported.stdout],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == env["PULUMI_CONFIG_PASSPHRASE"]


def test_check_render_names_the_stack_whose_config_failed(tmp_path: Path) -> None:
    """In a copy of the program with one broken stack, and stand-ins for shared/'s two tools (`-o venv`:
    this interpreter's environment, as it is)."""
    for part in ("Pulumi.yaml", "Makefile", *(p.name for p in ROOT.glob("*.py"))):
        shutil.copy(ROOT / part, tmp_path / part)
    for package in (p.parent for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"):
        shutil.copytree(package, tmp_path / package.name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "Pulumi.broken.yaml").write_text(
        "config:\n  istio-source-ip:platform: gcp\n  istio-source-ip:gateway:\n    replcas: 3\n"
    )
    shared = tmp_path / "shared" / "tools"
    shared.mkdir(parents=True)
    for tool in ("check-render", "chart-render"):
        (shared / tool).write_text("#!/bin/sh\necho ok\n")
        (shared / tool).chmod(0o755)
    shared_dir = f"SHARED={tmp_path / 'shared'}"
    result = make("-o", "venv", "check-render", f"PY={sys.executable}", shared_dir, cwd=tmp_path)
    assert result.returncode != 0
    assert "broken: render FAILED: Pulumi.broken.yaml (the message is above)" in result.stdout
    assert "istio-source-ip:gateway.replcas: unknown key" in result.stderr


def test_no_tests_collected_is_reported_and_not_a_failure() -> None:
    """pytest's exit 5; `-o lint -o venv`: the lint already ran (make lint), and the venv is this one.
    tests/fakes holds no tests, and --noconftest keeps pytest from importing the SDK to find none."""
    result = make(
        "-o",
        "lint",
        "-o",
        "venv",
        "test",
        f"PY={sys.executable}",
        "PYTEST_WORKERS=0",
        "PYTEST_ARGS=-p no:cacheprovider --noconftest tests/fakes",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test: pytest collected no tests (exit 5)" in result.stdout


BACKEND_VARS = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")


def after_make_env(user: dict[str, str], *make_args: str) -> tuple[str, ...]:
    """The three variables in a shell of the user's after `eval "$(make env)"` ("unset" if unset)."""
    env = shell_without_pulumi() | user
    exported = make("-s", "env", *make_args, env=env)
    assert exported.returncode == 0, exported.stderr
    show = "; ".join(f'printf "%s|" "${{{name}-unset}}"' for name in BACKEND_VARS)
    shown = subprocess.run(
        ["sh", "-c", f'eval "$1"; {show}', "sh", exported.stdout],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(shown.stdout.split("|")[:3])


@pytest.mark.parametrize(
    "user",
    [
        {},
        {"PULUMI_BACKEND_URL": ""},
        {"PULUMI_BACKEND_URL": "s3://state"},
        {"PULUMI_BACKEND_URL": "s3://state", "PULUMI_CONFIG_PASSPHRASE": "x"},
        {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/pulumi"},
        {"PULUMI_CONFIG_PASSPHRASE_FILE": ""},
        {"PULUMI_CONFIG_PASSPHRASE": ""},
        {"PULUMI_CONFIG_PASSPHRASE": "x", "PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/pulumi"},
    ],
    ids=[
        "nothing",
        "empty-url",
        "url",
        "url-and-passphrase",
        "passphrase-file",
        "empty-file",
        "empty-passphrase",
        "both",
    ],
)
def test_make_env_and_the_tools_default_the_same_backend_and_passphrase(
    user: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI reads PULUMI_CONFIG_PASSPHRASE, even an empty one, before the file, and ignores an empty
    file name: a passphrase file of the user's must never be shadowed by the empty default. The empty
    passphrase comes only with the project's own file backend: a backend of the user's keeps theirs."""
    without_pulumi_login(monkeypatch)
    for name, value in user.items():
        monkeypatch.setenv(name, value)
    own = bool(user.get("PULUMI_BACKEND_URL"))
    url = user.get("PULUMI_BACKEND_URL") or f"file://{ROOT}/.pulumi-state"
    if "PULUMI_CONFIG_PASSPHRASE" in user:
        passphrase = user["PULUMI_CONFIG_PASSPHRASE"]
    else:
        passphrase = "unset" if own or user.get("PULUMI_CONFIG_PASSPHRASE_FILE") else ""
    expected = (url, passphrase, user.get("PULUMI_CONFIG_PASSPHRASE_FILE", "unset"))
    assert after_make_env(user) == expected
    tools = {**user, **backend_defaults()}
    assert tuple(tools.get(name, "unset") for name in BACKEND_VARS) == expected


@pytest.mark.parametrize("how", ["login-file", "credentials-path", "access-token"])
def test_a_pulumi_login_or_an_access_token_keeps_the_users_backend(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`pulumi login s3://team-state` writes {"current": ...} into PULUMI_HOME/credentials.json
    (PULUMI_CREDENTIALS_PATH moves it); PULUMI_ACCESS_TOKEN alone means Pulumi Cloud. Either way no
    file backend and no empty passphrase are set, and the command's first line says which backend."""
    without_pulumi_login(monkeypatch)
    home = tmp_path / "home"
    home.mkdir()
    login = {"current": "s3://team-state", "accessTokens": {"s3://team-state": ""}}
    user: dict[str, str] = {}
    if how == "access-token":
        user["PULUMI_ACCESS_TOKEN"] = "pul-not-a-real-token"
        shown = "backend: https://api.pulumi.com (Pulumi Cloud with PULUMI_ACCESS_TOKEN)"
    else:
        name = "PULUMI_HOME" if how == "login-file" else "PULUMI_CREDENTIALS_PATH"
        (home / "credentials.json").write_text(json.dumps(login))
        user[name] = str(home)
        shown = f"backend: s3://team-state (your `pulumi login`, {home / 'credentials.json'})"
    for name, value in user.items():
        monkeypatch.setenv(name, value)

    assert backend_defaults() == {}
    assert after_make_env(user) == ("unset", "unset", "unset")
    assert make("-s", "env", env=shell_without_pulumi() | user).stderr.splitlines()[0] == shown


def test_an_unreadable_login_file_counts_as_no_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_pulumi_login(monkeypatch)
    (tmp_path / "credentials.json").write_text("{not json")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path))
    assert backend_defaults()["PULUMI_BACKEND_URL"] == f"file://{ROOT}/.pulumi-state"


def test_an_empty_backend_on_the_command_line_gets_the_default_too() -> None:
    url = after_make_env({}, "PULUMI_BACKEND_URL=")[0]
    assert url == f"file://{ROOT}/.pulumi-state"
