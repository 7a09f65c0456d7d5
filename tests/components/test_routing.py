"""EchoRouting alone: one Istio Gateway per ingress gateway, each selecting its pods; one VirtualService."""

from __future__ import annotations

import pytest

from components import EchoRouting, EchoRoutingArgs
from source_ip.plan import GatewayRef
from tools.program import run_body

EDGE = GatewayRef(name="istio-edge", namespace="istio-system", labels={"app": "istio-edge", "istio": "edge"})
INTERNAL = GatewayRef(name="internal", namespace="ingress", labels={"app": "internal", "istio": "internal"})


def routing(*gateways: GatewayRef):
    args = EchoRoutingArgs(
        host="whoami.example.org",
        namespace="apps",
        gateways=list(gateways),
        destination_host="clusterip.apps.svc.cluster.local",
        destination_port=80,
    )
    return run_body(lambda: EchoRouting("routing", args))


def test_gateway_listens_on_80_http_for_the_host_on_the_selected_pods() -> None:
    [gateway] = routing(EDGE).k8s_objects("Gateway")
    assert gateway["apiVersion"] == "networking.istio.io/v1"
    assert gateway["metadata"] == {"name": "echo-istio-edge", "namespace": "apps"}
    assert gateway["spec"]["selector"] == EDGE["labels"]
    assert gateway["spec"]["servers"] == [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["whoami.example.org"]}
    ]


def test_virtual_service_binds_every_gateway_and_routes_to_the_destination() -> None:
    run = routing(EDGE, INTERNAL)
    gateways = {g["metadata"]["name"]: g["spec"]["selector"] for g in run.k8s_objects("Gateway")}
    assert gateways == {"echo-istio-edge": EDGE["labels"], "echo-internal": INTERNAL["labels"]}
    [vs] = run.k8s_objects("VirtualService")
    assert vs["spec"]["hosts"] == ["whoami.example.org"]
    assert vs["spec"]["gateways"] == ["apps/echo-istio-edge", "apps/echo-internal"]
    assert vs["spec"]["http"] == [
        {"route": [{"destination": {"host": "clusterip.apps.svc.cluster.local", "port": {"number": 80}}}]}
    ]


def test_no_gateway_is_refused() -> None:
    with pytest.raises(ValueError, match="EchoRouting: gateways is empty"):
        routing()
