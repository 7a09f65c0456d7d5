"""tools.fleet: the Automation API path against a stand-in `pulumi`, verify over several stacks
against real servers on 127.0.0.1, the operator's Stack objects, and bad input."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.verify_servers import Gateway, GoHttpbin
from tools import fleet

FAKES = Path(__file__).resolve().parent / "fakes" / "automation"
SHARED = fleet.ROOT.parent / "shared"
REPO = "https://github.com/example/istio-source-ip.git"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in CLI first on PATH (then this Python, for verify's subprocess), its state in tmp_path.
    Version 3.200.0: the SDK reads engine events from a file (the gRPC path has its own test)."""
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(FAKES), str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "3.200.0")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    return tmp_path


def calls(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = fleet.main(list(argv), stdout=out)
    return code, out.getvalue()


def rows(text: str) -> dict[str, list[str]]:
    """The final table's rows by stack (columns split on two or more spaces)."""
    import re

    lines = text.split("\n\n")[0].splitlines()
    return {cells[0]: cells for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}


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


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
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
        fleet, "run_verify", lambda stack, *_: {"verdict": "ok", "ok": True, "externalAddress": "192.0.2.1"}
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


# --- operator ------------------------------------------------------------------------------------


def operator(out: Path, *extra: str) -> tuple[int, str]:
    return run("operator", "--stacks", "dev,aws,gcp,metallb", "--repo", REPO, "--out", str(out), *extra)


def test_operator_writes_stack_objects_whose_credentials_are_all_secret_references(tmp_path: Path) -> None:
    code, _ = operator(tmp_path / "out", "--secret-env", "AWS_ACCESS_KEY_ID", "--branch", "release")

    assert code == 0
    objects = list(yaml.safe_load_all((tmp_path / "out" / "manifests.yaml").read_text()))
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
    for o in yaml.safe_load_all((tmp_path / "out" / "manifests.yaml").read_text()):
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
    code, _ = run("operator", "--all", "--repo", REPO, "--out", str(tmp_path / "out"))
    assert code == 0
    result = check_render(tmp_path / "out", tmp_path / "upstream")
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith(
        f"{len(fleet.discover())} objects, 0 patches, 0 releases checked: 0 problems"
    )


def test_operator_replaces_its_previous_output_whole(tmp_path: Path) -> None:
    assert operator(tmp_path / "out")[0] == 0
    assert run("operator", "--stacks", "hetzner", "--repo", REPO, "--out", str(tmp_path / "out"))[0] == 0

    names = [
        o["metadata"]["name"] for o in yaml.safe_load_all((tmp_path / "out" / "manifests.yaml").read_text())
    ]
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


def test_platform_alone_selects_every_stack_of_that_platform() -> None:
    platforms = {
        p.name: yaml.safe_load(p.read_text())["config"]["istio-source-ip:platform"]
        for p in fleet.ROOT.glob("Pulumi.*.yaml")
    }
    on_aws_nlb = [
        "aws-nlb",
        "aws-nlb-cloudflare",
        "aws-nlb-two-gateways",
        "observability",
        "observability-gateway-api",
    ]
    expected = sorted(f"Pulumi.{s}.yaml" for s in on_aws_nlb)
    assert sorted(n for n, platform in platforms.items() if platform == "aws-nlb") == expected
    assert [s.name for s in fleet.select(None, False, "aws-nlb")] == on_aws_nlb
    assert [s.name for s in fleet.select("dev,aws-nlb,gcp", False, "aws-nlb")] == ["aws-nlb"]


def test_the_makefile_defaults_yield_to_the_users_backend_and_passphrase_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    assert fleet.backend_defaults() == {
        "PULUMI_BACKEND_URL": f"file://{fleet.ROOT}/.pulumi-state",
        "PULUMI_CONFIG_PASSPHRASE": "",
    }
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://state")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "/run/secrets/passphrase")
    assert fleet.backend_defaults() == {}


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
        (["preview"], "choose the stacks: --stacks a,b, --all, or --platform NAME"),
        (["preview", "--all", "--parallel", "0"], "argument --parallel: must be 1 or more, got 0"),
        (["up", "--all", "--expect-ip", "nope"], "argument --expect-ip: not an IP address: 'nope'"),
        (["operator", "--all", "--out", "OUT"], "operator needs --repo URL"),
        (["operator", "--all", "--repo", "not a url", "--out", "OUT"], "--repo must be a git URL"),
        (
            ["operator", "--all", "--repo", REPO, "--out", "OUT", "--namespace", "Bad_NS"],
            "--namespace must be a DNS label",
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


def test_operator_refuses_an_out_directory_holding_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")

    assert operator(tmp_path / "out")[0] == 2
    assert "holds other files" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["keep.txt"]


def test_without_the_pulumi_cli_preview_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    assert run("preview", "--stacks", "dev", "--log-dir", str(tmp_path / "logs"))[0] == 2
    assert "the Pulumi CLI is not installed" in capsys.readouterr().err
    assert not (tmp_path / "logs").exists()
