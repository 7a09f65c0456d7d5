"""Your own Services behind a gateway: the routing objects of a gateway's `routes`, as plain data.

Both routing modes route the same things: each host and path prefix (by whole segments) to a Service, on
port 80 and, with HTTPS, on 443, with port 80 answering 301 where the gateway redirects.

- istio mode: one Istio Gateway per ingress gateway for its routes (`<gateway>-routes`, in the gateway's
  namespace; its servers name each routed host as `<that namespace>/<host>`, so only the program's
  VirtualServices bind those hosts, and `<ns>/*` for each namespace that may attach its own), and one
  VirtualService per host beside it, holding every route of that host longest prefix first (one object
  per host keeps the order: istiod does not order routes merged from several VirtualServices).
- gateway-api mode: one HTTPRoute per route in the Service's own namespace (no ReferenceGrant is ever
  needed: a route never reaches into another namespace), attached to the Gateway's `http` and `https`
  listeners, which admit exactly the namespaces that hold routes (or attach their own); the port-80
  redirect is one HTTPRoute in the Gateway's namespace.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from source_ip.config.gateway_rules import route_prefix
from source_ip.config.models import RouteConfig
from source_ip.facts import GATEWAY_API_GROUP

HTTP_PORT = 80
HTTPS_PORT = 443


@dataclass(frozen=True)
class Route:
    """One route, its prefix as both modes match it."""

    hosts: tuple[str, ...]
    prefix: str
    service: str
    namespace: str
    port: int

    @classmethod
    def of(cls, route: RouteConfig) -> Route:
        return cls(
            tuple(route.hosts), route_prefix(route.path_prefix), route.service, route.namespace, route.port
        )

    @property
    def service_host(self) -> str:
        return f"{self.service}.{self.namespace}.svc.cluster.local"

    def http_route_name(self, gateway: str) -> str:
        """Stable while the route is (its hosts in any order): `<gateway>.<service>.<digest of what it
        answers>`. The dots keep two gateways' names apart (a gateway's or Service's name has none)."""
        digest = hashlib.sha256(f"{','.join(sorted(self.hosts))}|{self.prefix}".encode()).hexdigest()[:8]
        return f"{gateway}.{self.service}.{digest}"


def istio_uri_matches(prefix: str) -> list[dict[str, Any]]:
    """Istio's `prefix` is a string prefix (/v1 would match /v10): by whole segments it is the exact path
    or the path and a `/`."""
    if prefix == "/":
        return [{"uri": {"prefix": "/"}}]
    return [{"uri": {"exact": prefix}}, {"uri": {"prefix": f"{prefix}/"}}]


ISTIO_HTTPS_REDIRECT: dict[str, Any] = {"scheme": "https", "redirectCode": 301}
"""A VirtualService route's `redirect` to https (301)."""


def http_server(hosts: list[Any]) -> dict[str, Any]:
    """An Istio Gateway server: plain HTTP on port 80 for `hosts`."""
    return {"port": {"number": HTTP_PORT, "name": "http", "protocol": "HTTP"}, "hosts": hosts}


def https_server(hosts: list[Any], secret: str) -> dict[str, Any]:
    """An Istio Gateway server: HTTPS on port 443 for `hosts`, terminating with the Secret `secret` in the
    gateway's namespace (SIMPLE, credentialName)."""
    return {
        "port": {"number": HTTPS_PORT, "name": "https", "protocol": "HTTPS"},
        "hosts": hosts,
        "tls": {"mode": "SIMPLE", "credentialName": secret},
    }


def routes_gateway_name(gateway: str) -> str:
    return f"{gateway}-routes"


def istio_routes_gateway_spec(
    labels: dict[str, str],
    namespace: str,
    routes: list[Route],
    attach_namespaces: list[str],
    tls: tuple[list[str], str] | None,
) -> dict[str, Any] | None:
    """The Istio Gateway of a gateway's routes (None: no routes and no namespace attaches). `tls`: the
    certificate's hosts and its Secret."""
    if not routes and not attach_namespaces:
        return None
    routed = sorted({f"{namespace}/{host}" for route in routes for host in route.hosts})
    attached = [f"{ns}/*" for ns in sorted(set(attach_namespaces))]
    servers = [http_server(routed + attached)]
    if tls is not None:
        hosts, secret = tls
        servers.append(https_server([h for h in routed if h.split("/", 1)[1] in hosts] + attached, secret))
    return {"selector": dict(labels), "servers": servers}


