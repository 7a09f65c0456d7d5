"""Offline render: what `pulumi up` would create for a stack, without a cluster or the CLI.

    python -m tools.render (--stack NAME | --config PATH) --out DIR

Runs `__main__.py` under Pulumi mocks with the stack's config (tools.program) and writes
  DIR/manifests.yaml  every Kubernetes object the program declares itself
  DIR/patches.yaml    every patch resource, as the partial object it applies
  DIR/releases.yaml   Helm releases in install order: name, namespace, chart, version, repository, values
  DIR/graph.json      every resource: type, name, parent, explicit dependencies (`dependsOn`) and
                      those through Output inputs (`inputDependsOn`); the longest awaited chain; outputs
  DIR/graph.mmd       the same as a Mermaid flowchart (solid: dependsOn, dashed: inputDependsOn)
Output is byte-identical across runs. An invalid config exits 2 with the message `pulumi up`
would print, and writes nothing.
"""

from __future__ import annotations

import argparse
import heapq
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import yaml

from tools.program import HELM_RELEASE, ROOT, ProgramRun, Registered, run_program
from tools.stackfile import StackFileError, read_stack_file

REMOTE_MANIFEST = "kubernetes:yaml/v2:ConfigFile"
AWAITED_TYPES = (HELM_RELEASE, "kubernetes:apps/v1:Deployment", "kubernetes:gateway.networking.k8s.io/v1:Gateway")
"""Resources whose creation waits for something slow: a Helm release (all its objects ready, a
LoadBalancer Service's address included), a Deployment (its rollout) and a Gateway API Gateway
(pulumi.com/waitFor: condition=Programmed, i.e. deployed by istiod and given an address)."""


def render(run: ProgramRun) -> dict[str, str]:
    """File name -> content for a finished run."""
    return {
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


class SAFE_DUMPER(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]  # noqa: N801
    """libyaml's dumper when PyYAML has it (several times faster on large stacks); multi-line strings,
    such as the patches in a gateway's parameters ConfigMap, are written as readable `|` blocks."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


SAFE_DUMPER.add_representer(str, _string)


def _yaml_documents(objects: list[dict[str, Any]]) -> str:
    return yaml.dump_all(objects, Dumper=SAFE_DUMPER, sort_keys=True, default_flow_style=False) if objects else ""


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
    needs = {r.urn: {d for d in (*_waits_for(r), r.parent) if d in by_urn and d != r.urn} for r in run.resources}
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
        raise RuntimeError("dependency cycle among: " + ", ".join(sorted(set(by_urn) - {r.urn for r in order})))
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
        if r.type == REMOTE_MANIFEST:
            node["file"] = r.inputs.get("file")
        nodes.append(node)
    chain = [_node_id(r) for r in longest_awaited_chain(run)]
    return {"resources": nodes, "longestAwaitedChain": chain, "outputs": {k: v for k, v in run.outputs.items() if v is not None}}


def _mermaid(run: ProgramRun) -> str:
    """Components as subgraphs, arrows in install order (transitively reduced, so readable):
    solid for `dependsOn`, dashed for a dependency through an Output input."""
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
                arrow = "-.->" if (d, r.urn) in through_input else "-->"
                lines.append(f"  {short[d]} {arrow} {short[r.urn]}")
    return "\n".join(lines) + "\n"


STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""What a Pulumi stack name may hold (and no path separator)."""


def write_atomically(out: Path, files: dict[str, str]) -> None:
    """All files appear in `out` at once; a failure leaves an earlier `out` as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, content in files.items():
            (staging / name).write_text(content)
        previous = out.with_name(f".{out.name}.previous")
        if out.exists():
            shutil.rmtree(previous, ignore_errors=True)
            out.rename(previous)
        staging.rename(out)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.render", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="render Pulumi.<STACK>.yaml")
    source.add_argument("--config", type=Path, help="render any file in the Pulumi.<stack>.yaml format")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0), or bad arguments (2, usage printed)
        return int(stop.code or 0)

    if args.stack is not None and not STACK_NAME.fullmatch(args.stack):
        return _usage(parser, f"--stack {args.stack!r}: a stack name is letters, digits, '_', '.' and '-'")
    if args.out.exists() and not args.out.is_dir():
        return _usage(parser, f"--out {args.out} is a file; name a directory")
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
    try:
        write_atomically(args.out, render(run))
    except OSError as error:
        print(f"error: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
        return 2
    print(f"rendered {stack}: {len(run.resources)} resources into {args.out}; {chain_summary(run)}")
    return 0


def _usage(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_usage(sys.stderr)
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
