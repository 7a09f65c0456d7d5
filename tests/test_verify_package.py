"""tools.verify as a package: its kinds and their codes, its reference page, and that it runs on a bare
Python (standard library only), as one file in a container."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.verify_servers import HOST, Gateway, GoHttpbin
from tools import pyast
from tools import verify as v
from tools.verify import readers, reference

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tools" / "verify"
DOC = ROOT / "docs" / "verify.md"

RELEASED_CODES = {
    "ok": 0,
    "usage": 2,
    "address-lost": 10,
    "forged-xff": 11,
    "proxy-protocol-mismatch": 12,
    "wrong-host": 13,
    "unreachable": 14,
    "lb-not-ready": 15,
    "http-error": 16,
}
"""The codes verify had before the package (and fleet tooling reads): they never change."""


def test_released_exit_codes_are_unchanged_and_new_kinds_get_new_codes() -> None:
    assert {kind: v.EXIT_CODES[kind] for kind in RELEASED_CODES} == RELEASED_CODES
    assert len(set(v.EXIT_CODES.values())) == len(v.EXIT_CODES)  # one code per kind
    assert set(v.EXIT_CODES) == set(v.Kind)
    assert all(code >= 17 for kind, code in v.EXIT_CODES.items() if kind not in RELEASED_CODES)


def test_every_kind_has_a_meaning_and_a_hint_entry() -> None:
    from tools.verify.verdicts import MEANINGS, NETWORK_KINDS

    assert set(MEANINGS) == set(v.HINTS) == set(v.Kind)
    assert all(v.HINTS[kind] for kind in v.Kind if kind not in (v.Kind.OK, v.Kind.USAGE))
    assert set(NETWORK_KINDS.values()) <= set(v.Kind)


def test_the_reference_page_carries_the_generated_table() -> None:
    text = DOC.read_text()
    start, end = text.index(reference.START), text.index(reference.END) + len(reference.END)
    assert text[start:end] == reference.reference(), (
        "run: python -m tools.verify.reference, paste into docs/verify.md"
    )
    for kind, code in v.EXIT_CODES.items():
        assert f"| {code} | `{kind}` |" in text


def test_the_reference_page_names_every_flag() -> None:
    text = DOC.read_text()
    flags = [flag for action in v.parser()._actions for flag in action.option_strings]
    assert flags and [flag for flag in flags if f"`{flag}" not in text] == []


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert v.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(re.search(rf"^\s+{code}  {kind}$", out, re.M) for kind, code in v.EXIT_CODES.items())


def test_the_package_imports_only_the_standard_library() -> None:
    foreign = []
    for module in PACKAGE.glob("*.py"):
        for node in ast.walk(pyast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            foreign += [
                f"{module.name}: {n}" for n in names if n.split(".")[0] not in sys.stdlib_module_names
            ]
    assert foreign == []


def test_one_file_of_the_package_runs_on_a_bare_python(tmp_path: Path) -> None:
    """What the container gets: no site-packages (-I -S), no repository on the path."""
    app = tmp_path / "verify.pyz"
    readers.build_zipapp(str(app))
    with GoHttpbin() as echo, Gateway(echo) as gateway:
        result = subprocess.run(
            [sys.executable, "-I", "-S", str(app), "--url", gateway.url, "--host", HOST,
             "--expect-ip", "127.0.0.1", "--attempts", "1", "--timeout", "5", "--json"],
            cwd=tmp_path, capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "ok"


def test_a_verdict_survives_its_json() -> None:
    verdict = v.make_verdict(
        v.Kind.OK, "fine", v.Target("https://gw", HOST, tls=v.TlsOptions(insecure=True)), attempts=3,
        rate={"limit": 5, "sent": 2, "first429": 2, "retryAfter": "1", "seconds": 0.1},
    )  # fmt: skip
    back = v.Verdict.from_json(verdict.as_json())
    assert back == verdict and back.verdict is v.Kind.OK
    assert json.loads(verdict.as_json())["tls"]["verified"] is False
    with pytest.raises(ValueError, match="unknown verdict"):
        v.Verdict.from_json('{"verdict": "fine"}')


def test_make_verdict_gives_the_kinds_hint_unless_told_otherwise() -> None:
    target = v.Target("http://gw", HOST)
    assert v.make_verdict(v.Kind.WRONG_HOST, "x", target).hint == v.HINTS[v.Kind.WRONG_HOST]
    assert v.make_verdict(v.Kind.WRONG_HOST, "x", target, hint="other").hint == "other"
    assert v.make_verdict(v.Kind.OK, "x", target).tls is None  # plain HTTP: no tls object


def test_failure_kinds_are_an_enum_and_unknown_ones_are_refused() -> None:
    assert v.NetworkError("dns", "x").kind is v.Failure.DNS
    with pytest.raises(ValueError):
        v.NetworkError("made-up", "x")
