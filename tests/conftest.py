"""Shared test helpers: raw config as the Pulumi CLI passes it, and the shipped stacks."""

from __future__ import annotations

import json
from typing import Any

from source_ip.config import NAMESPACE
from tools.program import ROOT
from tools.stackfile import read_stack_file

STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))


def raw(platform: str | None = "vngcloud", **keys: Any) -> dict[str, str]:
    """Raw config: `raw("metallb", metallb={...}, sourceIp="local")`; objects become JSON strings."""
    values = {"platform": platform, **keys} if platform is not None else dict(keys)
    return {f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def stack_raw_config(stack: str) -> dict[str, str]:
    return read_stack_file(ROOT / f"Pulumi.{stack}.yaml")


def annotation_json(values: dict[str, Any]) -> dict[str, Any]:
    """The gateway pods' `proxy.istio.io/config` annotation, parsed."""
    return json.loads(values["podAnnotations"]["proxy.istio.io/config"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from tests.test_config_fuzz import FUZZ_COUNTS

    if FUZZ_COUNTS:
        c = FUZZ_COUNTS
        terminalreporter.write_line(
            f"config fuzz: {c['parsed']} configs parsed ({c['accepted']} accepted, {c['rejected']} rejected with "
            f"keyed messages); {c['files']} stack files read ({c['files-refused']} refused as files); "
            f"{c['renders']} rendered from files (exit 0 or 2); {c['program-ran'] + c['program-rejected']} run "
            f"through __main__.py ({c['program-rejected']} rejected with 0 resources registered); "
            f"{c['crashes']} crashes"
        )
