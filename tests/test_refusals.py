"""The docs' refusal table is made from the real checks and must match them."""

from __future__ import annotations

from tools.readme import document_with
from tools.refusals import END, EXAMPLES, START, readme_with_table, table


def test_the_refusal_table_matches_the_checks() -> None:
    document = document_with(START)
    text = document.read_text()
    assert text.count(START) == text.count(END) == 1
    assert text == readme_with_table(text), "run: python -m tools.refusals --write"


def test_every_example_is_refused_with_a_keyed_message() -> None:
    rows = table().splitlines()[2:]
    assert len(rows) == len(EXAMPLES)
    assert all("| istio-source-ip:" in row for row in rows)
