"""EchoHttpRoute alone: an HTTPRoute on every Gateway; a ReferenceGrant only where the backend is in
another namespace."""

from __future__ import annotations

import pytest

from components import EchoHttpRoute, EchoHttpRouteArgs
from source_ip.plan import GatewayRef
from tools.program import run_body

PUBLIC = GatewayRef(
    name="public", namespace="istio-ingress", labels={"gateway.networking.k8s.io/gateway-name": "public"}
)
INTERNAL = GatewayRef(
    name="internal", namespace="istio-ingress", labels={"gateway.networking.k8s.io/gateway-name": "internal"}
)


def route(namespace: str = "apps", backend_namespace: str = "apps", *gateways: GatewayRef):
    args = EchoHttpRouteArgs(
        host="whoami.example.org",
        namespace=namespace,
        gateways=list(gateways or (PUBLIC,)),
        backend_name="clusterip",
        backend_namespace=backend_namespace,
        backend_port=80,
    )
    return run_body(lambda: EchoHttpRoute("route", args))


def test_route_in_the_apps_namespace_attaches_to_every_gateway_across_namespaces() -> None:
    run = route("apps", "apps", PUBLIC, INTERNAL)
    [http_route] = [r for r in run.k8s_objects("HTTPRoute") if r["metadata"]["name"] == "echo"]
    assert http_route["metadata"]["namespace"] == "apps"
    assert http_route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": g["name"],
            "namespace": "istio-ingress",
            "sectionName": "http",
        }
        for g in (PUBLIC, INTERNAL)
    ]
    assert http_route["spec"]["hostnames"] == ["whoami.example.org"]
    assert http_route["spec"]["rules"] == [{"backendRefs": [{"name": "clusterip", "port": 80}]}]
    assert run.k8s_objects("ReferenceGrant") == []  # the backend is in the route's own namespace


def test_a_backend_in_another_namespace_gets_a_reference_grant_there() -> None:
    run = route("routes", "apps")
    [grant] = run.k8s_objects("ReferenceGrant")
    [http_route] = [r for r in run.k8s_objects("HTTPRoute") if r["metadata"]["name"] == "echo"]
    assert grant["metadata"]["namespace"] == "apps"
    assert grant["spec"] == {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "routes"}],
        "to": [{"group": "", "kind": "Service", "name": "clusterip"}],
    }
    assert http_route["spec"]["rules"][0]["backendRefs"] == [
        {"name": "clusterip", "namespace": "apps", "port": 80}
    ]


def test_no_gateway_is_refused() -> None:
    args = EchoHttpRouteArgs(
        host="h", namespace="a", gateways=[], backend_name="s", backend_namespace="a", backend_port=80
    )
    with pytest.raises(ValueError, match="EchoHttpRoute: gateways is empty"):
        run_body(lambda: EchoHttpRoute("route", args))
