"""Helpers of the tools.fleet tests (test_fleet*.py): the stand-in CLI, running the fleet, its tables."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NO_PULUMI_HOME
from tools import fleet

FAKES = Path(__file__).resolve().parent / "fakes" / "automation"
SHARED = fleet.ROOT.parent / "shared"
REPO = "https://github.com/example/istio-source-ip.git"


def use_fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in CLI first on PATH (then this Python, for verify's subprocess), its state in tmp_path,
    and a user with no backend of their own (no PULUMI_* variables, no `pulumi login`).
    Version 3.200.0: the SDK reads engine events from a file (the gRPC path has its own test)."""
    for name in [n for n in os.environ if n.startswith(("PULUMI_", "FAKE_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(FAKES), str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    monkeypatch.setenv("PULUMI_HOME", str(NO_PULUMI_HOME))
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "3.200.0")
    return tmp_path


def calls(tmp: Path) -> list[dict[str, Any]]:
    """Every call the stand-in CLI answered, in order (its FAKE_PULUMI_LOG)."""
    path = tmp / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(*argv: str) -> tuple[int, str]:
    """`python -m tools.fleet ARGV` in this process: (exit code, stdout)."""
    out = io.StringIO()
    code = fleet.main(list(argv), stdout=out)
    return code, out.getvalue()


def rows(text: str) -> dict[str, list[str]]:
    """The final table's rows by stack (columns split on two or more spaces)."""
    lines = text.split("\n\n")[0].splitlines()
    return {cells[0]: cells for cells in (re.split(r"\s{2,}", line.strip()) for line in lines[1:])}


def project(tmp_path: Path, files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder holding only these stack files (name -> text), which the selection reads."""
    root = tmp_path / "project"
    root.mkdir()
    for name, text in files.items():
        (root / f"Pulumi.{name}.yaml").write_text(text)
    monkeypatch.setattr(fleet.selection, "ROOT", root)
    return root
