"""What every component here shares: its children inherit the component's `depends_on`.

Pulumi does not pass a component's `depends_on` down to its children, so a child of a
component that must wait (say, for istiod's injection webhook) would not wait. `child()`
gives each child `parent=self` and the component's own dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

TYPE_PREFIX = "istio-source-ip:index"

ALWAYS_PRESENT_NAMESPACES = frozenset({"default"})
"""Namespaces every cluster has: labelled with a patch (undone on destroy), never created."""


class Component(pulumi.ComponentResource):
    def __init__(self, type_name: str, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:{type_name}", name, None, opts)
        depends_on = opts.depends_on if opts else None
        self._depends_on: list[pulumi.Resource] = list(depends_on) if isinstance(depends_on, Sequence) else (
            [depends_on] if isinstance(depends_on, pulumi.Resource) else []
        )

    def child(self, *, depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[*self._depends_on, *depends_on])


def namespace(component: Component, name: str, labels: dict[str, str] | None = None) -> pulumi.CustomResource:
    """A Namespace the program owns, or a label patch on one that always exists."""
    metadata = {"name": name, **({"labels": dict(sorted(labels.items()))} if labels else {})}
    if name in ALWAYS_PRESENT_NAMESPACES:
        return k8s.core.v1.NamespacePatch(f"namespace-{name}", metadata=metadata, opts=component.child())
    return k8s.core.v1.Namespace(f"namespace-{name}", metadata=metadata, opts=component.child())
