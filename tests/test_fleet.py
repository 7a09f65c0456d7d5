"""tools.fleet: the Automation API path against a stand-in `pulumi`, verify over several stacks
against real servers on 127.0.0.1, the operator's Stack objects, and bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import STACKS
from tests.fleet_helpers import REPO, calls, project, rows, run, use_fake_cli
from tests.verify_servers import Gateway, GoHttpbin
from tools import fleet
from tools.fleet import checks
from tools.verify.readers import backend_defaults


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_fake_cli(tmp_path, monkeypatch)


def test_one_failing_stack_among_three_fails_alone_and_at_most_two_run_at_once(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PULUMI_FAIL", "aws")
    monkeypatch.setenv("FAKE_PULUMI_SLEEP", "0.2")
    code, out = run("preview", "--stacks", "dev,aws,gcp", "--parallel", "2", "--log-dir", str(cli / "logs"))

    assert code == 1
    table = rows(out)
    assert [table[s][:4] for s in ("dev", "aws", "gcp")] == [
        ["dev", "metallb", "succeeded", "create 3"],
        ["aws", "aws", "failed", "-"],
        ["gcp", "gcp", "succeeded", "create 3"],
    ]
    assert "aws: error: the fake cluster of aws refused the Namespace" in out
    # Each stack's engine output went to its own log.
    for stack in ("dev", "aws", "gcp"):
        log = (cli / "logs" / f"{stack}.log").read_text()
        assert f"Previewing ({stack})" in log
        assert all(f"Previewing ({other})" not in log for other in {"dev", "aws", "gcp"} - {stack})
    previews = [c for c in calls(cli) if "preview" in c["args"]]
    assert len(previews) == 3
    overlaps = [sum(o["start"] < c["end"] and c["start"] < o["end"] for o in previews) for c in previews]
    assert max(overlaps) == 2, f"at most --parallel 2 previews at once, and two did overlap: {overlaps}"
    # The Makefile's backend and passphrase, and Automation API mode, reached every call but `pulumi version`.
    stack_calls = [c for c in calls(cli) if c["args"] != ["version"]]
    assert {c["backend"] for c in stack_calls} == {"file://" + str(fleet.ROOT / ".pulumi-state")}
    assert {c["passphrase"] for c in stack_calls} == {""}
    assert {c["automation"] for c in stack_calls} == {"true"}


def test_engine_events_over_grpc_from_a_current_cli_give_the_changes(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "3.272.0")
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://fleet-state")
    code, out = run("up", "--stacks", "hetzner", "--no-verify", "--log-dir", str(cli / "logs"))

    assert code == 0, out
    assert rows(out)["hetzner"][2:4] == ["succeeded", "create 2"]
    ups = [c for c in calls(cli) if "up" in c["args"]]
    assert all(c["args"][c["args"].index("--event-log") + 1].startswith("tcp://127.0.0.1:") for c in ups)
    assert {c["backend"] for c in calls(cli) if c["args"] != ["version"]} == {"s3://fleet-state"}
    # A new stack is created in the backend (select fails, init), as `make up` does with --create.
    assert [c["args"][1:3] for c in calls(cli) if c["args"][1:2] == ["stack"] and "hetzner" in c["args"]][
        :2
    ] == [
        ["stack", "select"],
        ["stack", "init"],
    ]


def test_destroy_of_a_stack_the_backend_does_not_have_is_skipped(cli: Path) -> None:
    code, out = run("destroy", "--stacks", "gcp", "--log-dir", str(cli / "logs"))

    assert code == 0
    assert rows(out)["gcp"][2:4] == ["skipped", "none"]
    assert "gcp: no stack gcp in file://" in out
    assert not [c for c in calls(cli) if "destroy" in c["args"]]


@pytest.mark.parametrize(
    "stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "sigterm", "sighup"]
)
def test_an_interrupt_reaches_each_running_update_once_and_starts_no_other(cli: Path, stop: int) -> None:
    env = {**os.environ, "FAKE_PULUMI_SLEEP": "30"}
    logs = cli / "logs"
    command = [sys.executable, "-m", "tools.fleet", "up", "--stacks", "dev,aws,gcp", "--parallel", "2"]
    command += ["--no-verify", "--log-dir", str(logs)]
    process = subprocess.Popen(
        command,
        cwd=fleet.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 10
    started: list[Path] = []
    while len(started) < 2 and time.monotonic() < deadline:
        started = [p for p in logs.glob("*.log") if "Updating (" in p.read_text()]
        time.sleep(0.05)
    assert len(started) == 2, "two updates should be running"
    process.send_signal(stop)
    out, err = process.communicate(timeout=15)

    assert process.returncode == 130, err
    table = rows(out)
    assert sorted(table[s][2] for s in ("dev", "aws", "gcp")) == ["cancelled"] * 3
    assert "not started: the run was interrupted" in out
    for log in started:
        assert "^C received; cancelling." in log.read_text()
    ups = [c for c in calls(cli) if "up" in c["args"]]
    assert len(ups) == 2
    assert [c["signals"] for c in ups] == [1, 1], (
        "exactly one interrupt each: a second one stops the CLI at once"
    )
    assert all(c["code"] == 255 for c in ups)


# --- verify over several stacks, against real servers on 127.0.0.1 -------------------------------


@pytest.fixture
def two_gateways(cli: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """aws: a gateway that keeps the client address; gcp: one that replaces it with a node address."""
    with GoHttpbin() as echo, Gateway(echo) as good, Gateway(echo, snat_to="10.244.1.7") as lossy:
        outputs = {
            stack: {"gatewayAddress": f"127.0.0.1:{gateway.port}", "echoHost": "echo.example.com"}
            for stack, gateway in (("aws", good), ("gcp", lossy))
        }
        (cli / "outputs.json").write_text(json.dumps(outputs))
        monkeypatch.setenv("FAKE_PULUMI_OUTPUTS", str(cli / "outputs.json"))
        (cli / "state").mkdir(exist_ok=True)
        (cli / "state" / "stacks.json").write_text(json.dumps(["aws", "gcp"]))
        yield


VERIFY = ("--stacks", "aws,gcp", "--expect-ip", "127.0.0.1", "--timeout", "5", "--attempts", "1")


def test_verify_gives_one_verdict_per_stack_and_fails_when_one_loses_the_address(two_gateways: None) -> None:
    code, out = run("verify", *VERIFY, "--json")

    assert code == 1
    verdicts = json.loads(out)
    got = {r["stack"]: (r["verdict"], r["ok"], r["arrived"], r["expected"], r["exitCode"]) for r in verdicts}
    assert got == {
        "aws": ("ok", True, "127.0.0.1", "127.0.0.1", 0),
        "gcp": ("address-lost", False, "10.244.1.7", "127.0.0.1", 10),
    }
    # The same verdicts as the table (the default) and as --markdown (a pull-request comment).
    table = rows(fleet.verdict_table(verdicts))
    assert table["aws"] == ["aws", "aws", "PASS", "ok", "127.0.0.1", "127.0.0.1"]
    assert table["gcp"] == ["gcp", "gcp", "FAIL", "address-lost", "10.244.1.7", "127.0.0.1"]
    lines = fleet.verdict_markdown(verdicts).splitlines()
    assert lines[0] == "### Client IP: 1 of 2 stack(s) pass"
    assert lines[2].startswith("| Stack | Platform | Result | Verdict | Arrived | Expected |")
    assert lines[4].startswith("| `aws` | aws | ✅ pass | `ok` | 127.0.0.1 | 127.0.0.1 |")
    assert lines[5].startswith("| `gcp` | gcp | ❌ fail | `address-lost` | 10.244.1.7 | 127.0.0.1 |")


def test_verify_prints_the_table_or_markdown_as_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        checks, "run_verify", lambda stack, *_: {"verdict": "ok", "ok": True, "externalAddress": "192.0.2.1"}
    )

    assert rows(run("verify", "--stacks", "aws")[1])["aws"][:4] == ["aws", "aws", "PASS", "ok"]
    assert run("verify", "--stacks", "aws", "--markdown")[1].startswith(
        "### Client IP: 1 of 1 stack(s) pass\n"
    )
    code, markdown = run("verify", "--stacks", "aws", "--markdown")
    assert code == 0
    assert "| `aws` | aws | ✅ pass | `ok` |" in markdown


def test_up_verifies_each_deployed_stack(two_gateways: None, cli: Path) -> None:
    code, out = run("up", *VERIFY, "--log-dir", str(cli / "logs"))

    assert code == 1
    table = rows(out)
    assert table["aws"][2:4] == ["succeeded", "create 2"] and table["aws"][5] == "ok"
    assert re.fullmatch(r"\d+\.\ds", table["aws"][4]), table["aws"][4]
    assert table["gcp"][2] == "failed" and table["gcp"][5] == "address-lost"
    assert "gcp: verify: address-lost:" in out


def test_verify_of_a_stack_with_no_outputs_says_why(cli: Path) -> None:
    code, out = run("verify", "--stacks", "hetzner", "--json")

    assert code == 1
    [row] = json.loads(out)
    assert (row["verdict"], row["ok"]) == ("usage", False)
    assert "no stack named 'hetzner' found" in row["diagnosis"]


def test_platform_alone_selects_every_stack_of_that_platform(tmp_path: Path) -> None:
    for stack in STACKS:  # the shipped stack files only: a user's own Pulumi.mine.yaml must not count
        (tmp_path / f"Pulumi.{stack}.yaml").write_text((fleet.ROOT / f"Pulumi.{stack}.yaml").read_text())
    platforms = {
        p.name: yaml.safe_load(p.read_text())["config"]["istio-source-ip:platform"]
        for p in (fleet.ROOT / f"Pulumi.{stack}.yaml" for stack in STACKS)  # the shipped ones only
    }
    on_aws_nlb = [
        "aws-nlb",
        "aws-nlb-cloudflare",
        "aws-nlb-production",
        "aws-nlb-two-gateways",
        "observability",
        "observability-gateway-api",
    ]
    expected = sorted(f"Pulumi.{s}.yaml" for s in on_aws_nlb)
    assert sorted(n for n, platform in platforms.items() if platform == "aws-nlb") == expected
    assert [s.name for s in fleet.select(None, False, "aws-nlb", root=tmp_path)] == on_aws_nlb
    assert [s.name for s in fleet.select("dev,aws-nlb,gcp", False, "aws-nlb", root=tmp_path)] == ["aws-nlb"]


def test_the_makefile_defaults_yield_to_the_users_backend_and_passphrase_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    assert backend_defaults() == {
        "PULUMI_BACKEND_URL": f"file://{fleet.ROOT}/.pulumi-state",
        "PULUMI_CONFIG_PASSPHRASE": "",
    }
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://state")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "/run/secrets/passphrase")
    assert backend_defaults() == {}


# --- bad input: exit 2, a message, nothing run, nothing written ------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["preview", "--stacks", "dev,nosuch"],
            "unknown stack 'nosuch': there is no Pulumi.<stack>.yaml for it; known: ",
        ),
        (
            ["up", "--platform", "nosuch"],
            "the selection is empty: no stack has platform 'nosuch'; platforms of the stacks: ",
        ),
        (
            ["verify", "--stacks", "dev", "--platform", "aws"],
            "the selection is empty: no stack has platform 'aws' among",
        ),
        (["destroy", "--stacks", " , "], "--stacks is empty"),
        (["preview"], "choose the stacks: --stacks a,b, --all, --waves 'a;b,c' or --platform NAME"),
        (["preview", "--all", "--parallel", "0"], "argument --parallel: must be 1 or more, got 0"),
        (["up", "--all", "--expect-ip", "nope"], "argument --expect-ip: not an IP address: 'nope'"),
        (["operator", "--all", "--out", "OUT"], "operator needs --repo URL"),
        (["operator", "--all", "--repo", "not a url", "--out", "OUT"], "--repo must be a git URL"),
        (
            ["operator", "--all", "--repo", REPO, "--out", "OUT", "--namespace", "Bad_NS"],
            "--namespace 'Bad_NS' is refused: it must be a DNS label",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message_and_writes_nothing(
    argv: list[str], message: str, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli / "out"
    argv = [str(out) if a == "OUT" else a for a in argv]
    code, stdout = run(*argv, *(["--log-dir", str(out)] if argv[0] in fleet.OPERATIONS else []))

    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and "Traceback" not in err
    assert stdout == ""
    assert not out.exists()
    assert calls(cli) == []


def test_without_the_pulumi_cli_preview_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    assert run("preview", "--stacks", "dev", "--log-dir", str(tmp_path / "logs"))[0] == 2
    assert "the Pulumi CLI is not installed" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()


def wait_for(condition: Any, what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_cancel_sent_to_the_bash_that_execs_the_fleet_reaches_each_running_pulumi(cli: Path) -> None:
    """A CI runner signals the step's shell; `exec` makes the fleet that shell's process, so the
    SIGTERM reaches the fleet, which passes one interrupt on to each running `pulumi`."""
    env = {**os.environ, "FAKE_PULUMI_SLEEP": "30"}
    logs = cli / "logs"
    fleet_command = f"exec {sys.executable} -m tools.fleet up --stacks aws,gcp --no-verify --log-dir {logs}"
    shell = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", f"echo started; {fleet_command}"],
        cwd=fleet.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(
        lambda: len([p for p in logs.glob("*.log") if "Updating (" in p.read_text()]) == 2, "two updates"
    )
    shell.send_signal(signal.SIGTERM)  # to the shell's pid, as the runner does
    out, err = shell.communicate(timeout=15)

    assert shell.returncode == 130, err
    ups = [c for c in calls(cli) if "up" in c["args"]]
    assert sorted(c["args"][c["args"].index("--stack") + 1] for c in ups) == ["aws", "gcp"]
    assert [c["signals"] for c in ups] == [1, 1]
    assert sorted(rows(out.split("\n", 1)[1])[s][2] for s in ("aws", "gcp")) == ["cancelled", "cancelled"]


def test_a_stack_that_finished_its_update_is_not_reported_cancelled_by_a_late_ctrl_c(cli: Path) -> None:
    """The SDK reads `stack history` after `pulumi up` ends; a Ctrl-C then must not turn the finished
    update into "cancelled", nor signal a `pulumi` whose update is over."""
    env = {**os.environ, "FAKE_PULUMI_READ_SLEEP": "1"}
    command = [sys.executable, "-m", "tools.fleet", "up", "--stacks", "aws", "--no-verify"]
    process = subprocess.Popen(
        [*command, "--log-dir", str(cli / "logs")],
        cwd=fleet.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: any("up" in c["args"] and c["code"] == 0 for c in calls(cli)), "the update to end")
    # ...and for the SDK's read after it to begin: before that the SDK may not have seen `up` exit yet.
    reading = Path(os.environ["FAKE_PULUMI_LOG"] + ".reading")
    wait_for(reading.exists, "the read after the update to begin")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)

    assert process.returncode == 130, err
    assert rows(out)["aws"][2:4] == ["succeeded", "create 2"]
    assert [c["signals"] for c in calls(cli) if c["args"][1:3] == ["stack", "history"]] == [0]


def test_each_command_says_first_which_backend_it_uses(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("preview", "--stacks", "aws", "--log-dir", str(cli / "logs"))

    assert code == 0
    first = capsys.readouterr().err.splitlines()[0]
    assert first.startswith(f"backend: file://{fleet.ROOT}/.pulumi-state (the project's default: ")


def test_a_pulumi_login_keeps_the_users_backend_for_every_stack(
    cli: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = cli / "pulumi-home"
    home.mkdir()
    (home / "credentials.json").write_text(json.dumps({"current": "gs://team-state"}))
    monkeypatch.setenv("PULUMI_HOME", str(home))
    code, _ = run("preview", "--stacks", "aws,gcp", "--log-dir", str(cli / "logs"))

    assert code == 0
    assert capsys.readouterr().err.startswith("backend: gs://team-state (your `pulumi login`, ")
    stack_calls = [c for c in calls(cli) if c["args"] != ["version"]]
    assert stack_calls and {c["backend"] for c in stack_calls} == {None}, "the CLI must find the login itself"
    assert {c["passphrase"] for c in stack_calls} == {None}


# --- selection: a broken stack file fails only what selects it ------------------------------------

GOOD = "config:\n  istio-source-ip:platform: gcp\n"


def test_an_unreadable_stack_file_fails_only_the_commands_that_select_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, {"good": GOOD, "broken": "config: [unclosed\n", "bad name": GOOD}, monkeypatch)

    assert run("list", "--stacks", "good") == (0, '["good"]\n')
    assert run("list", "--platform", "gcp") == (0, '["good"]\n')
    err = capsys.readouterr().err
    assert "warning: --platform gcp: passed over Pulumi.broken.yaml cannot be read as YAML" in err
    assert "Pulumi refuses the stack name 'bad name'" in err
    assert run("list", "--stacks", "good,broken")[0] == 2
    assert capsys.readouterr().err.startswith(
        "error: --stacks selects stack 'broken', which cannot run: Pulumi.broken.yaml cannot be read as YAML"
    )
    assert run("list", "--all")[0] == 2
    assert "--all selects stack 'bad name', which cannot run" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("prod.eu-west_1", True),
        ("A" * 100, True),
        ("A" * 101, False),
        ("org/prod", False),
        ("prod eu", False),
        ("prödi", False),
        ("prod:1", False),
    ],
)
def test_stack_names_follow_pulumis_rule_before_anything_runs(
    name: str, accepted: bool, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Pulumi's rule (sdk/go/common/tokens/stack_name.go): 1-100 of [A-Za-z0-9_.-]."""
    code, _ = run("up", "--stacks", name, "--log-dir", str(cli / "logs"))

    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    refused = f"Pulumi refuses the stack name {name!r}" in err
    assert refused is not accepted, err  # an accepted name is merely unknown here
    assert calls(cli) == []


def test_the_pinned_cli_is_the_sdk_version_the_project_is_tested_with() -> None:
    pins = dict(
        line.split("==")
        for line in (fleet.ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line
    )
    assert fleet.facts.PULUMI_CLI_VERSION == pins["pulumi"]
    assert fleet.facts.WORKSPACE_IMAGE == f"pulumi/pulumi:{pins['pulumi']}-nonroot"
