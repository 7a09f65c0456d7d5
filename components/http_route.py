"""EchoHttpRoute: a Gateway API HTTPRoute from every Gateway to the echo Service."""

from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.facts import GATEWAY_API_GROUP
from source_ip.plan import GatewayRef

ROUTE_NAME = "echo"


class EchoHttpRouteArgs(TypedDict):
    """Inputs of the echo app's HTTPRoute. The two namespaces decide whether a ReferenceGrant is needed,
    so they are plain values."""

    host: pulumi.Input[str]
    """The hostname the route answers for."""
    namespace: str
    """Where the HTTPRoute lives; each Gateway must admit routes from it (its listener's allowedRoutes)."""
    gateways: list[GatewayRef]
    """The Gateways the route attaches to (their `http` listener)."""
    backend_name: pulumi.Input[str]
    """Name of the echo Service."""
    backend_namespace: str
    """Namespace of the echo Service."""
    backend_port: pulumi.Input[int]
    """Port of the echo Service."""


class EchoHttpRoute(Component):
    """`hostnames: [host]` on the `http` listener of every Gateway, to the echo Service. A backend in
    another namespace than the route needs a ReferenceGrant there, which this creates. Give it
    `depends_on` the Gateway API CRDs; it does not wait for any Gateway."""

    route: pulumi.Output[str]
    """Name of the HTTPRoute."""

    def __init__(self, name: str, args: EchoHttpRouteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("EchoHttpRoute", name, opts)
        if not args["gateways"]:
            raise ValueError("EchoHttpRoute: gateways is empty; allowed: one or more GatewayRef")
        backend: dict[str, object] = {"name": args["backend_name"], "port": args["backend_port"]}
        grants = []
        if args["backend_namespace"] != args["namespace"]:
            backend["namespace"] = args["backend_namespace"]
            grants.append(
                k8s.apiextensions.CustomResource(
                    self.child_name("reference-grant"),
                    api_version=f"{GATEWAY_API_GROUP}/v1beta1",
                    kind="ReferenceGrant",
                    metadata={"name": f"{ROUTE_NAME}-from-{args['namespace']}", "namespace": args["backend_namespace"]},
                    spec={
                        "from": [{"group": GATEWAY_API_GROUP, "kind": "HTTPRoute", "namespace": args["namespace"]}],
                        "to": [{"group": "", "kind": "Service", "name": args["backend_name"]}],
                    },
                    opts=self.child(),
                )
            )
        route = k8s.apiextensions.CustomResource(
            self.child_name("route"),
            api_version=f"{GATEWAY_API_GROUP}/v1",
            kind="HTTPRoute",
            metadata={"name": ROUTE_NAME, "namespace": args["namespace"]},
            spec={
                "parentRefs": [
                    {
                        "group": GATEWAY_API_GROUP,
                        "kind": "Gateway",
                        "name": g["name"],
                        "namespace": g["namespace"],
                        "sectionName": "http",
                    }
                    for g in args["gateways"]
                ],
                "hostnames": [args["host"]],
                "rules": [{"backendRefs": [backend]}],
            },
            opts=self.child(depends_on=grants),
        )
        self.route = route.urn.apply(lambda _: ROUTE_NAME)
        self.register_outputs({"route": self.route})
