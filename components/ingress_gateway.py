"""IngressGateway: one istio/gateway release, shaped from the gateway's decisions (source_ip/gateway.py)."""

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.gateway import GatewayComponent
from components.service_routes import istio_routes
from source_ip.facts import ISTIO_GATEWAY, STATUS_PORT_PROXY_PROTOCOL_ENV
from source_ip.gateway import (
    Deployer,
    GatewayDecisions,
    GatewaySettings,
    IngressGatewayArgs,
    MetalLBPlacement,
    decide,
)

__all__ = [
    "GatewaySettings",
    "IngressGateway",
    "IngressGatewayArgs",
    "MetalLBPlacement",
    "chart_values",
    "helm_values",
]


def chart_values(settings: GatewaySettings) -> dict[str, Any]:
    """Values for the istio/gateway chart (keys checked against its values.schema.json)."""
    return helm_values(decide(settings, Deployer.CHART))


def helm_values(gateway: GatewayDecisions) -> dict[str, Any]:
    """The decisions in the chart's shape. Chart-only shaping: scaling is `autoscaling.enabled` (the
    chart defaults it to true and then ignores replicaCount) with `replicaCount`, and the PDB exists
    only when it keeps a pod (`minAvailable: 1` from two replicas): the chart deletes what it no longer
    renders, unlike istiod (see gateway_api_gateway.scaling_parameters)."""
    service: dict[str, Any] = {"type": "LoadBalancer"}
    if gateway.service_annotations:
        service["annotations"] = gateway.service_annotations
    if gateway.external_traffic_policy:
        service["externalTrafficPolicy"] = gateway.external_traffic_policy
    if gateway.ip_families:
        # the chart's service.ipFamilyPolicy and service.ipFamilies (templates/service.yaml, 1.30.3)
        service["ipFamilyPolicy"] = gateway.ip_family_policy
        service["ipFamilies"] = list(gateway.ip_families)
    scaling = gateway.scaling
    values: dict[str, Any] = {
        "service": service,
        "autoscaling": (
            {"enabled": True, "minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas}
            if scaling.autoscaled
            else {"enabled": False}
        ),
        "replicaCount": scaling.min_replicas,
        "strategy": gateway.rollout_strategy,
    }
    if scaling.keeps_one_in_drain:
        values["podDisruptionBudget"] = {"minAvailable": 1}
    if gateway.pod_annotations:
        values["podAnnotations"] = dict(gateway.pod_annotations)
    if gateway.status_port_proxy_protocol:
        values["env"] = {STATUS_PORT_PROXY_PROTOCOL_ENV: "true"}
    if gateway.migration_labels:
        values["labels"] = dict(gateway.migration_labels)
    if gateway.node_selector is not None:
        values["nodeSelector"] = dict(gateway.node_selector)
    if gateway.topology_spread is not None:
        values["topologySpreadConstraints"] = gateway.topology_spread
    return values


class IngressGateway(GatewayComponent):
    """One ingress gateway: the istio/gateway release, the read of its Service and its address.

    It owns the client-IP path of this gateway: the LB annotations and `gatewayTopology` are decided
    together from `mode` and `listener` (never one side alone), ETP `Local` for passthrough, ≥ 2
    replicas with a PDB and a surge-first rollout, the MetalLB `nodeSelector` and spread, and — while
    migrating to PROXY protocol — the migration pod label and the EnvoyFilter that accepts both.
    Give it `depends_on` the control plane (istiod injects the pod) and, on MetalLB, the pinning.
    Nothing needs to depend on it: the release waits for the LB address, which can take minutes.
    """

    address: pulumi.Output[str | None]
    """External IP or hostname of the gateway's LoadBalancer Service, once assigned."""
    labels: pulumi.Output[dict[str, str]]
    """The labels on the gateway's pods: what an Istio Gateway or a workload selector must select."""
    allowlist_field: pulumi.Output[str]
    """`ipBlocks` or `remoteIpBlocks`: which AuthorizationPolicy field matches the client here."""
    client_address_source: pulumi.Output[str]
    """Where the gateway learns the client address: packet, proxy-protocol or x-forwarded-for."""

    def __init__(
        self,
        name: str,
        args: IngressGatewayArgs,
        opts: pulumi.ResourceOptions | None = None,
        redirect_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """`redirect_after`: what the routes' port-80 redirect waits for (the certificate: a Certificate
        Ready, or the read of the user's Secret). A Python argument, not an input of the package."""
        checked = GatewaySettings.of(args)  # refused before anything is registered
        super().__init__("IngressGateway", name, opts)
        self._start(decide(checked, Deployer.CHART))
        settings = self.settings
        self.release = self.chart_release(
            "release",
            settings.name,
            ISTIO_GATEWAY,
            settings.istio_version,
            settings.namespace,
            helm_values(self.decisions),
        )
        istio_routes(self, self.decisions, redirect_after)
        self._finish(self._address)

    def _address(self) -> pulumi.Output[str | None]:
        """Read the Service the chart created. Its id comes from the release's status, which is
        unknown in a first preview, so the read waits for the release instead of failing."""
        service_id = self.release.status.apply(lambda s: f"{s.namespace}/{s.name}")
        service = k8s.core.v1.Service.get(
            self.child_name("service"), service_id, opts=pulumi.ResourceOptions(parent=self)
        )
        return service.status.apply(_ingress_address)


def _ingress_address(status: Any) -> str | None:
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    return (ingress[0].ip or ingress[0].hostname) if ingress else None
