"""How much `python -m tools.render` costs beyond importing the SDK modules it needs, as one ratio.

    .venv/bin/python hack/bench_render.py                # dev, 11 pairs
    .venv/bin/python hack/bench_render.py --stack gcp --pairs 21

The baseline is a new Python process importing exactly the pulumi, pulumi_kubernetes and pydantic
modules a render of the stack loads (read from `sys.modules` after a render in this process): what no
change of ours can save. Each pair runs the baseline and the render back to back, in alternating order,
and the ratio reported is the median of the pairs' ratios, so a machine busy with other work slows both
sides of a pair alike. A benchmark, not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDKS = ("pulumi", "pulumi_kubernetes", "pydantic", "pydantic_core")


def sdk_modules(stack: str, sdks: tuple[str, ...] = SDKS) -> list[str]:
    """The SDK modules a render of `stack` loads (rendered in a child process, which lists them)."""
    script = (
        "import sys, runpy; sys.argv = ['tools.render', '--stack', sys.argv[1], '--out', sys.argv[2]];\n"
        "try:\n    runpy.run_module('tools.render', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        f"print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in {sdks!r})))"
    )
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            [sys.executable, "-c", script, stack, str(Path(out) / "r")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    return [line for line in result.stdout.splitlines() if line and line.split(".")[0] in sdks]


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument(
        "--top-level",
        action="store_true",
        help="baseline: import only the top-level packages (pulumi, pulumi_kubernetes, pydantic), not the "
        "API modules the render loads: the render then also pays for the modules it pulls in",
    )
    parser.add_argument(
        "--pulumi-only",
        action="store_true",
        help="baseline: the Pulumi SDKs' modules only (pydantic's import is then counted as the render's)",
    )
    args = parser.parse_args(argv)
    sdks = ("pulumi", "pulumi_kubernetes") if args.pulumi_only else SDKS
    modules = ["pulumi", "pulumi_kubernetes", "pydantic"] if args.top_level else sdk_modules(args.stack, sdks)
    imports = "import " + ", ".join(modules)
    baseline = [sys.executable, "-c", imports]
    with tempfile.TemporaryDirectory() as out:
        render = [sys.executable, "-m", "tools.render", "--stack", args.stack, "--out", str(Path(out) / "r")]
        timed(baseline), timed(render)  # warm the file cache
        pairs = []
        for index in range(args.pairs):
            if index % 2:
                r, b = timed(render), timed(baseline)
            else:
                b, r = timed(baseline), timed(render)
            pairs.append((b, r))
    ratios = [r / b for b, r in pairs]
    what = "top-level SDK packages" if args.top_level else "SDK modules imported by the render"
    print(f"stack {args.stack}: baseline imports {len(modules)} {what}; {args.pairs} pairs")
    print(f"baseline (their bare import): median {statistics.median(b for b, _ in pairs):.2f} s")
    print(f"python -m tools.render:       median {statistics.median(r for _, r in pairs):.2f} s")
    print(
        f"ratio render / baseline:      median {statistics.median(ratios):.2f}x "
        f"(pairs {min(ratios):.2f}x to {max(ratios):.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
