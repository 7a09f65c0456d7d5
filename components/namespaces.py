"""Namespaces: the namespaces the program creates for its gateways, shared by all that live there."""

from typing import TypedDict

import pulumi

from components.base import Component, owned_namespace


class NamespacesArgs(TypedDict):
    """Inputs of Namespaces."""

    names: list[str]
    """Namespaces to create. One every cluster has (`default`, `kube-system`, ...) is skipped: it is
    never declared as created, so `pulumi up` cannot fail on AlreadyExists and destroy never deletes it."""


class Namespaces(Component):
    """Creates each namespace once, so several gateways (and their policies) can share it and each
    waits only for its own namespace (`ready(name)`), not for the other gateways."""

    names: pulumi.Output[list[str]]
    """The namespaces created (not those every cluster has)."""

    def __init__(self, name: str, args: NamespacesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Namespaces", name, opts)
        self._ready = {ns: owned_namespace(self, ns) for ns in sorted(set(args["names"]))}
        self.names = pulumi.Output.from_input(sorted(ns for ns, created in self._ready.items() if created))
        self.register_outputs({"names": self.names})

    def ready(self, namespace: str) -> list[pulumi.Resource]:
        """What a resource in `namespace` must wait for (empty if the namespace is not ours)."""
        return list(self._ready.get(namespace, []))
