"""Shared test helpers: raw config as the Pulumi CLI passes it, and the shipped stacks."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from source_ip.config import NAMESPACE, ConfigError, parse_config
from tools.program import ROOT, ProgramRun, run_program
from tools.stackfile import read_stack_file


def shipped_stacks(root: Path = ROOT) -> list[str]:
    """The stacks the repository ships: the `Pulumi.<stack>.yaml` files git tracks. A user's own stack
    file (the README's `Pulumi.mine.yaml`) is no test's business; without git (an unpacked archive) every
    stack file there counts."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--", "Pulumi.*.yaml"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        listed = [p.name for p in root.glob("Pulumi.*.yaml")]
    return sorted(name.removeprefix("Pulumi.").removesuffix(".yaml") for name in listed if "/" not in name)


STACKS = shipped_stacks()
"""The shipped stacks (tracked by git), never a stack file a user added to the checkout."""


def raw(platform: str | None = "vngcloud", **keys: Any) -> dict[str, str]:
    """Raw config: `raw("metallb", metallb={...}, sourceIp="local")`; objects become JSON strings."""
    values = {"platform": platform, **keys} if platform is not None else dict(keys)
    return {f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}


def stack_raw_config(stack: str) -> dict[str, str]:
    return read_stack_file(ROOT / f"Pulumi.{stack}.yaml")


_RUNS: dict[tuple[tuple[tuple[str, str], ...], str, str | None], ProgramRun] = {}


def cached_run(
    raw_config: dict[str, str], stack: str = "test", service_address: str | None = None
) -> ProgramRun:
    """`run_program`, run once per test process for each config and handed out as a deep copy, so a
    test may change what it gets. Several modules run the same configs (every shipped stack, the same
    TLS gateway); a run costs 0.05-0.2 s. A config the program refuses raises each time (nothing is
    kept). Tests that read what a run prints or logs call `run_program` itself."""
    key = (tuple(sorted(raw_config.items())), stack, service_address)
    if key not in _RUNS:
        _RUNS[key] = run_program(raw_config, stack=stack, service_address=service_address)
    return copy.deepcopy(_RUNS[key])


def stack_run(stack: str, service_address: str | None = None) -> ProgramRun:
    """A shipped stack's run under the mocks (through `cached_run`)."""
    return cached_run(stack_raw_config(stack), stack=stack, service_address=service_address)


def problems_of(config: dict[str, str]) -> list[str]:
    """The lines `parse_config` refuses `config` with (it must refuse it)."""
    with pytest.raises(ConfigError) as caught:
        parse_config(config)
    return [str(p) for p in caught.value.problems]


NEAR_MISSES = ["Istio-Source-IP", "istio-sourceip", "istio_source_ip", "istio-source-ipp"]
"""Config namespaces one slip away from the program's, which the program warns about by name."""


def shell_without_pulumi() -> dict[str, str]:
    """This environment without PULUMI_* and without an outer make's command line (MAKEFLAGS carries
    its variables, e.g. `make test PULUMI_CONFIG_PASSPHRASE=x`), and with a PULUMI_HOME holding no login."""
    outer = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_") and k not in outer}
    return {**env, "PULUMI_HOME": str(NO_PULUMI_HOME)}


NO_PULUMI_HOME = ROOT / ".cache" / "tests-no-pulumi-home"
"""A PULUMI_HOME with no credentials.json: a `pulumi login` of the developer's never reaches a test."""


def without_pulumi_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as a user with no backend of their own: no PULUMI_* variables, no `pulumi login`."""
    for name in [n for n in os.environ if n.startswith("PULUMI_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PULUMI_HOME", str(NO_PULUMI_HOME))


FAKES = ROOT / "tests" / "fakes"
"""Stand-ins for docker, kubectl and pulumi that record their calls (tests/fakes)."""


def fake_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment for a subprocess whose docker, kubectl and pulumi are the fakes, logging under
    `tmp_path`; `extra` sets their answers (FAKE_PULUMI_OUTPUTS, ...)."""
    env = {k: v for k, v in shell_without_pulumi().items() if not k.startswith("FAKE_")}
    return {
        **env,
        "PATH": f"{FAKES}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "FAKE_DOCKER_STATE": str(tmp_path / "docker"),
        "FAKE_PULUMI_LOG": str(tmp_path / "pulumi.log"),
        **extra,
    }


def make(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in the project (or `cwd`), as a user runs it."""
    command = ["make", "--no-print-directory", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def annotation_json(values: dict[str, Any]) -> dict[str, Any]:
    """The gateway pods' `proxy.istio.io/config` annotation, parsed."""
    return json.loads(values["podAnnotations"]["proxy.istio.io/config"])


def _fuzz_counts() -> Counter[str]:
    from tests.config_fuzzing import FUZZ_COUNTS

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


GATEWAY_ARGS: dict[str, Any] = {
    "name": "edge",
    "namespace": "edge",
    "istio_version": "1.30.3",
    "platform": "gcp",
    "mode": "local",
    "listener": "off",
}
"""A gateway component's smallest args (a GKE passthrough gateway): what the component tests build on."""


def verify_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m tools.verify ARGS` in a new process (with `env`, e.g. fake_env's stand-in CLIs)."""
    return subprocess.run(
        [sys.executable, "-m", "tools.verify", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
