"""The type check catches a misspelt key in a Kubernetes args dict (the SDK's *ArgsDict TypedDicts)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tools.program import ROOT

pytestmark = pytest.mark.skipif(
    not (ROOT / ".mypy_cache").is_dir(),
    reason="no .mypy_cache: run `make lint` first (a cold mypy run reads all of pulumi_kubernetes: "
    "about 30 s of one core, measured on the 2-core development machine)",
)


def test_a_misspelt_key_fails_the_type_check_and_the_right_spelling_passes(tmp_path: Path) -> None:
    header = "import pulumi_kubernetes as k8s\n\n"
    # Unique module names: mypy's incremental cache is keyed by module name, and would otherwise report
    # an earlier run's file.
    unique = uuid.uuid4().hex[:12]
    wrong = tmp_path / f"wrong_{unique}.py"
    wrong.write_text(header + 'spec: k8s.core.v1.ServiceSpecArgsDict = {"tpye": "ClusterIP"}\n')
    right = tmp_path / f"right_{unique}.py"
    spec = '{"type": "ClusterIP", "ports": [{"port": 80, "target_port": 8080}]}'
    right.write_text(header + f"spec: k8s.core.v1.ServiceSpecArgsDict = {spec}\n")
    config = str(ROOT / "pyproject.toml")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", config, str(wrong), str(right)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert result.returncode == 1 and len(errors) == 1, result.stdout
    assert errors[0].startswith(str(wrong)) and 'Extra key "tpye"' in errors[0]
