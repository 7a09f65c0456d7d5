"""From a validated config to what the gateway must look like: pure data, no resources.

This is the one place where the source-IP invariants are decided, so tests (and the policy
pack) can check them without a cluster:
- the LB sends the PROXY header  <=>  the gateway parses it (strict `gatewayTopology.proxyProtocol`,
  or the permissive listener filter while migrating) — never one without the other;
- passthrough (`local`)  =>  `externalTrafficPolicy: Local`;
- the allowlist matches `ipBlocks` only when the packet source *is* the client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from source_ip.config import StackConfig
from source_ip.facts import (
    METALLB_POOL_ANNOTATION,
    MIGRATION_POD_LABEL,
    PROXY_CONFIG_ANNOTATION,
    STATUS_PORT_PROXY_PROTOCOL_ENV,
    TRUSTED_HOPS_ANNOTATION,
    Platform,
    SourceIpMode,
    gateway_selector_labels,
)

ClientAddressSource = Literal["packet", "proxy-protocol", "x-forwarded-for"]


@dataclass(frozen=True)
class GatewayRef:
    """Which ingress gateway the Istio objects attach to: its release name, namespace and pod labels."""

    name: str
    namespace: str
    labels: dict[str, str]


@dataclass(frozen=True)
class SourceIpPlan:
    """How this stack keeps the client address, derived from the config alone."""

    config: StackConfig

    @property
    def platform(self) -> Platform:
        return self.config.platform_entry

    @property
    def mode(self) -> SourceIpMode:
        return self.config.mode

    @property
    def lb_sends_proxy_protocol(self) -> bool:
        return self.mode == "proxy-protocol"

    @property
    def proxy_protocol_listener(self) -> Literal["strict", "accept-both", "off"]:
        """How the gateway's listeners treat the PROXY header."""
        if self.config.gateway.proxy_protocol_migration:
            return "accept-both"
        return "strict" if self.lb_sends_proxy_protocol else "off"

    @property
    def client_address_source(self) -> ClientAddressSource:
        """Where the gateway learns the client address from."""
        if self.config.gateway.num_trusted_proxies >= 1:
            return "x-forwarded-for"
        return "packet" if self.proxy_protocol_listener == "off" else "proxy-protocol"

    @property
    def allowlist_field(self) -> Literal["ipBlocks", "remoteIpBlocks"]:
        """`ipBlocks` matches the packet source; `remoteIpBlocks` the address recovered from the
        PROXY header or X-Forwarded-For. Behind PROXY protocol `ipBlocks` would match the LB."""
        return "ipBlocks" if self.client_address_source == "packet" else "remoteIpBlocks"

    @property
    def gateway_labels(self) -> dict[str, str]:
        return gateway_selector_labels(self.config.gateway.name)

    @property
    def gateway(self) -> GatewayRef:
        return GatewayRef(self.config.gateway.name, self.config.gateway.namespace, self.gateway_labels)

    @property
    def pins_to_metallb_nodes(self) -> bool:
        return self.config.platform == "metallb"

    def gateway_topology(self) -> dict[str, Any]:
        topology: dict[str, Any] = {}
        if self.config.gateway.num_trusted_proxies:
            topology["numTrustedProxies"] = self.config.gateway.num_trusted_proxies
        if self.proxy_protocol_listener == "strict":
            topology["proxyProtocol"] = {}
        return topology

    def service_annotations(self) -> dict[str, str]:
        """Platform annotations for the mode, then hairpin, then the user's (which win)."""
        gateway = self.config.gateway
        annotations = self.platform.annotations_for(self.mode)
        if self.pins_to_metallb_nodes:
            annotations[METALLB_POOL_ANNOTATION] = self.config.metallb.pool
        hairpin = self.platform.hairpin_annotation
        if hairpin and self.lb_sends_proxy_protocol and (gateway.hairpin_hostname or self.platform.hairpin_value == "true"):
            annotations[hairpin] = gateway.hairpin_hostname or "true"
        annotations.update(gateway.service_annotations)
        return dict(sorted(annotations.items()))

    def gateway_values(self) -> dict[str, Any]:
        """Values for the istio/gateway chart (keys checked against its values.schema.json)."""
        gateway = self.config.gateway
        service: dict[str, Any] = {"type": "LoadBalancer"}
        annotations = self.service_annotations()
        if annotations:
            service["annotations"] = annotations
        if self.mode == "local":
            service["externalTrafficPolicy"] = "Local"

        values: dict[str, Any] = {
            "service": service,
            # autoscaling defaults to true in the chart and then replicaCount is ignored.
            "autoscaling": (
                {"enabled": True, "minReplicas": gateway.replicas, "maxReplicas": gateway.max_replicas}
                if gateway.max_replicas
                else {"enabled": False}
            ),
            "replicaCount": gateway.replicas,
            # A new pod is ready before an old one goes: with ETP Local the node never loses
            # its last local endpoint during a rollout (istio#54905, kubernetes#85643).
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        }
        if gateway.replicas >= 2:
            values["podDisruptionBudget"] = {"minAvailable": 1}
        topology = self.gateway_topology()
        if topology:
            values["podAnnotations"] = {
                PROXY_CONFIG_ANNOTATION: json.dumps({"gatewayTopology": topology}, sort_keys=True, separators=(",", ":"))
            }
            if gateway.num_trusted_proxies:
                values["podAnnotations"][TRUSTED_HOPS_ANNOTATION] = gateway.trusted_hops
        if self.lb_sends_proxy_protocol and self.platform.status_port_proxy_protocol:
            values["env"] = {STATUS_PORT_PROXY_PROTOCOL_ENV: "true"}
        if self.proxy_protocol_listener == "accept-both":
            values["labels"] = dict(MIGRATION_POD_LABEL)
        if self.pins_to_metallb_nodes:
            values["nodeSelector"] = dict(self.config.metallb.node_label)
            values["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": self.gateway_labels},
                }
            ]
        return values
