"""Source-IP policy checks as plain functions: (resource type, props) in, violation messages out.

The pack (`policy/__main__.py`) wraps them for `pulumi preview --policy-pack policy`; tests call
them directly on resources from the render of the shipped stacks. They read the gateway the way
the istio/gateway chart does: from a Helm release's `values`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from source_ip.facts import (
    METALLB_POOL_ANNOTATION,
    MIGRATION_POD_LABEL,
    PLATFORMS,
    PROXY_CONFIG_ANNOTATION,
    TRUSTED_HOPS_ANNOTATION,
)

GATEWAY_CHART_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
L2_ADVERTISEMENT_TYPES = ("kubernetes:metallb.io/v1beta1:L2Advertisement",
                          "kubernetes:metallb.io/v1beta1:L2AdvertisementPatch")


def proxy_protocol_signals() -> dict[str, str]:
    """Annotation key -> platform for each annotation that makes an LB send the PROXY header
    (keys also used for passthrough, such as the NLB target type, are not signals)."""
    signals: dict[str, str] = {}
    for platform in PLATFORMS.values():
        for key in set(platform.proxy_protocol_annotations) - set(platform.local_annotations):
            signals[key] = platform.id
    return signals


OFF_VALUES = {"", "false", "off", "0", "no"}


@dataclass(frozen=True)
class Gateway:
    """What the policies need from an istio/gateway chart release."""

    name: str
    values: dict[str, Any]

    @property
    def service(self) -> dict[str, Any]:
        return self.values.get("service") or {}

    @property
    def annotations(self) -> dict[str, str]:
        return self.service.get("annotations") or {}

    @property
    def topology(self) -> dict[str, Any]:
        raw = (self.values.get("podAnnotations") or {}).get(PROXY_CONFIG_ANNOTATION)
        if not raw:
            return {}
        try:
            return (json.loads(raw) or {}).get("gatewayTopology") or {}
        except ValueError:  # the annotation may also be YAML: look for the keys themselves
            return {key: {} for key in ("proxyProtocol", "numTrustedProxies") if key in raw}

    @property
    def lb_sends_proxy_protocol(self) -> list[str]:
        signals = proxy_protocol_signals()
        return sorted(k for k, v in self.annotations.items() if k in signals and str(v).lower() not in OFF_VALUES)

    @property
    def parses_proxy_protocol(self) -> bool:
        migrating = MIGRATION_POD_LABEL.items() <= (self.values.get("labels") or {}).items()
        return "proxyProtocol" in self.topology or migrating


def gateway_of(resource_type: str, props: dict[str, Any]) -> Gateway | None:
    chart = str(props.get("chart", ""))
    if resource_type in GATEWAY_CHART_TYPES and chart.rsplit("/", 1)[-1] == "gateway":
        return Gateway(str(props.get("name") or chart), props.get("values") or {})
    return None


def proxy_protocol_on_both_sides(resource_type: str, props: dict[str, Any]) -> list[str]:
    """Mandatory: the PROXY header is sent by the LB if and only if the gateway parses it."""
    gateway = gateway_of(resource_type, props)
    if gateway is None:
        return []
    sent = gateway.lb_sends_proxy_protocol
    if sent and not gateway.parses_proxy_protocol:
        return [f"gateway {gateway.name}: the LB sends the PROXY header ({', '.join(sent)}) but the gateway "
                "does not parse it (no gatewayTopology.proxyProtocol in podAnnotations proxy.istio.io/config): "
                "every connection would be read as a garbled request"]
    if "proxyProtocol" in gateway.topology and not sent:
        return [f"gateway {gateway.name}: gatewayTopology.proxyProtocol makes Envoy require the PROXY header, "
                "but no Service annotation makes the LB send it: every connection would be dropped"]
    return []


def etp_cluster_without_proxy_protocol(resource_type: str, props: dict[str, Any]) -> list[str]:
    """Advisory: a LoadBalancer gateway with ETP Cluster and no PROXY protocol loses the client address."""
    gateway = gateway_of(resource_type, props)
    if gateway is None or gateway.service.get("type", "LoadBalancer") != "LoadBalancer":
        return []
    if gateway.service.get("externalTrafficPolicy") == "Local" or gateway.lb_sends_proxy_protocol:
        return []
    return [f"gateway {gateway.name}: LoadBalancer Service with externalTrafficPolicy Cluster and no PROXY "
            "protocol: kube-proxy replaces the client address with a node address (set "
            "service.externalTrafficPolicy: Local, or enable PROXY protocol)"]


def trusted_proxies_behind_l4(resource_type: str, props: dict[str, Any]) -> list[str]:
    """Mandatory: numTrustedProxies >= 1 only when the hops are declared L7."""
    gateway = gateway_of(resource_type, props)
    if gateway is None:
        return []
    try:
        hops = int(gateway.topology.get("numTrustedProxies") or 0)
    except (TypeError, ValueError):
        hops = 1
    declared = (gateway.values.get("podAnnotations") or {}).get(TRUSTED_HOPS_ANNOTATION)
    if hops >= 1 and declared != "l7":
        return [f"gateway {gateway.name}: gatewayTopology.numTrustedProxies={hops} behind an L4 load balancer lets "
                "a client forge its address with its own X-Forwarded-For header; if that many L7 proxies/CDNs "
                f"really sit in front, declare it with the pod annotation {TRUSTED_HOPS_ANNOTATION}: l7"]
    return []


def _covers(selectors: list[dict[str, Any]], node_selector: dict[str, str]) -> bool:
    """Does every node the gateway may run on match one of the L2Advertisement's nodeSelectors?"""
    if not selectors:
        return True  # no nodeSelectors: every node may announce
    return any(not s.get("matchExpressions") and (s.get("matchLabels") or {}).items() <= node_selector.items()
               for s in selectors)


def l2_advertisements_cover_gateway(resources: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """Mandatory (stack): each L2Advertisement of the gateway's pool announces from every node the
    gateway's pods may run on; otherwise, with ETP Local, the address can be announced from a node
    with no gateway pod and stop answering."""
    resources = list(resources)
    gateways = [g for t, p in resources if (g := gateway_of(t, p))]
    advertisements = [(p.get("metadata") or {}, p.get("spec") or {}) for t, p in resources if t in L2_ADVERTISEMENT_TYPES]
    violations = []
    for gateway in gateways:
        pool = gateway.annotations.get(METALLB_POOL_ANNOTATION)
        node_selector = gateway.values.get("nodeSelector") or {}
        for metadata, spec in advertisements:
            pools = spec.get("ipAddressPools") or []
            announces_pool = (pool in pools) if pools else not spec.get("ipAddressPoolSelectors")
            if announces_pool and not _covers(spec.get("nodeSelectors") or [], node_selector):
                violations.append(
                    f"L2Advertisement {metadata.get('name')}: its nodeSelectors {spec.get('nodeSelectors')} do not "
                    f"cover the nodes of gateway {gateway.name} (nodeSelector {node_selector or 'none'}): pin both "
                    "to the same node label")
    return violations
