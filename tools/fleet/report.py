"""Results: one Outcome per stack, the final table, and the live progress lines."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any


@dataclass
class Outcome:
    stack: str
    platform: str
    result: str = "skipped"  # succeeded | failed | skipped | cancelled
    changes: str = ""
    duration: float = 0.0
    detail: str = ""
    log: str = ""
    verdict: dict[str, Any] | None = None


def format_changes(changes: Mapping[Any, int] | None) -> str:
    """`create 3, update 1` from an OpMap; `none` when only `same` (or nothing)."""
    if not changes:
        return "none"
    counts = {str(getattr(op, "value", op)): n for op, n in changes.items()}
    return ", ".join(sorted(f"{op} {n}" for op, n in counts.items() if n and op != "same")) or "none"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    ]
    return "\n".join(lines)


def outcome_table(outcomes: list[Outcome], with_verify: bool) -> str:
    header = ["STACK", "PLATFORM", "RESULT", "CHANGES", "DURATION"] + (["VERDICT"] if with_verify else [])
    rows = []
    for o in outcomes:
        row = [o.stack, o.platform, o.result, o.changes or "-", f"{o.duration:.1f}s"]
        if with_verify:
            row.append(str(o.verdict.get("verdict")) if o.verdict else "-")
        rows.append(row)
    text = table(rows, header)
    notes = [f"{o.stack}: {o.detail}" + (f" (log: {o.log})" if o.log else "") for o in outcomes if o.detail]
    return text + ("\n\n" + "\n".join(notes) if notes else "")


# ---------------------------------------------------------------------------------------------
# Live progress: one line per stack


class Progress:
    """On a terminal, one line per stack redrawn in place; otherwise a line per state change."""

    def __init__(self, names: list[str], stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.names = names
        self.lines = dict.fromkeys(names, "queued")
        self.lock = threading.Lock()
        self.live = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.width = max(len(n) for n in names)
        if self.live:
            self.stream.write("\n" * len(names))
            self._draw()

    def _draw(self) -> None:
        out = [f"\x1b[{len(self.names)}A"]
        for name in self.names:
            out.append(f"\r\x1b[2K{name.ljust(self.width)}  {self.lines[name][:100]}\n")
        self.stream.write("".join(out))
        self.stream.flush()

    def update(self, name: str, text: str, milestone: bool = False) -> None:
        with self.lock:
            if self.lines.get(name) == text:
                return
            self.lines[name] = text
            if self.live:
                self._draw()
            elif milestone:
                self.stream.write(f"{name.ljust(self.width)}  {text}\n")
                self.stream.flush()
