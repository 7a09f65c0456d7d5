"""EchoRouting: an Istio Gateway on the ingress gateway's pods and a VirtualService to the echo app."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component

GATEWAY_NAME = "echo-gateway"
VIRTUAL_SERVICE_NAME = "echo"


@dataclass(frozen=True)
class EchoRoutingArgs:
    host: str
    namespace: str
    gateway_selector: dict[str, str]
    """The ingress gateway pods' real labels (from its release name), or the Gateway matches nothing."""
    destination_host: str
    destination_port: int


class EchoRouting(Component):
    """Port 80 HTTP for `host` on the ingress gateway, routed to the echo Service (seed 000, step 3)."""

    def __init__(self, name: str, args: EchoRoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("EchoRouting", name, opts)
        gateway = k8s.apiextensions.CustomResource(
            GATEWAY_NAME,
            api_version="networking.istio.io/v1",
            kind="Gateway",
            metadata={"name": GATEWAY_NAME, "namespace": args.namespace},
            spec={
                "selector": dict(args.gateway_selector),
                "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": [args.host]}],
            },
            opts=self.child(),
        )
        virtual_service = k8s.apiextensions.CustomResource(
            VIRTUAL_SERVICE_NAME,
            api_version="networking.istio.io/v1",
            kind="VirtualService",
            metadata={"name": VIRTUAL_SERVICE_NAME, "namespace": args.namespace},
            spec={
                "hosts": [args.host],
                "gateways": [f"{args.namespace}/{GATEWAY_NAME}"],
                "http": [
                    {"route": [{"destination": {"host": args.destination_host, "port": {"number": args.destination_port}}}]}
                ],
            },
            opts=self.child(depends_on=[gateway]),
        )
        self.register_outputs({"gateway": gateway.metadata["name"], "virtualService": virtual_service.metadata["name"]})
