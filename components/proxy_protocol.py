"""ProxyProtocolGateway: the LB sends the PROXY header and the gateway parses it — always together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.facts import MIGRATION_POD_LABEL, PROXY_PROTOCOL_FILTER_TYPE, PROXY_PROTOCOL_LISTENER_FILTER
from source_ip.plan import GatewayRef


@dataclass(frozen=True)
class ProxyProtocolGatewayArgs:
    gateway: GatewayRef
    listener: Literal["strict", "accept-both"]
    """`strict`: gatewayTopology.proxyProtocol in the pod annotation (chart values).
    `accept-both`: a listener filter that takes connections with or without the header."""
    service_annotations: dict[str, str]
    """The Service annotations in the chart values (what makes the LB send the header)."""
    gateway_topology: dict[str, Any]


class ProxyProtocolGateway(Component):
    """Owns the PROXY-protocol side of the gateway (seed 000, step 5).

    The LB annotation and `gatewayTopology.proxyProtocol` are both gateway chart values, decided
    together by `SourceIpPlan`; this component records them as outputs and, while migrating,
    adds the EnvoyFilter that lets the gateway accept connections with and without the header,
    so the LB can be switched without an outage. It needs Istio's CRDs: create it after
    IstioInstall.
    """

    def __init__(self, name: str, args: ProxyProtocolGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ProxyProtocolGateway", name, opts)
        if args.listener == "accept-both":
            filter_name = f"{args.gateway.name}-proxy-protocol-accept-both"
            k8s.apiextensions.CustomResource(
                filter_name,
                api_version="networking.istio.io/v1alpha3",
                kind="EnvoyFilter",
                metadata={"name": filter_name, "namespace": args.gateway.namespace},
                spec=accept_both_filter_spec(args.gateway.labels),
                opts=self.child(),
            )
        self.register_outputs(
            {"listener": args.listener, "serviceAnnotations": args.service_annotations, "gatewayTopology": args.gateway_topology}
        )


def accept_both_filter_spec(gateway_labels: dict[str, str]) -> dict[str, Any]:
    """EnvoyFilter spec: a permissive proxy_protocol listener filter on the migrating pods only.

    It selects the migration pod label, so pods rolled out by the final strict step (which carry
    gatewayTopology.proxyProtocol instead) never get a second proxy_protocol filter.
    """
    return {
        "workloadSelector": {"labels": {**gateway_labels, **MIGRATION_POD_LABEL}},
        "configPatches": [
            {
                "applyTo": "LISTENER_FILTER",
                "match": {"context": "GATEWAY"},
                "patch": {
                    "operation": "INSERT_FIRST",
                    "value": {
                        "name": PROXY_PROTOCOL_LISTENER_FILTER,
                        "typed_config": {
                            "@type": PROXY_PROTOCOL_FILTER_TYPE,
                            "allow_requests_without_proxy_protocol": True,
                        },
                    },
                },
            }
        ],
    }
