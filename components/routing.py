"""EchoRouting: an Istio Gateway per ingress gateway and one VirtualService to the echo app."""

from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.gateway import HttpsRoute, redirects
from source_ip.plan import GatewayRef
from source_ip.routes import HTTP_PORT, ISTIO_HTTPS_REDIRECT, http_server, https_server

VIRTUAL_SERVICE_NAME = "echo"


def istio_gateway_name(gateway: GatewayRef) -> str:
    return f"echo-{gateway['name']}"


class EchoRoutingArgs(TypedDict):
    """Inputs of the echo app's Istio routing."""

    host: pulumi.Input[str]
    """Host the Istio Gateways and the VirtualService answer for."""
    namespace: pulumi.Input[str]
    """Namespace of the Istio Gateways and the VirtualService (the echo app's)."""
    gateways: list[GatewayRef]
    """The ingress gateways to answer on; each Istio Gateway selects that gateway's pod labels."""
    destination_host: pulumi.Input[str]
    """Cluster DNS name of the echo Service."""
    destination_port: pulumi.Input[int]
    """Port of the echo Service."""
    tls: NotRequired[dict[str, HttpsRoute]]
    """HTTPS per gateway name: a server on 443 reading the Secret in the gateway's namespace, and the
    port-80 redirect route when it asks for one."""


def istio_gateway_servers(host: pulumi.Input[str], tls: HttpsRoute | None) -> list[dict[str, Any]]:
    """Port 80 HTTP for `host`, and with TLS an HTTPS server on 443 (SIMPLE, credentialName).

    The port-80 server never sets `tls.httpsRedirect`: istiod then marks the whole virtual host
    `require_tls: ALL` (pilot/pkg/networking/core/gateway.go, buildGatewayHTTPRouteConfig), which would
    redirect cert-manager's HTTP-01 challenge too. The redirect is a route of the VirtualService instead."""
    servers = [http_server([host])]
    if tls is not None:
        servers.append(https_server(list(tls["hosts"]), tls["secret_name"]))
    return servers


def http_routes(
    redirecting: Sequence[pulumi.Input[str]], destination: dict[str, Any]
) -> list[dict[str, Any]]:
    """The VirtualService's routes: on the redirecting gateways' port 80 a 301 to https, then the echo app.

    Both are catch-all routes (prefix /), which istiod moves behind every more specific route of the same
    host on the same port (istio_route.SortVHostRoutes, gateway.go): the Ingress cert-manager's HTTP-01
    solver makes (an exact `/.well-known/acme-challenge/<token>` match) still reaches its solver."""
    routes: list[dict[str, Any]] = []
    if redirecting:
        routes.append(
            {
                "name": "https-redirect",
                "match": [{"port": HTTP_PORT, "gateways": list(redirecting)}],
                "redirect": dict(ISTIO_HTTPS_REDIRECT),
            }
        )
    routes.append({"route": [{"destination": destination}]})
    return routes


class EchoRouting(Component):
    """Port 80 HTTP for `host` on every ingress gateway, routed to the echo Service (the PROXY-protocol
    recipe, step 3), and HTTPS on 443 where a gateway has TLS. Give it `depends_on` the Istio CRDs; it does
    not wait for any gateway."""

    gateways: pulumi.Output[list[str]]
    """Names of the Istio Gateways, one per ingress gateway."""
    virtual_service: pulumi.Output[str]
    """Name of the VirtualService."""

    def __init__(
        self,
        name: str,
        args: EchoRoutingArgs,
        opts: pulumi.ResourceOptions | None = None,
        redirect_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """`redirect_after`: what the VirtualService (it carries the port-80 redirect) waits for, the
        redirecting gateways' certificates (a Certificate Ready, or the read of the user's Secret), so
        port 80 never sends clients to a 443 without a certificate. A Python argument, not an input of
        the component package."""
        super().__init__("EchoRouting", name, opts)
        if not args["gateways"]:
            raise ValueError("EchoRouting: gateways is empty; allowed: one or more GatewayRef")
        tls = args.get("tls", {})
        istio_gateways = [
            k8s.apiextensions.CustomResource(
                self.child_name(f"gateway-{gateway['name']}"),
                api_version="networking.istio.io/v1",
                kind="Gateway",
                metadata={"name": istio_gateway_name(gateway), "namespace": args["namespace"]},
                spec={
                    "selector": dict(gateway["labels"]),
                    "servers": istio_gateway_servers(args["host"], tls.get(gateway["name"])),
                },
                opts=self.child(),
            )
            for gateway in args["gateways"]
        ]
        bound = [
            pulumi.Output.concat(args["namespace"], "/", istio_gateway_name(g)) for g in args["gateways"]
        ]
        redirecting = [b for g, b in zip(args["gateways"], bound, strict=True) if redirects(tls, g["name"])]
        destination = {"host": args["destination_host"], "port": {"number": args["destination_port"]}}
        virtual_service = k8s.apiextensions.CustomResource(
            self.child_name("virtual-service"),
            api_version="networking.istio.io/v1",
            kind="VirtualService",
            metadata={"name": VIRTUAL_SERVICE_NAME, "namespace": args["namespace"]},
            spec={
                "hosts": [args["host"]],
                "gateways": bound,
                "http": http_routes(redirecting, destination),
            },
            opts=self.child(depends_on=[*istio_gateways, *(redirect_after if redirecting else [])]),
        )
        self.gateways = pulumi.Output.from_input([istio_gateway_name(g) for g in args["gateways"]]).apply(
            list
        )
        self.virtual_service = virtual_service.urn.apply(lambda _: VIRTUAL_SERVICE_NAME)
        self.register_outputs({"gateways": self.gateways, "virtualService": self.virtual_service})
