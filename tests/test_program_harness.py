"""The mock harness (`tools.program`) leaves the Pulumi SDK as it found it, and skips its stack walk."""

from __future__ import annotations

from typing import Any

import pulumi.resource
import pulumi.runtime.resource
import pytest

from source_ip.config import ConfigError
from tests.conftest import raw
from tools.program import run_program


@pytest.fixture
def counted_stack_walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Stands in for the SDK's `_get_stack_trace` and counts its calls."""
    calls: list[int] = []
    original = pulumi.runtime.resource._get_stack_trace

    def counting() -> Any:
        calls.append(1)
        return original()

    monkeypatch.setattr(pulumi.runtime.resource, "_get_stack_trace", counting)
    return calls


def test_a_run_registers_without_walking_the_stack_and_restores_the_sdk(
    counted_stack_walks: list[int],
) -> None:
    walk, read = pulumi.runtime.resource._get_stack_trace, pulumi.resource.read_resource
    run = run_program(raw("gcp"))
    assert len(run.resources) > 10 and counted_stack_walks == []
    assert pulumi.runtime.resource._get_stack_trace is walk and pulumi.resource.read_resource is read


def test_a_refused_config_restores_the_sdk_too(counted_stack_walks: list[int]) -> None:
    walk, read = pulumi.runtime.resource._get_stack_trace, pulumi.resource.read_resource
    with pytest.raises(ConfigError):
        run_program(raw("gcp", sourceIp="nope"))
    assert pulumi.runtime.resource._get_stack_trace is walk and pulumi.resource.read_resource is read
