"""Proof for a refactor: every shipped stack renders the same objects at a git ref and in the working tree.

    .venv/bin/python hack/renders_identical.py [--ref HEAD] [--before-renders DIR] [--stack S ...]

For each `Pulumi.<stack>.yaml` git tracks, renders the stack twice with `python -m tools.render`
into fresh empty folders: once in a temporary `git worktree` of --ref (removed afterwards), once in the
working tree. Then compares manifests.yaml, patches.yaml, releases.yaml and graph.json byte for byte and
prints a unified diff of each difference. The other files of a render (graph.mmd, README.md, the marker)
describe the render rather than what `pulumi up` creates, and are left out.

--before-renders DIR skips the worktree: DIR/<stack>/ holds renders made earlier at the ref.

Exit codes: 0 every stack identical; 1 a difference (listed); 2 bad arguments or a render that failed.
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPARED = ("manifests.yaml", "patches.yaml", "releases.yaml", "graph.json")


def shipped_stacks(root: Path) -> list[str]:
    """The stack files git tracks (a user's own, untracked, stack has no render at the ref to compare)."""
    listed = subprocess.run(
        ["git", "ls-files", "--", "Pulumi.*.yaml"], cwd=root, capture_output=True, text=True, check=False
    ).stdout.split()
    names = [n for n in listed if "/" not in n] or [p.name for p in root.glob("Pulumi.*.yaml")]
    return sorted(n[len("Pulumi.") : -len(".yaml")] for n in names)


def render(tree: Path, stack: str, out: Path) -> str | None:
    """Render `stack` from the checkout `tree` into the new folder `out`; None, or why it failed."""
    done = subprocess.run(
        [sys.executable, "-m", "tools.render", "--stack", stack, "--out", str(out)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"render of {stack} in {tree} exited {done.returncode}: {done.stderr.strip()[-2000:]}"
    return None


def differences(before: Path, after: Path) -> list[str]:
    found = []
    for name in COMPARED:
        old, new = before / name, after / name
        if not old.is_file() or not new.is_file():
            found.append(f"{name}: present before={old.is_file()} after={new.is_file()}\n")
            continue
        a, b = old.read_text().splitlines(keepends=True), new.read_text().splitlines(keepends=True)
        if a != b:
            found.append("".join(difflib.unified_diff(a, b, f"before/{name}", f"after/{name}", n=2)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="HEAD", help="git ref to compare against (default HEAD)")
    parser.add_argument("--before-renders", type=Path, help="renders made earlier at the ref")
    parser.add_argument("--stack", action="append", help="only this stack (repeatable)")
    args = parser.parse_args(argv)
    stacks = args.stack or shipped_stacks(ROOT)
    unknown = [s for s in stacks if not (ROOT / f"Pulumi.{s}.yaml").is_file()]
    if unknown:
        print(f"no such stack in {ROOT}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="renders-identical-") as tmp:
        work = Path(tmp)
        before_root = args.before_renders
        worktree = work / "ref"
        if before_root is None:
            added = subprocess.run(
                ["git", "worktree", "add", "--detach", str(worktree), args.ref],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            if added.returncode != 0:
                print(f"git worktree add {args.ref} failed: {added.stderr.strip()}", file=sys.stderr)
                return 2
            before_root = work / "before"
        try:
            failed = 0
            differing = 0
            for stack in stacks:
                before = before_root / stack
                if args.before_renders is None:
                    error = render(worktree, stack, before)
                    if error:
                        print(error, file=sys.stderr)
                        return 2
                after = work / "after" / stack
                error = render(ROOT, stack, after)
                if error:
                    print(error, file=sys.stderr)
                    failed += 1
                    continue
                found = differences(before, after)
                if found:
                    differing += 1
                    print(f"{stack}: DIFFERENT")
                    for diff in found:
                        print(diff, end="" if diff.endswith("\n") else "\n")
                else:
                    print(f"{stack}: identical ({', '.join(COMPARED)})")
        finally:
            if args.before_renders is None:
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    if failed:
        return 2
    against = args.ref if args.before_renders is None else f"the renders in {args.before_renders}"
    print(f"{len(stacks) - differing} of {len(stacks)} stacks identical to {against}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
