"""Offline render: what `pulumi up` would create for a stack, without a cluster or the CLI.

    python -m tools.render (--stack NAME | --config PATH) --out DIR [--compare OLD_DIR]

Runs `__main__.py` under Pulumi mocks with the stack's config (tools.program) and writes
  DIR/manifests.yaml  every Kubernetes object the program declares itself
  DIR/patches.yaml    every patch resource, as the partial object it applies
  DIR/releases.yaml   Helm releases in install order: name, namespace, chart, version, repository, values
  DIR/graph.json      every resource: type, name, parent, explicit dependencies (`dependsOn`) and
                      those through Output inputs (`inputDependsOn`; for a read, what its id comes
                      from); the longest awaited chain; outputs
  DIR/graph.mmd       the same as a Mermaid flowchart (solid: dependsOn, dashed: inputDependsOn)
  DIR/README.md       what each of these files is
  DIR/.tools-render   the mark of a render (tools.charts later adds DIR/charts/)
Output is byte-identical across runs.

What it writes over: DIR may be new, empty, or an earlier render (marked, or unmarked with only the
five files it wrote before README.md and the mark, and charts/); the render replaces it as a whole
(written beside it, then swapped in; DIR's mode is kept). Any other folder, one holding a file the
render did not write, and the filesystem root are refused, and nothing is written.

--compare OLD_DIR reviews the change from an earlier render (what is deployed) to this one: what
`pulumi up` replaces rather than updates, and what that does to live traffic (tools.compare).

Exit codes: 0 rendered (and, with --compare, no risk to live traffic found); 2 bad arguments, a stack
config `pulumi up` would refuse (its message; nothing written), or a folder it will not write into;
3 rendered, and --compare found a risk to live traffic (printed).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import yaml

from tools.folders import swap_in
from tools.program import HELM_RELEASE, ROOT, ProgramRun, Registered, run_program
from tools.render_ids import object_id, release_id
from tools.stackfile import StackFileError, read_stack_file
from tools.yamlio import SAFE_DUMPER

REMOTE_MANIFEST = "kubernetes:yaml/v2:ConfigFile"
AWAITED_TYPES = (
    HELM_RELEASE,
    "kubernetes:apps/v1:Deployment",
    "kubernetes:gateway.networking.k8s.io/v1:Gateway",
)
"""Resources whose creation waits for something slow: a Helm release (all its objects ready, a
LoadBalancer Service's address included), a Deployment (its rollout) and a Gateway API Gateway
(pulumi.com/waitFor: condition=Programmed, i.e. deployed by istiod and given an address)."""


MARK = ".tools-render"
"""The file that marks a folder as a render (its content: MARK_TEXT)."""
MARK_TEXT = "tools.render: this folder is an offline render; a new render replaces it as a whole\n"
RENDER_FILES = ("README.md", "manifests.yaml", "patches.yaml", "releases.yaml", "graph.json", "graph.mmd")
UNMARKED_RENDER = frozenset(RENDER_FILES) - {"README.md"}
"""What a render wrote before it marked its folders: a folder holding exactly these is an earlier render."""
CHARTS = "charts"
"""Added to a render by tools.charts (and ../shared/tools/chart-render): `helm template` of each release."""

FOLDER_README = """# Offline render of stack `{stack}`

Written by `python -m tools.render`; the next render into this folder replaces it as a whole, so keep
notes elsewhere. Nothing here was read from a cluster.

| File | What it is |
| --- | --- |
| `manifests.yaml` | every Kubernetes object the program declares itself, as `pulumi up` would apply it |
| `patches.yaml` | every patch (node labels, adopted objects): the partial object it applies |
| `releases.yaml` | the Helm releases in install order: chart, version, repository and the exact values |
| `graph.json` | every resource with its parent and dependencies, the longest awaited chain, the outputs |
| `graph.mmd` | the same as a Mermaid flowchart: solid arrows `dependsOn`, dashed an Output input, \
dashed `id` a read waiting for the resource its id comes from |
| `charts/` | only after `python -m tools.charts` (or `make render CHARTS=1`): each release through \
`helm template` |
| `.tools-render` | the mark that lets the next render replace this folder |

{resources} resources; {chain}.
"""


def render(run: ProgramRun, stack: str = "stack") -> dict[str, str]:
    """File name -> content for a finished run."""
    return {
        "README.md": FOLDER_README.format(
            stack=stack, resources=len(run.resources), chain=chain_summary(run)
        ),
        "manifests.yaml": _yaml_documents([r.inputs for r in _sorted_objects(run, patches=False)]),
        "patches.yaml": _yaml_documents([r.inputs for r in _sorted_objects(run, patches=True)]),
        "releases.yaml": yaml.dump(
            [_release(r) for r in _install_order(run) if r.type == HELM_RELEASE],
            Dumper=SAFE_DUMPER,
            sort_keys=True,
            default_flow_style=False,
        ),
        "graph.json": json.dumps(_graph(run), indent=2, sort_keys=True) + "\n",
        "graph.mmd": _mermaid(run),
    }


def _is_object(r: Registered) -> bool:
    return r.custom and not r.read_id and r.type not in (HELM_RELEASE, REMOTE_MANIFEST) and "kind" in r.inputs


def _sorted_objects(run: ProgramRun, *, patches: bool) -> list[Registered]:
    objects = [r for r in run.resources if _is_object(r) and r.is_patch == patches]
    return sorted(
        objects,
        key=lambda r: (
            r.inputs["apiVersion"],
            r.inputs["kind"],
            r.inputs["metadata"].get("namespace", ""),
            r.inputs["metadata"]["name"],
        ),
    )


def _yaml_documents(objects: list[dict[str, Any]]) -> str:
    return (
        yaml.dump_all(objects, Dumper=SAFE_DUMPER, sort_keys=True, default_flow_style=False)
        if objects
        else ""
    )


def _release(r: Registered) -> dict[str, Any]:
    i = r.inputs
    return {
        "name": i["name"],
        "namespace": i["namespace"],
        "chart": i["chart"],
        "version": i["version"],
        "repository": i["repositoryOpts"]["repo"],
        "values": i.get("values", {}),
    }


def _node_id(r: Registered) -> str:
    return f"{r.type}::{r.name}"


def _waits_for(r: Registered) -> tuple[str, ...]:
    """Everything a resource waits for before it is created: explicit and Output dependencies."""
    return (*r.dependencies, *r.input_dependencies)


def _install_order(run: ProgramRun) -> list[Registered]:
    """Topological order over parents and dependencies; ties broken by id, so the order is stable."""
    by_urn = {r.urn: r for r in run.resources}
    needs = {
        r.urn: {d for d in (*_waits_for(r), r.parent) if d in by_urn and d != r.urn} for r in run.resources
    }
    needed_by: dict[str, list[str]] = {urn: [] for urn in by_urn}
    for urn, deps in needs.items():
        for dep in deps:
            needed_by[dep].append(urn)
    ready = [(_node_id(by_urn[u]), u) for u, deps in needs.items() if not deps]
    heapq.heapify(ready)
    order: list[Registered] = []
    while ready:
        _, urn = heapq.heappop(ready)
        order.append(by_urn[urn])
        for waiting in needed_by[urn]:
            needs[waiting].discard(urn)
            if not needs[waiting]:
                heapq.heappush(ready, (_node_id(by_urn[waiting]), waiting))
    if len(order) < len(by_urn):
        raise RuntimeError(
            "dependency cycle among: " + ", ".join(sorted(set(by_urn) - {r.urn for r in order}))
        )
    return order


def is_awaited(r: Registered) -> bool:
    return r.type in AWAITED_TYPES and not r.read_id


def longest_awaited_chain(run: ProgramRun) -> list[Registered]:
    """The longest chain of awaited resources (Helm releases, Deployments) that wait for one another,
    directly or through other resources: how many slow steps `pulumi up` takes one after the other."""
    best: dict[str, list[Registered]] = {}
    for r in _install_order(run):
        longest = max((best[d] for d in _waits_for(r) if d in best), key=len, default=[])
        best[r.urn] = [*longest, r] if is_awaited(r) else longest
    return max(best.values(), key=len, default=[])


def chain_summary(run: ProgramRun) -> str:
    chain = longest_awaited_chain(run)
    return f"longest awaited chain {len(chain)}: " + (" -> ".join(r.name for r in chain) or "none")


def _graph(run: ProgramRun) -> dict[str, Any]:
    by_urn = {r.urn: r for r in run.resources}
    ids = [_node_id(r) for r in run.resources]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"resource ids are not unique: {sorted(i for i in ids if ids.count(i) > 1)}")
    nodes = []
    for r in _install_order(run):
        node: dict[str, Any] = {
            "id": _node_id(r),
            "type": r.type,
            "name": r.name,
            "parent": _node_id(by_urn[r.parent]) if r.parent in by_urn else None,
            "dependsOn": sorted(_node_id(by_urn[d]) for d in r.dependencies if d in by_urn),
            "inputDependsOn": sorted(_node_id(by_urn[d]) for d in r.input_dependencies if d in by_urn),
        }
        if r.read_id:
            node["reads"] = r.read_id
        elif _is_object(r):
            node["object"] = object_id(r.inputs)
        elif r.type == HELM_RELEASE:
            node["object"] = release_id(r.inputs)
        if r.type == REMOTE_MANIFEST:
            node["file"] = r.inputs.get("file")
        nodes.append(node)
    chain = [_node_id(r) for r in longest_awaited_chain(run)]
    return {
        "resources": nodes,
        "longestAwaitedChain": chain,
        "outputs": {k: v for k, v in run.outputs.items() if v is not None},
    }


def _mermaid(run: ProgramRun) -> str:
    """Components as subgraphs, arrows in install order (transitively reduced, so readable):
    solid for `dependsOn`, dashed for a dependency through an Output input, dashed and labelled `id`
    for a read that waits for the resource its id comes from."""
    order = _install_order(run)
    short = {r.urn: f"n{i}" for i, r in enumerate(order)}
    edges = {r.urn: {d for d in _waits_for(r) if d in short} for r in order}
    through_input = {(d, r.urn) for r in order for d in r.input_dependencies if d not in r.dependencies}
    reach: dict[str, set[str]] = {}
    for r in order:  # dependencies first, so their reach is known
        reach[r.urn] = set().union(*({d} | reach[d] for d in edges[r.urn])) if edges[r.urn] else set()
    lines = ["flowchart TD"]
    children: dict[str | None, list[Registered]] = {}
    for r in order:
        children.setdefault(r.parent if r.parent in short else None, []).append(r)

    def emit(parent: str | None, indent: str) -> None:
        for r in children.get(parent, []):
            label = f"{r.type.rsplit(':', 1)[-1]} {r.name}"
            if r.urn in children:
                lines.append(f'{indent}subgraph {short[r.urn]}["{label}"]')
                emit(r.urn, indent + "  ")
                lines.append(f"{indent}end")
            else:
                lines.append(f'{indent}{short[r.urn]}["{label}"]')

    emit(None, "  ")
    for r in order:
        # An edge d -> r is implied when another dependency of r already waits for d: d is in the union
        # of their reaches (a dependency never reaches itself in a DAG).
        implied = set().union(*(reach[o] for o in edges[r.urn]))
        for d in sorted(edges[r.urn], key=lambda u: short[u]):
            if d not in implied:
                arrow = "-. id .->" if r.read_id else "-.->" if (d, r.urn) in through_input else "-->"
                lines.append(f"  {short[d]} {arrow} {short[r.urn]}")
    return "\n".join(lines) + "\n"


STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""What a Pulumi stack name may hold (and no path separator)."""


class RefusedFolderError(Exception):
    """A folder the render will not write into; the message says why."""


def _shown(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_folder(out: Path) -> None:
    """Refuse (RefusedFolderError) a folder that is not new, empty, or an earlier render with nothing
    added."""
    if out == out.parent:
        raise RefusedFolderError(f"{out} is the filesystem root; name a folder for the render")
    if not out.exists():
        return
    if not out.is_dir():
        raise RefusedFolderError(f"{out} is a file; name a directory")
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    marked = MARK in entries
    if not marked and not UNMARKED_RENDER <= set(entries):
        raise RefusedFolderError(
            f"{out} is not empty and not an earlier render (it holds {_shown(entries)}); the render replaces "
            "its folder as a whole, so it writes only into a new or empty folder or one of its own renders"
        )
    ours = (
        (*RENDER_FILES, MARK, CHARTS) if marked else (*UNMARKED_RENDER, CHARTS)
    )  # no README.md before the mark
    foreign = [n for n in entries if n not in ours]
    charts = out / CHARTS
    if CHARTS in entries and not (
        charts.is_dir() and not charts.is_symlink() and all(_chart_file(p) for p in charts.iterdir())
    ):
        foreign.append(CHARTS)
    if foreign:
        raise RefusedFolderError(
            f"{out} is an earlier render, but holds {_shown(foreign)}, which the render did not write; "
            "a new render would delete it: move it out, or render into another folder"
        )


def _chart_file(path: Path) -> bool:
    return path.suffix == ".yaml" and path.is_file() and not path.is_symlink()


def write_render(out: Path, files: dict[str, str]) -> None:
    """Write a render into `out` (after check_folder): written beside it, then swapped in, so a reader
    sees the old render or the new one; `out` keeps its mode. When `out` holds the working directory
    (`--out .`), it cannot be swapped away: the files are replaced one by one instead."""
    out = Path(os.path.realpath(out))
    check_folder(out)
    files = {**files, MARK: MARK_TEXT}
    cwd = Path(os.path.realpath(Path.cwd()))
    if out.is_dir() and (cwd == out or out in cwd.parents):
        _replace_files_in(out, files)
        return
    swap_in(out, files)


def _replace_files_in(out: Path, files: dict[str, str]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".render-", dir=out))
    try:
        for name, content in files.items():
            (staging / name).write_text(content)
        for name in files:
            os.replace(staging / name, out / name)
        shutil.rmtree(out / CHARTS, ignore_errors=True)  # expanded from the previous releases.yaml
    finally:
        shutil.rmtree(staging, ignore_errors=True)


EPILOG = """files written into --out:
  manifests.yaml, patches.yaml, releases.yaml, graph.json, graph.mmd, README.md (what each file is)
  and .tools-render (the mark of a render); tools.charts later adds charts/

which folders it writes into:
  a new or empty folder, or an earlier render: marked, or from before the mark (exactly manifests.yaml,
  patches.yaml, releases.yaml, graph.json and graph.mmd, and charts/); the render replaces that folder
  as a whole and keeps its mode. Any other folder, or an earlier render holding a file the render did
  not write, is refused with exit 2 and left untouched.

exit codes:
  0  rendered (with --compare: no risk to live traffic found)
  2  bad arguments, a config `pulumi up` would refuse (the same message), a folder it will not write into
  3  rendered, and --compare found a risk to live traffic (listed)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.render",
        description=(__doc__ or "").splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="render Pulumi.<STACK>.yaml")
    source.add_argument("--config", type=Path, help="render any file in the Pulumi.<stack>.yaml format")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="folder to write the render into (new, empty, or an earlier render)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="OLD_DIR",
        help="an earlier render (what is deployed): print what this change does to live traffic",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0), or bad arguments (2, usage printed)
        return int(stop.code or 0)

    if args.stack is not None and not STACK_NAME.fullmatch(args.stack):
        return _usage(parser, f"--stack {args.stack!r}: a stack name is letters, digits, '_', '.' and '-'")
    try:
        out = Path(os.path.realpath(args.out))
        check_folder(out)
    except RefusedFolderError as refused:
        return _usage(parser, f"--out {refused}")
    except (OSError, ValueError) as error:
        return _usage(parser, f"--out {args.out}: {getattr(error, 'strerror', None) or error}")
    old = None
    if args.compare is not None:
        from tools import compare  # the review's modules, only when reviewing

        try:
            old = compare.read_render(args.compare)
        except compare.NotARenderError as error:
            return _usage(parser, f"--compare {error}")
    path = ROOT / f"Pulumi.{args.stack}.yaml" if args.stack else args.config
    if not path.is_file():
        print(f"error: no stack config file {path}", file=sys.stderr)
        return 2
    stack = args.stack or (path.stem.removeprefix("Pulumi.") if STACK_NAME.fullmatch(path.stem) else "stack")
    try:
        run = run_program(read_stack_file(path), stack=stack)
    except (StackFileError, pulumi.RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = render(run, stack)
    try:
        write_render(out, files)
    except RefusedFolderError as refused:
        return _usage(parser, f"--out {refused}")
    except OSError as error:
        print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"rendered {stack}: {len(run.resources)} resources into {args.out}; {chain_summary(run)}")
    if old is None:
        return 0
    from tools import compare

    review = compare.review_renders(old, compare.parse_render(files, "the new render"))
    print(compare.report(review, old_name=str(args.compare), new_name=str(args.out)))
    return 3 if review.risks else 0


def _usage(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
