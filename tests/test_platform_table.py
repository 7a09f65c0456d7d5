"""The platform table (docs/platforms.md) is generated from the registry and must match it."""

from __future__ import annotations

from source_ip.facts import PLATFORMS
from tools.platform_table import END, START, readme_with_table, table
from tools.program import ROOT
from tools.readme import document_with


def test_the_platform_table_matches_the_registry() -> None:
    path = document_with(START)
    assert path == ROOT / "docs" / "platforms.md"
    text = path.read_text()
    assert text == readme_with_table(text), "run: .venv/bin/python -m tools.platform_table --write"


def test_table_has_a_row_per_platform_with_its_annotations() -> None:
    rows = table().splitlines()[2:]
    assert [row.split("|")[1].strip(" `") for row in rows] == sorted(PLATFORMS)
    for row, platform in zip(rows, sorted(PLATFORMS.values(), key=lambda p: p.id), strict=True):
        for mode in platform.modes:  # local_annotations may also serve a migration step, not listed
            for key, value in platform.annotations_for(mode).items():
                assert f'`{key}: "{value}"`' in row


def test_markers_are_present_once() -> None:
    text = document_with(START).read_text()
    assert text.count(START) == text.count(END) == 1


def test_cli_help_unknown_flags_and_a_closed_pipe() -> None:
    import subprocess
    import sys

    run = [sys.executable, "-m", "tools.platform_table"]
    help_ = subprocess.run([*run, "--help"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert help_.returncode == 0 and "--write" in help_.stdout
    bad = subprocess.run([*run, "--bogus"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr
    pipe = f"{sys.executable} -m tools.platform_table | head -n 1"
    piped = subprocess.run(pipe, shell=True, cwd=ROOT, capture_output=True, text=True, check=False)
    assert (
        piped.stdout.startswith("| platform |")
        and "Traceback" not in piped.stderr
        and "Error" not in piped.stderr
    )
