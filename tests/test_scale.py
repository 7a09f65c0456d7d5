"""Render cost grows linearly with the resources a stack declares (measured as ratios in one run).

Two measures, per declared resource, 1000 pinned nodes against 2: the render of a finished run
(install order, graph, YAML: what re-sorted the install order for every resource used to make
quadratic, about 13x at 2000 nodes, so about 7x at 1000), and the whole path (the program under
the mocks, then the render).
"""

import time

from tests.conftest import raw
from tools.program import ProgramRun, run_program
from tools.render import render


def pinned(nodes: int) -> dict[str, str]:
    return raw(
        "metallb",
        metallb={
            "nodes": [f"worker-{i}" for i in range(nodes)],
            "pool": "gw",
            "install": True,
            "addresses": ["10.0.0.240-10.0.0.250"],
        },
    )


def seconds_per_resource(nodes: int) -> tuple[float, float, ProgramRun]:
    """(the whole path, the render alone) in seconds per declared resource."""
    started = time.perf_counter()
    run = run_program(pinned(nodes))
    ran = time.perf_counter()
    render(run)
    done = time.perf_counter()
    return (done - started) / len(run.resources), (done - ran) / len(run.resources), run


def test_1000_pinned_nodes_cost_at_most_4x_per_resource_what_2_nodes_cost() -> None:
    seconds_per_resource(2)  # imports and first-run caches out of the measurement
    small = [seconds_per_resource(2) for _ in range(3)]
    whole_small, render_small = min(s[0] for s in small), min(s[1] for s in small)
    whole_large, render_large, run = seconds_per_resource(1000)
    assert len(run.resources) > 1000
    whole, rendering = whole_large / whole_small, render_large / render_small
    print(
        f"\nscale per resource, 1000 vs 2 nodes: whole path {whole:.1f}x ({whole_small * 1000:.2f} ms -> "
        f"{whole_large * 1000:.2f} ms), render alone {rendering:.1f}x"
    )
    assert whole <= 4, f"whole path {whole:.1f}x"
    assert rendering <= 4, f"render alone {rendering:.1f}x"
