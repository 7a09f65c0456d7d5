"""Shared test helpers: raw config as the Pulumi CLI passes it, and the shipped stacks."""

from __future__ import annotations

import functools
import json
from collections import Counter
from typing import Any

import pytest

from source_ip.config import NAMESPACE
from tools.program import ROOT, ProgramRun, run_program
from tools.stackfile import read_stack_file

STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))


def raw(platform: str | None = "vngcloud", **keys: Any) -> dict[str, str]:
    """Raw config: `raw("metallb", metallb={...}, sourceIp="local")`; objects become JSON strings."""
    values = {"platform": platform, **keys} if platform is not None else dict(keys)
    return {f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def stack_raw_config(stack: str) -> dict[str, str]:
    return read_stack_file(ROOT / f"Pulumi.{stack}.yaml")


@functools.cache
def stack_run(stack: str) -> ProgramRun:
    """A shipped stack's run under the mocks, once per test process for every module that reads it
    (each run costs about 0.15 s; several modules read all of them). Read it, never change it."""
    return run_program(stack_raw_config(stack), stack=stack)


def annotation_json(values: dict[str, Any]) -> dict[str, Any]:
    """The gateway pods' `proxy.istio.io/config` annotation, parsed."""
    return json.loads(values["podAnnotations"]["proxy.istio.io/config"])


def _fuzz_counts() -> Counter[str]:
    from tests.test_config_fuzz import FUZZ_COUNTS

    return FUZZ_COUNTS


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Under pytest-xdist a worker hands its fuzz counts to the controller, which prints the sum."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_counts"] = dict(_fuzz_counts())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller's side of `pytest_sessionfinish` (a hook only pytest-xdist defines)."""
    _fuzz_counts().update(getattr(node, "workeroutput", {}).get("fuzz_counts", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    c = _fuzz_counts()
    if c:
        ran = c["program-ran"] + c["program-rejected"]
        terminalreporter.write_line(
            f"config fuzz: {c['parsed']} configs parsed ({c['accepted']} accepted, {c['rejected']} rejected "
            f"with keyed messages); {c['files']} stack files read ({c['files-refused']} refused as files); "
            f"{c['renders']} rendered from files (exit 0 or 2); {ran} run through __main__.py "
            f"({c['program-rejected']} rejected with 0 resources registered); {c['crashes']} crashes"
        )
