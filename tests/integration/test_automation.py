"""Integration tier (Automation API), against the current kube context:
`up` -> `preview` shows no changes -> verify the client address -> `destroy`.

Runs only with the Pulumi CLI, a kube context and ISTIO_SOURCE_IP_E2E=1; otherwise the whole
module is skipped and the reason says which of the three is missing. It deploys to that cluster.

    ISTIO_SOURCE_IP_E2E=1 .venv/bin/python -m pytest tests/integration -v
Optional:
    ISTIO_SOURCE_IP_E2E_STACK=dev                        the stack to deploy (default dev)
    ISTIO_SOURCE_IP_E2E_CLIENT_IP=172.18.0.1             the address the gateway should see from this machine
    ISTIO_SOURCE_IP_E2E_CLIENT_CONTAINER_IP=172.18.0.250 run verify from a container on the `kind` Docker
                                                         network at this address, and expect exactly it
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
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


def verify_from_container(address: str, host: str, client_ip: str) -> dict:
    """tools.verify uses only the standard library, so a stock python image can run it."""
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "kind", "--ip", client_ip, "-v", f"{ROOT}:/src:ro", "-w", "/src",
         "python:3.11-slim", "python", "-m", "tools.verify", "--url", f"http://{address}", "--host", host,
         "--expect-ip", client_ip, "--attempts", "20", "--json"],
        capture_output=True, text=True, check=False)
    print(result.stderr)
    return json.loads(result.stdout)


def test_up_preview_verify_destroy() -> None:
    from pulumi import automation as auto

    env = {"PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL", f"file://{ROOT}/.pulumi-state"),
           "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "")}
    (ROOT / ".pulumi-state").mkdir(exist_ok=True)
    stack = auto.create_or_select_stack(stack_name=STACK, work_dir=str(ROOT),
                                        opts=auto.LocalWorkspaceOptions(env_vars=env))
    try:
        up = stack.up(on_output=print)
        assert up.summary.result == "succeeded"

        preview = stack.preview(diff=True, on_output=print)
        assert {op: n for op, n in preview.change_summary.items() if op != "same"} == {}, "second preview not empty"

        address, host = up.outputs["gatewayAddress"].value, up.outputs["echoHost"].value
        assert address, "the gateway got no external address"
        container_ip = os.environ.get("ISTIO_SOURCE_IP_E2E_CLIENT_CONTAINER_IP")
        if container_ip:
            result = verify_from_container(address, host, container_ip)
            assert result["ok"], result
        else:
            verdict = verify.verify(verify.Target(f"http://{address}", host),
                                    os.environ.get("ISTIO_SOURCE_IP_E2E_CLIENT_IP"), attempts=20)
            assert verdict.ok, verdict.as_text()
    finally:
        stack.destroy(on_output=print)
