"""Render cost grows linearly with the resources a stack declares (measured as a ratio in one run)."""

from __future__ import annotations

import time

from tests.conftest import raw
from tools.program import run_program
from tools.render import render


def seconds_per_resource(nodes: int) -> tuple[float, int]:
    config = raw(
        "metallb",
        metallb={
            "nodes": [f"worker-{i}" for i in range(nodes)],
            "pool": "gw",
            "install": True,
            "addresses": ["10.0.0.240-10.0.0.250"],
        },
    )
    started = time.perf_counter()
    run = run_program(config)
    render(run)
    return (time.perf_counter() - started) / len(run.resources), len(run.resources)


def test_2000_pinned_nodes_cost_at_most_4x_per_resource_what_2_nodes_cost() -> None:
    seconds_per_resource(2)  # imports and first-run caches out of the measurement
    small = min(seconds_per_resource(2)[0] for _ in range(3))
    large, resources = seconds_per_resource(2000)
    assert resources > 2000
    ratio = large / small
    print(f"\nscale: {small * 1000:.2f} ms per resource with 2 nodes, {large * 1000:.2f} ms with 2000 ({ratio:.1f}x)")
    assert ratio <= 4, f"{ratio:.1f}x"
