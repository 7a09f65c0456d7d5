"""EchoRouting alone: the Gateway selects the given labels; the VirtualService routes the host."""

from __future__ import annotations

from components import EchoRouting, EchoRoutingArgs
from tools.program import run_body


def routing():
    args = EchoRoutingArgs(host="whoami.example.org", namespace="apps", gateway_selector={"istio": "edge"},
                           destination_host="clusterip.apps.svc.cluster.local", destination_port=80)
    return run_body(lambda: EchoRouting("routing", args))


def test_gateway_listens_on_80_http_for_the_host_on_the_selected_pods() -> None:
    [gateway] = routing().k8s_objects("Gateway")
    assert gateway["apiVersion"] == "networking.istio.io/v1"
    assert gateway["metadata"]["namespace"] == "apps"
    assert gateway["spec"]["selector"] == {"istio": "edge"}
    assert gateway["spec"]["servers"] == [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["whoami.example.org"]}]


def test_virtual_service_binds_the_gateway_and_routes_to_the_destination() -> None:
    run = routing()
    [gateway] = run.k8s_objects("Gateway")
    [vs] = run.k8s_objects("VirtualService")
    assert vs["spec"]["hosts"] == ["whoami.example.org"]
    assert vs["spec"]["gateways"] == [f"apps/{gateway['metadata']['name']}"]
    assert vs["spec"]["http"] == [
        {"route": [{"destination": {"host": "clusterip.apps.svc.cluster.local", "port": {"number": 80}}}]}]
