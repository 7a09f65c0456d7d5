"""The README and docs/: short enough to read, no dead links, and generated tables that match the code."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from source_ip.config import parse_config
from tests.conftest import raw
from tools import config_table
from tools.program import ROOT
from tools.readme import PLATFORM_LIST, document_with, documents, platform_list, with_table

README = ROOT / "README.md"
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not '-' or '_'), spaces to '-'."""
    text = re.sub(r"<[^>]+>", "", heading).replace("`", "").lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """Every Markdown link target in `path`, outside code blocks and inline code."""
    text = INLINE_CODE.sub("", FENCE.sub("", path.read_text()))
    return LINK.findall(text)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def dead_links(path: Path) -> list[str]:
    dead = []
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...: not ours to check offline
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / unquote(file_part)).resolve() if file_part else path
        if not linked.exists():
            dead.append(f"{target}: no file {_shown(linked)}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            dead.append(f"{target}: no heading with the anchor #{anchor} in {_shown(linked)}")
    return dead


def test_the_readme_is_at_most_20_kb() -> None:
    assert len(README.read_bytes()) <= 20_000, f"README.md is {len(README.read_bytes())} bytes"


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_relative_link_is_dead(path: Path) -> None:
    assert dead_links(path) == []


def test_the_dead_link_check_finds_a_missing_file_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Two words\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](a.md#two-words) [ok](#here) [web](https://example.com/x) `[code](gone.md)`\n"
        "# Here\n[gone](gone.md) [bad anchor](a.md#three)\n```\n[fenced](gone2.md)\n```\n"
    )
    found = [line.split(":")[0] for line in dead_links(doc)]
    assert found == ["gone.md", "a.md#three"]


def test_the_readme_indexes_every_document_in_docs() -> None:
    linked = {Path(target.partition("#")[0]).name for target in links(README) if target.startswith("docs/")}
    in_docs = {path.name for path in (ROOT / "docs").glob("*.md")}
    assert in_docs <= linked, f"not in the README's index: {sorted(in_docs - linked)}"


def test_the_readme_links_the_documents_other_helpers_write() -> None:
    targets = {target.partition("#")[0] for target in links(README)}
    assert {"docs/verify.md", "docs/fleet.md", "docs/upgrades.md", "docs/benchmarks.md"} <= targets


def test_the_config_table_matches_the_config_models() -> None:
    path = document_with(config_table.START)
    assert path == ROOT / "docs" / "configuration.md"
    text = path.read_text()
    regenerate = "run: .venv/bin/python -m tools.config_table --write"
    assert text == config_table.document_with_table(text), regenerate


def test_every_config_key_says_what_it_means() -> None:
    """Each field of the config models (source_ip.config) needs a docstring: it is the table's meaning."""
    silent = [row.key for row in config_table.rows() if not row.meaning]
    assert silent == [], f"config fields without a docstring (source_ip.config): {silent}"


UNSET_PARENT = object()


def _at(values: dict[str, Any], key: str) -> Any:
    """The value at a dotted key; `UNSET_PARENT` under an optional object that is unset."""
    for part in key.split("."):
        if values is None:
            return UNSET_PARENT
        values = values[part]
    return values


def test_the_table_gives_each_key_the_default_a_minimal_stack_gets() -> None:
    """What `platform: gcp` alone parses to, key by key, against the table's key names and defaults. Both
    come from the models' field defaults, so this catches a validator that rewrites a default or a key the
    table names but the parser does not have; the defaults themselves are pinned in
    tests/test_config.py (test_defaults_follow_the_contract)."""
    parsed = parse_config(raw("gcp")).model_dump(by_alias=True, mode="json")
    checked = 0
    for row in config_table.rows():
        if "[i]" in row.key or row.default in ("required", "—"):
            continue
        expected = None if row.default == "unset" else row.default.strip("`")
        got = _at(parsed, row.key)
        if got is UNSET_PARENT:  # its object's row says `unset`; its own default applies once it is set
            continue
        shown = got if isinstance(got, str) or got is None else json.dumps(got, ensure_ascii=False)
        assert shown == expected, row.key
        checked += 1
    assert checked >= 20


def test_the_config_table_spells_types_and_defaults_as_a_stack_file_does() -> None:
    by_key = {row.key: row for row in config_table.rows()}
    assert by_key["platform"].default == "required"
    assert by_key["sourceIp"].kind == "`auto` \\| `proxy-protocol` \\| `local`"
    assert by_key["gateway.replicas"].kind == "integer ≥ 1"
    assert by_key["gateway.maxReplicas"].default == "unset"
    assert by_key["accessLogs"].kind == "`true` \\| `false`"
    assert by_key["metallb.nodeLabel"].default == '`{"loadbalancerIPs.metallb.io": "arp"}`'
    assert by_key["gateways[i].…"].meaning == "every `gateway.*` key, with the same default"
    assert "gateways[i].sourceIp" in by_key and "gateways[i].replicas" not in by_key


def test_the_readme_platform_list_matches_the_registry() -> None:
    text = README.read_text()
    assert text.count(PLATFORM_LIST[0]) == text.count(PLATFORM_LIST[1]) == 1
    regenerate = "run: .venv/bin/python -m tools.readme --write"
    assert text == with_table(text, *PLATFORM_LIST, platform_list()), regenerate


def test_write_finds_the_document_that_holds_the_markers(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "tools.config_table"]
    printed = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=False)
    assert printed.returncode == 0 and printed.stdout.startswith("| key | type | default | meaning |")
    bad = subprocess.run([*run, "--bogus"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "unrecognized arguments: --bogus" in bad.stderr
    nowhere = re.escape("must be in exactly one of README.md and docs/*.md; found in no document")
    with pytest.raises(LookupError, match=nowhere):
        document_with("<!-- no-such-table:start -->")


def test_the_readme_keys_have_the_defaults_the_code_has() -> None:
    """The README's short key table is written by hand: its keys and defaults must be the generated ones."""
    generated = {row.key: row.default for row in config_table.rows()}
    section = README.read_text().split("## The keys you will set", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) == 6
    for key, default in rows:
        assert default.strip() == generated[key.strip().strip("`")], key
