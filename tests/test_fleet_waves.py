"""tools.fleet rollout waves: a wave starts only when every stack of the one before deployed and
verified; a failure leaves the later waves untouched. Against the stand-in `pulumi`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from source_ip.config import near_miss_namespace_warnings, parse_config
from tests.fleet_helpers import calls, project, rows, run, use_fake_cli
from tools.fleet import checks, selection
from tools.stackfile import read_stack_file


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_fake_cli(tmp_path, monkeypatch)


def operated(tmp: Path, operation: str = "up") -> list[str]:
    return [c["args"][c["args"].index("--stack") + 1] for c in calls(tmp) if operation in c["args"]]


def test_a_failing_first_wave_leaves_the_later_waves_untouched(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PULUMI_FAIL", "aws")
    code, out = run(
        "up", "--waves", "dev,aws;gcp,hetzner;metallb", "--no-verify", "--log-dir", str(cli / "l")
    )

    assert code == 1
    table = rows(out)
    assert [table[s][2] for s in ("dev", "aws", "gcp", "hetzner", "metallb")] == [
        "succeeded",
        "failed",
        "skipped",
        "skipped",
        "skipped",
    ]
    assert sorted(operated(cli)) == ["aws", "dev"], "no later stack was even selected in the backend"
    assert not [c for c in calls(cli) if {"gcp", "hetzner", "metallb"} & set(c["args"])]
    assert "gcp: wave 2 not started: an earlier wave did not succeed (aws)" in out


def test_a_wave_that_deploys_but_loses_the_client_address_stops_the_rollout(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verdicts = {"aws": {"verdict": "ok", "ok": True}, "gcp": {"verdict": "address-lost", "ok": False}}
    monkeypatch.setattr(checks, "run_verify", lambda stack, *_: verdicts[stack])
    code, out = run("up", "--waves", "aws,gcp;hetzner", "--log-dir", str(cli / "logs"))

    assert code == 1
    table = rows(out)
    assert (table["gcp"][2], table["gcp"][5]) == ("failed", "address-lost")
    assert table["hetzner"][2] == "skipped"
    assert sorted(operated(cli)) == ["aws", "gcp"]


def test_each_wave_starts_after_the_previous_one_ended_and_parallel_applies_within_it(
    cli: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PULUMI_SLEEP", "0.15")
    code, out = run(
        "up", "--waves", "aws,gcp;hetzner", "--parallel", "2", "--no-verify", "--log-dir", str(cli / "logs")
    )

    assert code == 0, out
    ups = {c["args"][c["args"].index("--stack") + 1]: c for c in calls(cli) if "up" in c["args"]}
    assert ups["aws"]["start"] < ups["gcp"]["end"] and ups["gcp"]["start"] < ups["aws"]["end"], (
        "wave 1 ran at once"
    )
    assert ups["hetzner"]["start"] > max(ups["aws"]["end"], ups["gcp"]["end"])


@pytest.mark.parametrize(
    ("waves", "message"),
    [
        ("aws;;gcp", "--waves 'aws;;gcp': every wave needs a stack"),
        ("aws;gcp,aws", "--waves 'aws;gcp,aws': stack 'aws' is in two waves"),
        ("aws;nosuch", "--waves: unknown stack 'nosuch'"),
        ("aws;b@d", "--waves 'b@d': Pulumi refuses the stack name 'b@d'"),
    ],
)
def test_bad_waves_exit_2_before_anything_runs(
    waves: str, message: str, cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("up", "--waves", waves, "--log-dir", str(cli / "logs"))[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert calls(cli) == []


def stack_file(platform: str, wave: Any = None) -> str:
    return f"config:\n  istio-source-ip:platform: {platform}\n" + (
        f"  fleet:wave: {wave}\n" if wave is not None else ""
    )


def test_a_stack_file_carries_its_wave_and_the_stacks_without_one_go_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(
        tmp_path,
        {
            "canary": stack_file("gcp", 0),
            "eu": stack_file("gcp", 1),
            "us": stack_file("aws", 1),
            "lab": stack_file("gcp"),
        },
        monkeypatch,
    )
    chosen = selection.select(None, True, None)
    assert [[s.name for s in wave] for wave in selection.plan_waves(chosen, None)] == [
        ["canary"],
        ["eu", "us"],
        ["lab"],
    ]
    # --waves replaces the files' waves
    assert [[s.name for s in w] for w in selection.plan_waves(chosen, "us;canary,eu,lab")] == [
        ["us"],
        ["canary", "eu", "lab"],
    ]


def test_a_wave_that_is_not_a_whole_number_is_refused_for_the_stacks_that_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, {"a": stack_file("gcp", '"first"'), "b": stack_file("gcp", 1)}, monkeypatch)

    assert run("list", "--stacks", "b")[0] == 0
    assert run("list", "--stacks", "a")[0] == 2
    assert (
        "fleet:wave must be a whole number (0, 1, 2, ...; lowest first): 'first'" in capsys.readouterr().err
    )


def test_the_program_takes_the_wave_key_without_a_warning(tmp_path: Path) -> None:
    """fleet:wave is in its own namespace: the program reads only istio-source-ip: keys and warns about
    a namespace one slip from its own (here istio-source-ipp), which fleet is not."""
    path = tmp_path / "Pulumi.canary.yaml"
    path.write_text(stack_file("gcp", 1))
    raw = read_stack_file(path)
    assert raw["fleet:wave"] == "1"
    assert near_miss_namespace_warnings(raw) == []
    parse_config(raw)  # accepted
    near = {**raw, "istio-source-ipp:wave": "1"}
    assert len(near_miss_namespace_warnings(near)) == 1, "the namespace choice matters: a near miss is warned"
