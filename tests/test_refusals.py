"""The README's refusal table is made from the real checks and must match them."""

from __future__ import annotations

from tools.program import ROOT
from tools.refusals import END, EXAMPLES, START, readme_with_table, table


def test_readme_refusal_table_matches_the_checks() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.count(START) == readme.count(END) == 1
    assert readme == readme_with_table(readme), "run: python -m tools.refusals --write"


def test_every_example_is_refused_with_a_keyed_message() -> None:
    rows = table().splitlines()[2:]
    assert len(rows) == len(EXAMPLES)
    assert all("| istio-source-ip:" in row for row in rows)
