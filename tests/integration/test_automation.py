"""Integration tier (Automation API), against the current kube context:
`up` -> `preview` shows no changes -> verify the client address -> `destroy`.

Runs only with the Pulumi CLI, a kube context and ISTIO_SOURCE_IP_E2E=1; otherwise the whole
module is skipped and the reason says which of the three is missing. It deploys to that cluster.

    ISTIO_SOURCE_IP_E2E=1 .venv/bin/python -m pytest tests/integration -v
Optional:
    ISTIO_SOURCE_IP_E2E_STACK=dev               the stack to deploy (default dev)
    ISTIO_SOURCE_IP_E2E_DOCKER_NETWORK=kind     run verify from a container on this Docker network and expect
                                                exactly that container's address, as Docker reports it
    ISTIO_SOURCE_IP_E2E_CLIENT_IP=192.0.2.10    otherwise: the address the gateway should see from this
                                                machine
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import verify
from tools.program import ROOT


def _current_kube_context() -> str | None:
    paths = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")).split(os.pathsep)
    for path in paths:
        try:
            context = (yaml.safe_load(Path(path).read_text()) or {}).get("current-context")
        except (OSError, yaml.YAMLError):
            continue
        if context:
            return str(context)
    return None


def skip_reason() -> str | None:
    missing = []
    if shutil.which("pulumi") is None:
        missing.append("the Pulumi CLI is not installed")
    if _current_kube_context() is None:
        missing.append("there is no current kube context")
    if os.environ.get("ISTIO_SOURCE_IP_E2E") != "1":
        missing.append("ISTIO_SOURCE_IP_E2E is not 1")
    return "integration tier skipped: " + "; ".join(missing) if missing else None


pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

STACK = os.environ.get("ISTIO_SOURCE_IP_E2E_STACK", "dev")


READ_ONLY = {"same", "read"}
"""Preview steps that change nothing: the engine reads the gateway Service (and istiod when reused)
on every preview."""


def verify_from_container(stack: str, network: str, env: dict[str, str]) -> dict:
    """`python -m tools.verify --stack S --from-docker-network N`: the container's own address must arrive."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.verify",
            "--stack",
            stack,
            "--from-docker-network",
            network,
            "--attempts",
            "20",
            "--timeout",
            "300",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    print(result.stderr)
    return json.loads(result.stdout)


def test_up_preview_verify_destroy() -> None:
    from pulumi import automation as auto

    env = {
        "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL", f"file://{ROOT}/.pulumi-state"),
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""),
    }
    (ROOT / ".pulumi-state").mkdir(exist_ok=True)
    stack = auto.create_or_select_stack(
        stack_name=STACK, work_dir=str(ROOT), opts=auto.LocalWorkspaceOptions(env_vars=env)
    )
    try:
        up = stack.up(on_output=print)
        assert up.summary.result == "succeeded"

        preview = stack.preview(diff=True, on_output=print)
        changes = {str(op): n for op, n in preview.change_summary.items() if str(op) not in READ_ONLY}
        assert changes == {}, f"second preview not empty: {changes}"

        address, host = up.outputs["gatewayAddress"].value, up.outputs["echoHost"].value
        assert address, "the gateway got no external address"
        network = os.environ.get("ISTIO_SOURCE_IP_E2E_DOCKER_NETWORK")
        if network:
            result = verify_from_container(STACK, network, env)
            assert result["ok"], result
        else:
            verdict = verify.verify(
                verify.Target(f"http://{address}", host),
                os.environ.get("ISTIO_SOURCE_IP_E2E_CLIENT_IP"),
                attempts=20,
            )
            assert verdict.ok, verdict.as_text()
    finally:
        stack.destroy(on_output=print)
