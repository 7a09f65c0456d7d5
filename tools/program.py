"""Run the real program (`__main__.py`) under Pulumi mocks and record what it declares.

The same code path as `pulumi up`: the config goes in as the engine would pass it, the program
registers its resources, and the mock monitor records each registration with its parent and
explicit dependencies. Used by the unit tests and by `tools.render`.

Each run gets a fresh event loop and a fresh `contextvars.Context`, where Pulumi keeps its
settings, config and root stack: nothing leaks from one run into the next.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import os
import runpy
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.resource
import pulumi.runtime.resource
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import wait_for_rpcs

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "istio-source-ip"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass(frozen=True)
class Registered:
    """One resource registration, as the engine would receive it."""

    type: str
    name: str
    urn: str
    parent: str | None
    dependencies: tuple[str, ...]
    """URNs from `depends_on` (not those implied by Output inputs)."""
    input_dependencies: tuple[str, ...]
    """URNs the resource waits for because one of its inputs is an Output of theirs; for a read, those
    its id comes from (the SDK sends a read only once its id is known, and tells the engine nothing)."""
    inputs: dict[str, Any]
    custom: bool
    read_id: str | None = None
    """Set for `Resource.get` reads of objects the program does not own."""

    @property
    def is_patch(self) -> bool:
        return self.type.endswith("Patch")


class DuplicateUrnError(RuntimeError):
    """Two resources registered the same URN: the Pulumi engine refuses such a program."""


@dataclass
class ProgramRun:
    resources: list[Registered] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    duplicate_urns: list[str] = field(default_factory=list)
    _urns: set[str] = field(default_factory=set, repr=False)

    def add(self, resource: Registered) -> None:
        if resource.urn in self._urns:
            self.duplicate_urns.append(resource.urn)
        self._urns.add(resource.urn)
        self.resources.append(resource)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def named(self, type_: str, name: str) -> Registered:
        matches = [r for r in self.of_type(type_) if r.name == name]
        if len(matches) != 1:
            known = sorted(r.name for r in self.of_type(type_))
            raise KeyError(f"{len(matches)} resources {type_} named {name!r}; there are: {known}")
        return matches[0]

    def k8s_objects(self, kind: str) -> list[dict[str, Any]]:
        """Kubernetes objects the program declares (not patches, not reads), by kind."""
        return [
            r.inputs
            for r in self.resources
            if r.custom and not r.read_id and not r.is_patch and r.inputs.get("kind") == kind
        ]

    def release(self, name: str) -> dict[str, Any]:
        return next(r.inputs for r in self.of_type(HELM_RELEASE) if r.inputs["name"] == name)


class _Mocks(pulumi.runtime.Mocks):
    """Resources come back with their inputs as state. Helm releases also report the status the
    provider would (release name and namespace); a read of the gateway Service reports
    `service_address` as its load-balancer ingress when one is given."""

    def __init__(self, service_address: str | None, reads: dict[str, dict[str, Any]] | None = None) -> None:
        self.service_address = service_address
        self.reads = reads or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == HELM_RELEASE:
            state["status"] = {
                "name": state.get("name"),
                "namespace": state.get("namespace"),
                "status": "deployed",
            }
        if args.resource_id and args.typ == "kubernetes:core/v1:Service" and self.service_address:
            state["status"] = {"loadBalancer": {"ingress": [{"ip": self.service_address}]}}
        if args.typ == "kubernetes:gateway.networking.k8s.io/v1:Gateway" and self.service_address:
            state["status"] = {"addresses": [{"type": "IPAddress", "value": self.service_address}]}
        if args.resource_id and f"{args.typ}::{args.resource_id}" in self.reads:
            state.update(self.reads[f"{args.typ}::{args.resource_id}"])
        return (args.resource_id or f"{args.name}-id", state)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return ({}, None)


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _Mocks, run: ProgramRun) -> None:
        super().__init__(mocks)
        self.run = run

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            implied = {urn for deps in request.propertyDependencies.values() for urn in deps.urns}
            self.run.add(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent or None,
                    dependencies=tuple(sorted(set(request.dependencies) - implied)),
                    input_dependencies=tuple(sorted(implied)),
                    inputs=_integral(pulumi.runtime.rpc.deserialize_properties(request.object)),
                    custom=request.custom,
                )
            )
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().ReadResource(request)
        self.run.add(
            Registered(
                type=request.type,
                name=request.name,
                urn=response.urn,
                parent=request.parent or None,
                dependencies=(),
                input_dependencies=(),
                inputs={},
                custom=True,
                read_id=request.id,
            )
        )
        return response


def run_program(
    raw_config: dict[str, str],
    stack: str = "test",
    *,
    program: Path = ROOT / "__main__.py",
    service_address: str | None = None,
    record: ProgramRun | None = None,
    reads: dict[str, dict[str, Any]] | None = None,
) -> ProgramRun:
    """Run `program` with `raw_config` (keys `istio-source-ip:*`, values as the CLI passes them).

    Exceptions from the program (ConfigError among them) propagate unchanged; pass `record` to
    see what was registered before one was raised.
    """
    return run_body(
        lambda: runpy.run_path(str(program), run_name="__main__"),
        raw_config,
        stack,
        service_address=service_address,
        record=record,
        reads=reads,
    )


def run_body(
    body: Callable[[], object],
    raw_config: dict[str, str] | None = None,
    stack: str = "test",
    *,
    service_address: str | None = None,
    record: ProgramRun | None = None,
    reads: dict[str, dict[str, Any]] | None = None,
) -> ProgramRun:
    """Run any callable that declares resources (one component, in unit tests) under the mocks.
    `reads` gives the state a `.get` read returns, by "<type>::<id>"."""
    run = record if record is not None else ProgramRun()
    mocks = _Mocks(service_address, reads)
    return contextvars.Context().run(_run, body, dict(raw_config or {}), stack, mocks, run)


def _run(
    body: Callable[[], object], raw_config: dict[str, str], stack: str, mocks: _Mocks, run: ProgramRun
) -> ProgramRun:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Pulumi calls the (mock) monitor in the loop's default executor, and each of its threads
    # gets an event loop of its own. Own those loops, so the run can close them.
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def give_thread_a_loop() -> None:
        thread_loops.append(asyncio.new_event_loop())
        asyncio.set_event_loop(thread_loops[-1])

    loop.set_default_executor(
        ThreadPoolExecutor(thread_name_prefix="pulumi-mocks", initializer=give_thread_a_loop)
    )
    # A read whose id is an Output waits for the resources behind that Output, but the SDK drops those
    # dependencies from the ReadResource request (pulumi/runtime/resource.py read_resource): note the ids
    # here, and resolve them into dependencies once the program has run.
    read_ids: list[tuple[str, str, pulumi.Output[Any]]] = []
    read_resource = pulumi.resource.read_resource

    def noting_read_resource(
        res: Any, ty: str, name: str, props: Any, opts: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if isinstance(opts.id, pulumi.Output):
            read_ids.append((ty, name, opts.id))
        return read_resource(res, ty, name, props, opts, *args, **kwargs)

    # The SDK walks the whole Python stack at every registration to send the engine a stack trace and
    # source position, which only the engine's messages use; the recording monitor keeps neither. Under
    # pytest that walk (about 50 frames, a file URI each) was a third of a run's time: send none, as the
    # SDK itself does when it finds no user frame.
    stack_trace = pulumi.runtime.resource._get_stack_trace
    # The config is what the caller passes, never a PULUMI_CONFIG left in the environment.
    saved_env = {
        name: os.environ.pop(name)
        for name in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")
        if name in os.environ
    }
    try:
        pulumi.resource.read_resource = noting_read_resource
        pulumi.runtime.resource._get_stack_trace = _no_stack_trace
        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=stack, preview=False, monitor=_RecordingMonitor(mocks, run)
        )
        # `outputs` defaults to one set shared by every context: give this run its own.
        pulumi.runtime.settings.SETTINGS.outputs = set()
        pulumi.runtime.set_all_config(raw_config)
        try:
            body()
        finally:
            # Like Pulumi's own run_pulumi_func: what was scheduled completes even on failure.
            loop.run_until_complete(wait_for_rpcs())
        _add_read_dependencies(run, read_ids, loop)
        if run.duplicate_urns:
            raise DuplicateUrnError(
                "duplicate resource URNs (the engine refuses these): " + ", ".join(run.duplicate_urns)
            )
        root = pulumi.runtime.settings.get_root_resource()
        outputs = dict(getattr(root, "outputs", {}) or {})
        run.outputs = {
            key: loop.run_until_complete(_resolve(value)) for key, value in sorted(outputs.items())
        }
        loop.run_until_complete(wait_for_rpcs())  # anything resolving the outputs scheduled
        return run
    finally:
        pulumi.resource.read_resource = read_resource
        pulumi.runtime.resource._get_stack_trace = stack_trace
        os.environ.update(saved_env)
        # End the executor threads the mock monitor ran in, then close the loops they used.
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in thread_loops:
            thread_loop.close()
        loop.close()
        asyncio.set_event_loop(None)


def _no_stack_trace() -> Any:
    return source_pb2.StackTrace()


def _add_read_dependencies(
    run: ProgramRun, read_ids: list[tuple[str, str, pulumi.Output[Any]]], loop: asyncio.AbstractEventLoop
) -> None:
    for type_, name, id_output in read_ids:
        behind = loop.run_until_complete(id_output.resources())
        urns = tuple(sorted({loop.run_until_complete(r.urn.future()) or "" for r in behind} - {""}))
        for i, r in enumerate(run.resources):
            if r.read_id and r.type == type_ and r.name == name:
                run.resources[i] = dataclasses.replace(r, input_dependencies=urns)


def _integral(value: Any) -> Any:
    """Numbers cross the engine's wire as doubles; whole ones are integers to Kubernetes and Helm."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integral(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integral(item) for item in value]
    return value


async def _resolve(value: Any) -> Any:
    """A stack output as the engine shows it: Outputs nested in dicts and lists resolved too."""
    return await pulumi.Output.from_input(value).future()
