"""Writing a folder of generated files all or nothing (tools.render's renders, tools.fleet's operator
output): written beside it, then renamed into place; no SDK import, so any tool can use it."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path


def kept_mode(out: Path) -> int:
    """The mode `out` keeps when it is replaced: its own, or the umask's default for a new folder."""
    if out.is_dir():
        return stat.S_IMODE(out.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def swap_in(out: Path, files: dict[str, str]) -> None:
    """`out` holding exactly `files` (name -> text), with the mode it had: the new folder is written
    beside it and renamed into place; the old one is put back if that rename fails."""
    mode = kept_mode(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        for name, content in files.items():
            (staging / name).write_text(content, encoding="utf-8")
        staging.chmod(mode)
        if not out.exists():
            staging.rename(out)
            return
        previous = Path(tempfile.mkdtemp(prefix=f".{out.name}.previous-", dir=out.parent))
        out.rename(previous)  # onto the empty folder just made: a unique name, nobody else's
        try:
            staging.rename(out)
        except OSError:
            previous.rename(out)
            raise
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