def virtual_service_specs(gateway_ref: Any, routes: list[Route], redirect: bool) -> dict[str, dict[str, Any]]:
    """Host -> the VirtualService of that host: every route of the host, longest prefix first, each
    preceded, where the gateway redirects, by a 301 to https on port 80 with the same path matches.

    istiod moves every catch-all route (one that matches any path once its port is known: a bare
    `port: 80` match is one) behind the others of the virtual host (`SortVHostRoutes`, called for every
    gateway virtual host in pilot/pkg/networking/core/gateway.go). A single port-80 redirect would so
    land behind the /api route and leave /api served over plain HTTP; a redirect per route, with that
    route's path matches, stays right before it (the catch-alls keep their order among themselves)."""
    specs: dict[str, dict[str, Any]] = {}
    for host in sorted({host for route in routes for host in route.hosts}):
        of_host = sorted(
            (r for r in routes if host in r.hosts),
            key=lambda r: (-(0 if r.prefix == "/" else r.prefix.count("/")), r.prefix),
        )
        http: list[dict[str, Any]] = []
        for route in of_host:
            matches = istio_uri_matches(route.prefix)
            if redirect:
                http.append(
                    {
                        "name": f"{route.namespace}-{route.service}-https-redirect",
                        "match": [{**match, "port": HTTP_PORT} for match in matches],
                        "redirect": dict(ISTIO_HTTPS_REDIRECT),
                    }
                )
            http.append(
                {
                    "name": f"{route.namespace}-{route.service}",
                    "match": matches,
                    "route": [{"destination": {"host": route.service_host, "port": {"number": route.port}}}],
                }
            )
        specs[host] = {"hosts": [host], "gateways": [gateway_ref], "http": http}
    return specs


def virtual_service_name(gateway: str, host: str) -> str:
    """`<gateway>.<host>` (a gateway's name has no dot, so two gateways' names never meet), or, past the
    253 characters of an object name, the gateway and a digest of the host."""
    name = f"{gateway}.{host}"
    if len(name) <= 253:
        return name
    return f"{gateway}.{hashlib.sha256(host.encode()).hexdigest()[:16]}"


def parent(gateway: Any, namespace: Any, section: str) -> dict[str, Any]:
    """A parentRef to a listener (`section`) of a Gateway API Gateway."""
    return {
        "group": GATEWAY_API_GROUP,
        "kind": "Gateway",
        "name": gateway,
        "namespace": namespace,
        "sectionName": section,
    }


def http_route_spec(
    gateway: str, namespace: str, route: Route, https: bool, redirect: bool
) -> dict[str, Any]:
    """An HTTPRoute for one route: on `http` unless the gateway redirects, and on `https` with TLS."""
    parents = ([] if redirect else [parent(gateway, namespace, "http")]) + (
        [parent(gateway, namespace, "https")] if https else []
    )
    return {
        "parentRefs": parents,
        "hostnames": list(route.hosts),
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": route.prefix}}],
                "backendRefs": [{"name": route.service, "port": route.port}],
            }
        ],
    }


def https_redirect_spec(parents: list[dict[str, Any]], hostnames: list[Any]) -> dict[str, Any]:
    """An HTTPRoute answering 301 to https for `hostnames` on the `parents` (the `http` listeners). Its match
    is the implicit PathPrefix /: an Exact match (cert-manager's HTTP-01 solver route,
    pkg/issuer/acme/http/httproute.go) wins over any prefix across the routes of a listener (HTTPRouteRule
    precedence), so the challenge still reaches its solver."""
    return {
        "parentRefs": parents,
        "hostnames": hostnames,
        "rules": [
            {
                "filters": [
                    {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
                ]
            }
        ],
    }


def redirect_route_spec(gateway: str, namespace: str, hosts: list[str]) -> dict[str, Any]:
    """The routed hosts' redirect on the Gateway's `http` listener."""
    return https_redirect_spec([parent(gateway, namespace, "http")], sorted(set(hosts)))


def listener_namespaces(routes: list[Route], attach_namespaces: list[str]) -> set[str]:
    """The namespaces both listeners admit for the routes and for namespaces that attach their own. `http`
    keeps admitting the routes' namespaces while the gateway redirects: when a live gateway gains `tls`,
    its app routes stay on `http` until the redirect exists (they wait for it), and a listener that
    stopped admitting them at once would answer 404 meanwhile."""
    return {route.namespace for route in routes} | set(attach_namespaces)
