"""Namespaces alone: each created once; the ones every cluster has are never declared as created."""

from __future__ import annotations

from components import Namespaces, NamespacesArgs
from tools.program import run_body


def test_each_namespace_is_created_once_and_ready_names_it() -> None:
    ready: dict[str, list[str]] = {}

    def body() -> None:
        namespaces = Namespaces("ns", NamespacesArgs(names=["ingress", "default", "ingress", "edge"]))
        ready.update(
            {n: [r._name for r in namespaces.ready(n)] for n in ("ingress", "edge", "default", "other")}
        )

    run = run_body(body)
    assert sorted(n["metadata"]["name"] for n in run.k8s_objects("Namespace")) == ["edge", "ingress"]
    assert ready == {
        "ingress": ["ns-namespace-ingress"],
        "edge": ["ns-namespace-edge"],
        "default": [],
        "other": [],
    }
