"""README tables generated from the code (`--write`), so the two cannot drift."""

import argparse
import sys
from collections.abc import Callable

from tools.program import ROOT


def with_table(readme: str, start: str, end: str, table: str) -> str:
    """`readme` with what stands between the `start` and `end` markers replaced by `table`."""
    head, _, rest = readme.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{table}\n{end}{tail}"


def table_cli(prog: str, description: str, start: str, end: str, table: Callable[[], str], argv: list[str] | None = None) -> int:
    """`prog` prints the table; `prog --write` rewrites it in README.md. A closed pipe is not an error."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md between its markers")
    args = parser.parse_args(argv)
    if args.write:
        path = ROOT / "README.md"
        path.write_text(with_table(path.read_text(), start, end, table()))
        return 0
    try:
        print(table())
        sys.stdout.flush()
    except BrokenPipeError:  # piped into `head`: the reader has what it wanted
        sys.stdout = None
    return 0
