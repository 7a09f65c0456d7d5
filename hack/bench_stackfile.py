"""Benchmark (not a test): reading and rendering stack files of 0.2, 1 and 2 MB against a tiny one.

    .venv/bin/python hack/bench_stackfile.py [--sizes 0.2,1,2] [--repeat 3] [--reader MODULE_FILE]

Each large file is Pulumi.dev.yaml padded to the size with data the program does not read, in three
shapes: `mixed` (comments, a kubeconfig-like block scalar and nested mappings and lists under other
namespaces: what a real stack file grows by), `comment` (one long comment line) and `flow` (a flow
mapping of short keys and values: the most YAML events per byte, the worst case for the reader).
Prints, per shape and size, the best of --repeat runs of the read alone (tools.stackfile), of the
whole render in this process (`tools.render.main`, into a temporary folder) and of the command a user
runs (`python -m tools.render`, a new process with its imports), with each render's ratio to the tiny
file's. --reader times another copy of tools/stackfile.py (e.g. an older one from git) for the
read alone. The figures in docs/benchmarks.md come from this script.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import render  # noqa: E402
from tools.stackfile import read_stack_file  # noqa: E402

BASE = (ROOT / "Pulumi.dev.yaml").read_text()


def _mixed(size: int) -> str:
    parts = [BASE]
    total = len(BASE)
    chunk = 0
    while total < size:
        block = (
            f"# settings of team {chunk:06d}: kept beside the stack, read by another program\n"
            f"  team:settings{chunk:06d}:\n"
            f"    owners: [alice-{chunk}, bob-{chunk}]\n"
            f"    limits: {{cpu: '{chunk % 8}', memory: {chunk % 64}Gi}}\n"
            "    notes:\n"
            + "".join(f"      - name: note-{i}\n        text: line {i} of a longer note\n" for i in range(4))
            + f"  kubernetes:cert{chunk:06d}: |\n"
            + "".join(f"    {'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo' * 2}{i:04d}\n" for i in range(8))
        )
        parts.append(block)
        total += len(block)
        chunk += 1
    return "".join(parts)


def _comment(size: int) -> str:
    return BASE + "# " + "x" * max(size - len(BASE) - 3, 0) + "\n"


def _flow(size: int) -> str:
    count = max((size - len(BASE)) // 16, 1)
    return BASE + "  other:map: {" + ", ".join(f"k{i:07d}: v{i % 10}" for i in range(count)) + "}\n"


SHAPES: dict[str, Callable[[int], str]] = {"mixed": _mixed, "comment": _comment, "flow": _flow}


def best(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def render_once(path: Path) -> None:
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        code = render.main(["--config", str(path), "--out", str(Path(out) / "render")])
    if code != 0:
        raise SystemExit(f"render of {path} exited {code}")


def command_once(path: Path) -> None:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [sys.executable, "-m", "tools.render", "--config", str(path), "--out", str(Path(out) / "render")],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def load_reader(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("stackfile_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0.2,1,2", help="sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--reader", type=Path, help="time this copy of tools/stackfile.py for the read alone")
    parser.add_argument("--no-render", action="store_true", help="time the read only")
    args = parser.parse_args()
    read = read_stack_file if args.reader is None else load_reader(args.reader).read_stack_file
    sizes = [float(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = Path(tmp) / "Pulumi.tiny.yaml"
        tiny.write_text(BASE)
        render_once(tiny)  # imports and first-run caches out of the measurement
        tiny_read = best(args.repeat, lambda: read(tiny))
        tiny_render = 0.0 if args.no_render else best(args.repeat, lambda: render_once(tiny))
        tiny_command = 0.0 if args.no_render else best(args.repeat, lambda: command_once(tiny))
        print(
            f"tiny ({len(BASE)} bytes): read {tiny_read * 1000:.1f} ms, render {tiny_render:.2f} s, "
            f"command {tiny_command:.2f} s"
        )
        columns = ("read s", 8), ("render s", 9), ("/ tiny", 7), ("command s", 10), ("/ tiny", 7)
        print(f"{'shape':8} {'MB':>5} " + " ".join(f"{name:>{width}}" for name, width in columns))
        for shape in args.shapes.split(","):
            for size in sizes:
                path = Path(tmp) / f"Pulumi.{shape}.yaml"
                path.write_text(SHAPES[shape](int(size * 1_000_000)))
                mb = path.stat().st_size / 1_000_000
                seconds = best(args.repeat, lambda p=path: read(p))  # type: ignore[misc]
                if args.no_render:
                    print(f"{shape:8} {mb:5.2f} {seconds:8.3f}")
                    continue
                rendering = best(args.repeat, lambda p=path: render_once(p))  # type: ignore[misc]
                command = best(args.repeat, lambda p=path: command_once(p))  # type: ignore[misc]
                print(
                    f"{shape:8} {mb:5.2f} {seconds:8.3f} {rendering:9.2f} {rendering / tiny_render:6.2f}x "
                    f"{command:10.2f} {command / tiny_command:6.2f}x"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
