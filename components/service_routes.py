"""The routing objects of a gateway's `routes` (your own Services), children of the gateway component.

The shapes are decided in source_ip/routes.py; here they become objects. Only the port-80 redirect
waits for the certificate (`redirect_after`): the Services are routed from the first `pulumi up`.
"""

from collections.abc import Sequence

import pulumi

from components.base import Component
from source_ip.facts import GATEWAY_API_GROUP, HTTP_ROUTE_MAX_HOSTNAMES
from source_ip.gateway import GatewayDecisions
from source_ip.routes import (
    http_route_spec,
    istio_routes_gateway_spec,
    redirect_route_spec,
    routes_gateway_name,
    virtual_service_name,
    virtual_service_specs,
)

ISTIO_API = "networking.istio.io/v1"


def istio_routes(
    component: Component, decisions: GatewayDecisions, redirect_after: Sequence[pulumi.Resource]
) -> None:
    """istio mode: the Istio Gateway of the routes and a VirtualService per routed host."""
    namespace = decisions.ref["namespace"]
    name = decisions.ref["name"]
    tls = decisions.tls
    spec = istio_routes_gateway_spec(
        decisions.pod_labels,
        str(namespace),
        list(decisions.routes),
        list(decisions.attach_namespaces),
        (tls.hosts, tls.secret_name) if tls is not None else None,
    )
    if spec is None:
        return
    gateway = component.custom_resource(
        "routes-gateway", ISTIO_API, "Gateway", routes_gateway_name(name), namespace, spec
    )
    bound = pulumi.Output.concat(namespace, "/", routes_gateway_name(name))
    redirect = decisions.redirects_routes
    for host, vs_spec in virtual_service_specs(bound, list(decisions.routes), redirect).items():
        component.custom_resource(
            f"route-{host}",
            ISTIO_API,
            "VirtualService",
            virtual_service_name(name, host),
            namespace,
            vs_spec,
            depends_on=[gateway, *(redirect_after if redirect else [])],
        )


def gateway_api_routes(
    component: Component, decisions: GatewayDecisions, redirect_after: Sequence[pulumi.Resource]
) -> None:
    """gateway-api mode: an HTTPRoute per route in its Service's namespace, and the port-80 redirect of
    the routed hosts in the Gateway's namespace. Where the gateway redirects, the redirect waits for the
    certificate and each app route for the redirect: a live gateway that gains `tls` keeps serving its
    hosts on port 80 until the redirect exists (the older app route wins a tie on `/`, then leaves `http`)."""
    namespace = str(decisions.ref["namespace"])
    name = decisions.ref["name"]
    https = decisions.tls is not None
    redirect = decisions.redirects_routes
    redirects: list[pulumi.Resource] = []
    if decisions.routes and redirect:
        hosts = sorted({host for route in decisions.routes for host in route.hosts})
        for index in range(0, len(hosts), HTTP_ROUTE_MAX_HOSTNAMES):
            suffix = "" if index == 0 else f"-{index // HTTP_ROUTE_MAX_HOSTNAMES + 1}"
            redirects.append(
                component.custom_resource(
                    f"routes-https-redirect{suffix}",
                    f"{GATEWAY_API_GROUP}/v1",
                    "HTTPRoute",
                    f"{name}-routes-https-redirect{suffix}",
                    namespace,
                    redirect_route_spec(name, namespace, hosts[index : index + HTTP_ROUTE_MAX_HOSTNAMES]),
                    depends_on=list(redirect_after),
                )
            )
    for route in decisions.routes:
        component.custom_resource(
            f"route-{route.http_route_name(name)}",
            f"{GATEWAY_API_GROUP}/v1",
            "HTTPRoute",
            route.http_route_name(name),
            route.namespace,
            http_route_spec(name, namespace, route, https, redirect),
            depends_on=redirects,
        )
