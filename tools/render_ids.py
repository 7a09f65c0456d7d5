"""How a render names what it holds (graph.json's `object`), shared by the render and the review; kept
apart so the render does not import the review's modules unless it reviews."""

from typing import Any


def object_id(obj: dict[str, Any]) -> str:
    """A Kubernetes object's id in a render: apiVersion/kind/namespace/name (graph.json's `object`)."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def release_id(release: dict[str, Any]) -> str:
    """A Helm release's id in a render: helm/namespace/name (graph.json's `object`)."""
    return f"helm/{release.get('namespace', '')}/{release.get('name', '')}"
