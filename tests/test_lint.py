"""The type check catches a misspelt key in a Kubernetes args dict (the SDK's *ArgsDict TypedDicts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.program import ROOT

pytestmark = pytest.mark.skipif(
    not (ROOT / ".mypy_cache").is_dir(),
    reason="no .mypy_cache: run `make lint` first (a cold mypy run reads all of pulumi_kubernetes, about 4 minutes)",
)


def mypy(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "snippet.py"
    path.write_text("import pulumi_kubernetes as k8s\n\n" + source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_misspelt_key_fails_the_type_check(tmp_path: Path) -> None:
    result = mypy('spec: k8s.core.v1.ServiceSpecArgsDict = {"tpye": "ClusterIP"}\n', tmp_path)
    assert result.returncode == 1 and 'Extra key "tpye"' in result.stdout, result.stdout


def test_the_same_dict_spelt_right_passes(tmp_path: Path) -> None:
    result = mypy(
        'spec: k8s.core.v1.ServiceSpecArgsDict = {"type": "ClusterIP", "ports": [{"port": 80, "target_port": 8080}]}\n', tmp_path
    )
    assert result.returncode == 0, result.stdout
