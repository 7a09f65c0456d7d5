"""EchoHttpRoute: a Gateway API HTTPRoute from every Gateway to the echo Service, and the HTTPS redirect."""

from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.facts import GATEWAY_API_GROUP
from source_ip.gateway import HttpsRoute, redirects
from source_ip.plan import GatewayRef
from source_ip.routes import https_redirect_spec, parent

ROUTE_NAME = "echo"
REDIRECT_ROUTE_NAME = "echo-https-redirect"


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
    tls: NotRequired[dict[str, HttpsRoute]]
    """HTTPS per Gateway name: the route attaches to its `https` listener, and with `redirect_http` the
    `http` listener gets the redirect route instead of the app."""


def app_parents(gateways: list[GatewayRef], tls: dict[str, HttpsRoute]) -> list[dict[str, Any]]:
    """The listeners the app route attaches to: `http` unless it redirects, `https` with TLS."""
    parents = []
    for gateway in gateways:
        if not redirects(tls, gateway["name"]):
            parents.append(parent(gateway["name"], gateway["namespace"], "http"))
        if gateway["name"] in tls:
            parents.append(parent(gateway["name"], gateway["namespace"], "https"))
    return parents


def redirect_spec(host: pulumi.Input[str], gateways: list[GatewayRef]) -> dict[str, Any]:
    """301 to https for `host` on the `http` listener of each Gateway (none: attached to nothing)."""
    return https_redirect_spec([parent(g["name"], g["namespace"], "http") for g in gateways], [host])


class EchoHttpRoute(Component):
    """`hostnames: [host]` on every Gateway, to the echo Service: on the `http` listener, and on `https`
    where a Gateway has TLS (its `http` listener then redirects, unless told not to). A backend in
    another namespace than the route needs a ReferenceGrant there, which this creates. Give it
    `depends_on` the Gateway API CRDs; it does not wait for any Gateway."""

    route: pulumi.Output[str]
    """Name of the HTTPRoute."""

    def __init__(
        self,
        name: str,
        args: EchoHttpRouteArgs,
        opts: pulumi.ResourceOptions | None = None,
        redirect_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """`redirect_after`: what the redirect waits for, the redirecting Gateways' certificates (a
        Certificate Ready, or the read of the user's Secret), so port 80 never sends clients to a 443
        without a certificate. A Python argument, not an input of the component package."""
        super().__init__("EchoHttpRoute", name, opts)
        if not args["gateways"]:
            raise ValueError("EchoHttpRoute: gateways is empty; allowed: one or more GatewayRef")
        tls = args.get("tls", {})
        backend: dict[str, object] = {"name": args["backend_name"], "port": args["backend_port"]}
        grants = []
        if args["backend_namespace"] != args["namespace"]:
            backend["namespace"] = args["backend_namespace"]
            grants.append(
                k8s.apiextensions.CustomResource(
                    self.child_name("reference-grant"),
                    api_version=f"{GATEWAY_API_GROUP}/v1beta1",
                    kind="ReferenceGrant",
                    metadata={
                        "name": f"{ROUTE_NAME}-from-{args['namespace']}",
                        "namespace": args["backend_namespace"],
                    },
                    spec={
                        "from": [
                            {"group": GATEWAY_API_GROUP, "kind": "HTTPRoute", "namespace": args["namespace"]}
                        ],
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
                "parentRefs": app_parents(args["gateways"], tls),
                "hostnames": [args["host"]],
                "rules": [{"backendRefs": [backend]}],
            },
            opts=self.child(depends_on=grants),
        )
        redirecting = [g for g in args["gateways"] if redirects(tls, g["name"])]
        # Registered even when no Gateway redirects (attached to nothing then): removing `tls` updates it
        # in place, in the same step as the listener, instead of a deletion Pulumi runs after every update,
        # which would leave port 80 redirecting to a removed https listener meanwhile.
        k8s.apiextensions.CustomResource(
            self.child_name("https-redirect"),
            api_version=f"{GATEWAY_API_GROUP}/v1",
            kind="HTTPRoute",
            metadata={"name": REDIRECT_ROUTE_NAME, "namespace": args["namespace"]},
            spec=redirect_spec(args["host"], redirecting),
            opts=self.child(depends_on=list(redirect_after)),
        )
        self.route = route.urn.apply(lambda _: ROUTE_NAME)
        self.register_outputs({"route": self.route})
