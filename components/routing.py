"""EchoRouting: an Istio Gateway per ingress gateway and one VirtualService to the echo app."""

from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.plan import GatewayRef

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


class EchoRouting(Component):
    """Port 80 HTTP for `host` on every ingress gateway, routed to the echo Service (the PROXY-protocol
    recipe, step 3). Give it `depends_on` the Istio CRDs; it does not wait for any gateway."""

    gateways: pulumi.Output[list[str]]
    """Names of the Istio Gateways, one per ingress gateway."""
    virtual_service: pulumi.Output[str]
    """Name of the VirtualService."""

    def __init__(self, name: str, args: EchoRoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("EchoRouting", name, opts)
        if not args["gateways"]:
            raise ValueError("EchoRouting: gateways is empty; allowed: one or more GatewayRef")
        istio_gateways = [
            k8s.apiextensions.CustomResource(
                self.child_name(f"gateway-{gateway['name']}"),
                api_version="networking.istio.io/v1",
                kind="Gateway",
                metadata={"name": istio_gateway_name(gateway), "namespace": args["namespace"]},
                spec={
                    "selector": dict(gateway["labels"]),
                    "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": [args["host"]]}],
                },
                opts=self.child(),
            )
            for gateway in args["gateways"]
        ]
        virtual_service = k8s.apiextensions.CustomResource(
            self.child_name("virtual-service"),
            api_version="networking.istio.io/v1",
            kind="VirtualService",
            metadata={"name": VIRTUAL_SERVICE_NAME, "namespace": args["namespace"]},
            spec={
                "hosts": [args["host"]],
                "gateways": [pulumi.Output.concat(args["namespace"], "/", istio_gateway_name(g)) for g in args["gateways"]],
                "http": [
                    {"route": [{"destination": {"host": args["destination_host"], "port": {"number": args["destination_port"]}}}]}
                ],
            },
            opts=self.child(depends_on=istio_gateways),
        )
        self.gateways = pulumi.Output.from_input([istio_gateway_name(g) for g in args["gateways"]]).apply(list)
        self.virtual_service = virtual_service.urn.apply(lambda _: VIRTUAL_SERVICE_NAME)
        self.register_outputs({"gateways": self.gateways, "virtualService": self.virtual_service})
