"""Tables in the README and docs/ generated from the code (`--write`), so the two cannot drift.

Each table stands between two markers in one Markdown file of the project (README.md or docs/*.md);
`--write` finds that file by its markers, so a table can move between files without a code change.

    python -m tools.readme            print the README's platform list
    python -m tools.readme --write    rewrite it in README.md between its markers
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from tools.program import ROOT

PLATFORM_LIST = "<!-- platform-list:start -->", "<!-- platform-list:end -->"


def markdown_cell(text: str) -> str:
    """`text` as one Markdown table cell: `|` escaped, a line break shown as `\\n`."""
    return text.replace("|", "\\|").replace("\n", "\\n")


def documents() -> list[Path]:
    """The project's Markdown documents: README.md, then docs/*.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def document_with(start: str) -> Path:
    """The one document that holds the marker `start` (exactly one must)."""
    holders = [path for path in documents() if start in path.read_text()]
    if len(holders) != 1:
        where = ", ".join(str(path.relative_to(ROOT)) for path in holders) or "no document"
        raise LookupError(f"{start} must be in exactly one of README.md and docs/*.md; found in {where}")
    return holders[0]


def with_table(readme: str, start: str, end: str, table: str) -> str:
    """`readme` with what stands between the `start` and `end` markers replaced by `table`."""
    head, _, rest = readme.partition(start)
    _, _, tail = rest.partition(end)
    return f"{head}{start}\n{table}\n{end}{tail}"


def table_cli(
    prog: str,
    description: str,
    start: str,
    end: str,
    table: Callable[[], str],
    argv: list[str] | None = None,
) -> int:
    """`prog` prints the table; `prog --write` rewrites it between its markers, in the document that holds
    them. A closed pipe is not an error."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    where = "rewrite the table between its markers (in README.md or docs/*.md)"
    parser.add_argument("--write", action="store_true", help=where)
    args = parser.parse_args(argv)
    if args.write:
        try:
            path = document_with(start)
        except LookupError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        path.write_text(with_table(path.read_text(), start, end, table()))
        return 0
    try:
        print(table())
        sys.stdout.flush()
    except BrokenPipeError:  # piped into `head`: the reader has what it wanted
        sys.stdout = None
    return 0


def platform_list() -> str:
    """One line per platform for the README: its id, its load balancer and its source-IP modes, the one
    `sourceIp: auto` picks first."""
    from source_ip.facts import PLATFORMS

    lines = []
    for platform in sorted(PLATFORMS.values(), key=lambda p: p.id):
        first, *others = (f"`{mode}`" for mode in platform.modes)
        lines.append(f"- `{platform.id}` — {platform.lb}: {', '.join([f'{first} (auto)', *others])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    description = "the README's platform list"
    return table_cli("python -m tools.readme", description, *PLATFORM_LIST, platform_list, argv)


if __name__ == "__main__":
    sys.exit(main())
