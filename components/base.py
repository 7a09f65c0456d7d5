"""What every component here shares: its children are named after it and inherit its `depends_on`.

Pulumi does not pass a component's `depends_on` down to its children, so a child of a
component that must wait (say, for istiod's injection webhook) would not wait. `child()`
gives each child `parent=self` and the component's own dependencies. Child resource names start
with the component's name (`child_name`), so any number of instances coexist in one program.
"""

from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from source_ip.facts import ALWAYS_PRESENT_NAMESPACES, Chart

TYPE_PREFIX = "istio-source-ip:index"


class Component(pulumi.ComponentResource):
    def __init__(self, type_name: str, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TYPE_PREFIX}:{type_name}", name, None, opts)
        self.resource_name = name
        depends_on: object = opts.depends_on if opts else None
        given: list[object] = list(depends_on) if isinstance(depends_on, Sequence) else [depends_on]
        # An Output of a Resource is kept too: IstioInstall's checked read of an existing istiod is one.
        self._depends_on: list[pulumi.Input[pulumi.Resource]] = [
            d for d in given if isinstance(d, pulumi.Resource | pulumi.Output)
        ]

    def child_name(self, suffix: str) -> str:
        return f"{self.resource_name}-{suffix}"

    def child(self, *, depends_on: Sequence[pulumi.Input[pulumi.Resource]] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[*self._depends_on, *depends_on])

    def custom_resource(
        self,
        suffix: str,
        api_version: str,
        kind: str,
        name: pulumi.Input[str],
        namespace: pulumi.Input[str] | None,
        spec: dict[str, Any],
        *,
        depends_on: Sequence[pulumi.Input[pulumi.Resource]] = (),
    ) -> k8s.apiextensions.CustomResource:
        """A custom resource named `name` (in `namespace`, None for a cluster-scoped one), a child named
        `<component>-<suffix>`."""
        metadata: dict[str, Any] = {"name": name}
        if namespace is not None:
            metadata["namespace"] = namespace
        return k8s.apiextensions.CustomResource(
            self.child_name(suffix),
            api_version=api_version,
            kind=kind,
            metadata=metadata,
            spec=spec,
            opts=self.child(depends_on=depends_on),
        )

    def chart_release(
        self,
        suffix: str,
        release: pulumi.Input[str],
        chart: Chart,
        version: pulumi.Input[str],
        namespace: pulumi.Input[str],
        values: pulumi.Input[dict[str, Any]],
        *,
        depends_on: Sequence[pulumi.Input[pulumi.Resource]] = (),
    ) -> k8s.helm.v3.Release:
        """A Helm release of `chart` from its official repository, a child named `<component>-<suffix>`."""
        return k8s.helm.v3.Release(
            self.child_name(suffix),
            k8s.helm.v3.ReleaseArgs(
                name=release,
                chart=chart.chart,
                version=version,
                namespace=namespace,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
                values=values,
            ),
            opts=self.child(depends_on=depends_on),
        )


def owned_namespace(component: Component, name: pulumi.Input[str]) -> list[pulumi.Resource]:
    """A Namespace the component creates, as a dependency list; none for one every cluster has."""
    if isinstance(name, str) and name in ALWAYS_PRESENT_NAMESPACES:
        return []
    return [
        k8s.core.v1.Namespace(
            component.child_name(f"namespace-{name}"), metadata={"name": name}, opts=component.child()
        )
    ]


def kubernetes_object(
    type_token: str, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions
) -> pulumi.CustomResource:
    """A Kubernetes object whose outputs include `status` (pulumi-kubernetes' CustomResource class exposes
    only what it was given). With `opts.id` it is a read of an existing object."""
    return pulumi.CustomResource(
        type_token,
        name,
        {**props, "status": None},
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=version("pulumi-kubernetes"))),
    )
