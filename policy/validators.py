"""Source-IP policy checks as plain functions: (resource type, props) in, violation messages out.

The pack (`policy/__main__.py`) wraps them for `pulumi preview --policy-pack policy`; tests call
them directly on resources from the render of the shipped stacks. They read the gateway the way
the istio/gateway chart does: from a Helm release's `values`, and the LB side from the same PROXY
switches the program checks (`source_ip.facts`). Every check is total: any property shape (lists,
strings, numbers, None, malformed JSON) gives a verdict, never an exception.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from source_ip.facts import (
    GATEWAY_API_GROUP,
    GATEWAY_NAME_POD_LABEL,
    LB_SENDS_PROXY_PROTOCOL_ANNOTATION,
    METALLB_POOL_ANNOTATION,
    MIGRATION_POD_LABEL,
    PROXY_CONFIG_ANNOTATION,
    TRUSTED_HOPS_ANNOTATION,
    gateway_selector_labels,
    proxy_switch_for,
)
from source_ip.front_proxies import FRONT_PROXY_ANNOTATION, MIN_PREFIX

GATEWAY_CHART_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")
L2_ADVERTISEMENT_TYPES = (
    "kubernetes:metallb.io/v1beta1:L2Advertisement",
    "kubernetes:metallb.io/v1beta1:L2AdvertisementPatch",
)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else []


def _str_map(value: Any) -> dict[str, str]:
    """A label or annotation map: string keys and values only."""
    return {k: v for k, v in _map(value).items() if isinstance(k, str) and isinstance(v, str)}


@dataclass(frozen=True)
class Gateway:
    """What the policies need from an istio/gateway chart release."""

    name: str
    values: Mapping[str, Any]
    unreadable: str | None = None
    """Why the release's values cannot be read (not an object): every check then reports it, as for a
    value unknown in preview, instead of passing a gateway it could not see."""
    namespace: Any = None
    """The release's (or the Gateway's) namespace, as the resource gives it."""

    @property
    def service(self) -> Mapping[str, Any]:
        return _map(self.values.get("service"))

    @property
    def annotations(self) -> dict[str, str]:
        return _str_map(self.service.get("annotations"))

    @property
    def topology(self) -> Mapping[str, Any]:
        raw = _map(self.values.get("podAnnotations")).get(PROXY_CONFIG_ANNOTATION)
        if not isinstance(raw, str) or not raw:
            return {}
        try:
            parsed = json.loads(raw)
        except RecursionError:  # nested too deeply to read: _proxy_config_problem makes it unreadable
            return {}
        except ValueError:  # the annotation may also be YAML: look for the keys themselves
            return {key: {} for key in ("proxyProtocol", "numTrustedProxies") if key in raw}
        return _map(_map(parsed).get("gatewayTopology"))

    @property
    def lb_sends_proxy_protocol(self) -> list[str]:
        """The annotations that make the LB send the PROXY header (on every port, or with a per-port
        annotation on one), read as the program reads them."""
        sends = [
            key
            for key, value in self.annotations.items()
            if (s := proxy_switch_for(key)) and s.reads(value) == "on"
        ]
        if self.annotations.get(LB_SENDS_PROXY_PROTOCOL_ANNOTATION) == "true":
            sends.append(LB_SENDS_PROXY_PROTOCOL_ANNOTATION)
        return sorted(sends)

    @property
    def ports_without_proxy_protocol(self) -> list[str]:
        """Per-port annotations that turn the PROXY header off for one port."""
        return sorted(
            key
            for key, value in self.annotations.items()
            if (s := proxy_switch_for(key)) and s.per_port and s.reads(value) == "off"
        )

    @property
    def parses_proxy_protocol(self) -> bool:
        migrating = MIGRATION_POD_LABEL.items() <= _str_map(self.values.get("labels")).items()
        return "proxyProtocol" in self.topology or migrating


def _proxy_config_problem(values: Mapping[str, Any]) -> str | None:
    """Why the pods' proxy.istio.io/config cannot be read (JSON nested deeper than the parser recurses),
    or None. Checked once per gateway, so that every check reports it instead of crashing the pack."""
    raw = _map(values.get("podAnnotations")).get(PROXY_CONFIG_ANNOTATION)
    if not isinstance(raw, str):
        return None
    try:
        json.loads(raw)
    except RecursionError:
        return (
            f"its pods' {PROXY_CONFIG_ANNOTATION} annotation is JSON nested too deeply to read "
            f"({len(raw):,} characters), so its gatewayTopology cannot be checked; write it as the flat "
            'JSON object istiod reads, e.g. {"gatewayTopology": {"numTrustedProxies": 1}}'
        )
    except ValueError:
        return None
    return None


def _too_deep(text: Any) -> bool:
    """A parameters patch (YAML text) nested deeper than the YAML parser recurses."""
    if not isinstance(text, str):
        return False
    try:
        yaml.safe_load(text)
    except RecursionError:
        return True
    except yaml.YAMLError:
        return False
    return False


def gateway_of(resource_type: str, props: Mapping[str, Any]) -> Gateway | None:
    chart = props.get("chart")
    if (
        resource_type in GATEWAY_CHART_TYPES
        and isinstance(chart, str)
        and chart.rsplit("/", 1)[-1] == "gateway"
    ):
        name = props.get("name")
        values = props.get("values")
        unreadable = None
        if values is not None and not isinstance(values, Mapping):
            unreadable = (
                f"its values are not an object (got {type(values).__name__}), so they cannot be checked; "
                "give the release its values as a plain object"
            )
        name = name if isinstance(name, str) and name else chart
        unreadable = unreadable or _proxy_config_problem(_map(values))
        return Gateway(name, _map(values), unreadable, props.get("namespace"))
    return None


def _unreadable(gateway: Gateway) -> list[str]:
    return [f"gateway {gateway.name}: {gateway.unreadable}"]


def proxy_protocol_on_both_sides(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Mandatory: the PROXY header is sent by the LB if and only if the gateway parses it."""
    gateway = gateway_of(resource_type, props)
    if gateway is None:
        return []
    if gateway.unreadable:
        return _unreadable(gateway)
    sent = gateway.lb_sends_proxy_protocol
    if sent and not gateway.parses_proxy_protocol:
        return [
            f"gateway {gateway.name}: the LB sends the PROXY header ({', '.join(sent)}) but the gateway "
            "does not parse it (no gatewayTopology.proxyProtocol in podAnnotations proxy.istio.io/config): "
            "every connection would be read as a garbled request"
        ]
    if "proxyProtocol" in gateway.topology and not sent:
        return [
            f"gateway {gateway.name}: gatewayTopology.proxyProtocol makes Envoy require the PROXY header, "
            "but no Service annotation makes the LB send it: every connection would be dropped"
        ]
    if "proxyProtocol" in gateway.topology and (off := gateway.ports_without_proxy_protocol):
        return [
            f"gateway {gateway.name}: gatewayTopology.proxyProtocol makes Envoy require the PROXY header, "
            f"but {', '.join(off)} turns it off for that port: every connection on it would be dropped"
        ]
    return []


def etp_cluster_without_proxy_protocol(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Advisory: a LoadBalancer gateway with ETP Cluster and no PROXY protocol loses the client address."""
    gateway = gateway_of(resource_type, props)
    if gateway is not None and gateway.unreadable:
        return _unreadable(gateway)
    if gateway is None or gateway.service.get("type", "LoadBalancer") != "LoadBalancer":
        return []
    if gateway.service.get("externalTrafficPolicy") == "Local" or gateway.lb_sends_proxy_protocol:
        return []
    return [
        f"gateway {gateway.name}: LoadBalancer Service with externalTrafficPolicy Cluster and no PROXY "
        "protocol: kube-proxy replaces the client address with a node address (set "
        "service.externalTrafficPolicy: Local, or enable PROXY protocol)"
    ]


def _hops(value: Any) -> int:
    """numTrustedProxies as Envoy would count it; anything unreadable counts as trusting a hop."""
    if value is None or value is False or value == "":
        return 0
    try:
        return max(int(value), 0) if not isinstance(value, bool) else 1
    except (TypeError, ValueError, OverflowError):
        return 1


def trusted_proxies_behind_l4(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Mandatory: numTrustedProxies >= 1 only when the hops are declared L7."""
    gateway = gateway_of(resource_type, props)
    if gateway is None:
        return []
    if gateway.unreadable:
        return _unreadable(gateway)
    hops = _hops(gateway.topology.get("numTrustedProxies"))
    declared = _map(gateway.values.get("podAnnotations")).get(TRUSTED_HOPS_ANNOTATION)
    if hops >= 1 and declared != "l7":
        return [
            f"gateway {gateway.name}: gatewayTopology.numTrustedProxies={hops} behind an L4 load balancer "
            "lets a client forge its address with its own X-Forwarded-For header; if that many L7 "
            "proxies/CDNs really sit in front, declare it with the pod annotation "
            f"{TRUSTED_HOPS_ANNOTATION}: l7"
        ]
    return []


def _covers(selectors: Sequence[Any], node_selector: dict[str, str]) -> bool:
    """Does every node the gateway may run on match one of the L2Advertisement's nodeSelectors?"""
    if not selectors:
        return True  # no nodeSelectors: every node may announce
    for selector in map(_map, selectors):
        labels = _map(selector.get("matchLabels"))
        if not _list(selector.get("matchExpressions")) and all(
            isinstance(value, str) and node_selector.get(key) == value for key, value in labels.items()
        ):
            return True
    return False


def l2_advertisements_cover_gateway(resources: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Mandatory (stack): each L2Advertisement of the gateway's pool announces from every node the
    gateway's pods may run on; otherwise, with ETP Local, the address can be announced from a node
    with no gateway pod and stop answering."""
    resources = list(resources)
    gateways = [g for t, p in resources if (g := gateway_of(t, p))] + gateway_api_gateways(resources)
    advertisements = [
        (_map(p.get("metadata")), _map(p.get("spec"))) for t, p in resources if t in L2_ADVERTISEMENT_TYPES
    ]
    violations = []
    for gateway in gateways:
        pool = gateway.annotations.get(METALLB_POOL_ANNOTATION)
        node_selector = _str_map(gateway.values.get("nodeSelector"))
        for metadata, spec in advertisements:
            pools = _list(spec.get("ipAddressPools"))
            announces_pool = (pool in pools) if pools else not _list(spec.get("ipAddressPoolSelectors"))
            if announces_pool and not _covers(_list(spec.get("nodeSelectors")), node_selector):
                violations.append(
                    f"L2Advertisement {metadata.get('name')}: its nodeSelectors {spec.get('nodeSelectors')} "
                    f"do not cover the nodes of gateway {gateway.name} "
                    f"(nodeSelector {node_selector or 'none'}): pin both to the same node label"
                )
    return violations


GATEWAY_API_GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"


def parameters_patch(text: Any) -> Mapping[str, Any]:
    """One patch of a gateway's parameters ConfigMap (YAML text), or {} when it is not a mapping."""
    if not isinstance(text, str):
        return {}
    try:
        return _map(yaml.safe_load(text))
    except (
        yaml.YAMLError,
        RecursionError,
    ):  # RecursionError: nested too deeply (see gateway_from_parameters)
        return {}


def gateway_from_parameters(name: str, data: Mapping[str, Any], namespace: Any = None) -> Gateway:
    """The client-IP settings of a Gateway API gateway, read from its parameters ConfigMap, in the shape
    the chart-based checks read (service annotations and ETP; pod annotations and labels)."""
    service = parameters_patch(data.get("service"))
    template = _map(_map(parameters_patch(data.get("deployment")).get("spec")).get("template"))
    values = {
        "service": {
            "annotations": _map(service.get("metadata")).get("annotations"),
            **(
                {"externalTrafficPolicy": etp}
                if (etp := _map(service.get("spec")).get("externalTrafficPolicy"))
                else {}
            ),
        },
        "podAnnotations": _map(template.get("metadata")).get("annotations"),
        "labels": _map(template.get("metadata")).get("labels"),
        "nodeSelector": _map(template.get("spec")).get("nodeSelector"),
    }
    deep = [key for key in ("service", "deployment") if _too_deep(data.get(key))]
    unreadable = (
        f"its parameters ConfigMap's {', '.join(deep)} patch is nested too deeply to read, so it cannot be "
        "checked; write it as the plain patch istiod applies"
        if deep
        else _proxy_config_problem(values)
    )
    return Gateway(name, values, unreadable, namespace=namespace)


def _object_key(metadata: Any) -> tuple[str | None, str | None]:
    """(namespace, name) of an object, only from string values."""
    namespace, name = _map(metadata).get("namespace"), _map(metadata).get("name")
    return (namespace if isinstance(namespace, str) else None, name if isinstance(name, str) else None)


def gateway_api_gateways(resources: list[tuple[str, Mapping[str, Any]]]) -> list[Gateway]:
    """Each Gateway API Gateway of class istio whose parameters ConfigMap is in the stack."""
    configmaps = {_object_key(p.get("metadata")): _map(p.get("data")) for t, p in resources if t == CONFIGMAP}
    found = []
    for resource_type, props in resources:
        if resource_type != GATEWAY_API_GATEWAY or _map(props.get("spec")).get("gatewayClassName") != "istio":
            continue
        metadata = _map(props.get("metadata"))
        ref = _map(_map(_map(props.get("spec")).get("infrastructure")).get("parametersRef"))
        data = configmaps.get(_object_key({"namespace": metadata.get("namespace"), "name": ref.get("name")}))
        data = data if ref.get("kind") == "ConfigMap" else None
        if data is not None:  # a ConfigMap outside this stack cannot be read here
            found.append(gateway_from_parameters(str(metadata.get("name")), data, metadata.get("namespace")))
    return found


def gateway_api_parameters_pair_proxy_protocol(
    resources: Iterable[tuple[str, Mapping[str, Any]]],
) -> list[str]:
    """Mandatory (stack): for each Gateway API Gateway of class istio, the ConfigMap its
    spec.infrastructure.parametersRef names makes the LB send the PROXY header if and only if the pods
    parse it, and trusts X-Forwarded-For hops only when declared L7 (the same checks as a chart release)."""
    violations: list[str] = []
    for gateway in gateway_api_gateways(list(resources)):
        if gateway.unreadable:
            violations += _unreadable(gateway)
            continue
        props = {"chart": "gateway", "name": gateway.name, "values": gateway.values}
        violations += proxy_protocol_on_both_sides(GATEWAY_CHART_TYPES[0], props)
        violations += trusted_proxies_behind_l4(GATEWAY_CHART_TYPES[0], props)
    return violations


AUTHORIZATION_POLICY = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
AUTHORIZATION_POLICY_TYPES = (
    AUTHORIZATION_POLICY,
    "kubernetes:security.istio.io/v1beta1:AuthorizationPolicy",
)


@dataclass(frozen=True)
class FrontedGateway:
    """A gateway behind a front proxy (its pods carry FRONT_PROXY_ANNOTATION), and how policies find it."""

    name: str
    namespace: Any
    pod_labels: dict[str, str]
    gateway_api: bool
    profile: str


def _fronted_gateways(resources: list[tuple[str, Mapping[str, Any]]]) -> list[FrontedGateway]:
    chart = [g for t, p in resources if (g := gateway_of(t, p)) is not None and not g.unreadable]
    found = []
    for gateway, gateway_api in [
        *((g, False) for g in chart),
        *((g, True) for g in gateway_api_gateways(resources)),
    ]:
        profile = _map(gateway.values.get("podAnnotations")).get(FRONT_PROXY_ANNOTATION)
        if profile is not None:
            labels = (
                {GATEWAY_NAME_POD_LABEL: gateway.name}
                if gateway_api
                else gateway_selector_labels(gateway.name)
            )
            found.append(FrontedGateway(gateway.name, gateway.namespace, labels, gateway_api, str(profile)))
    return found


def _attaches(metadata: Mapping[str, Any], spec: Mapping[str, Any], gateway: FrontedGateway) -> bool:
    """Does an AuthorizationPolicy apply to the gateway's pods: same namespace, and a selector whose
    labels the pods carry, a targetRef to its Gateway, or neither (every workload of the namespace)."""
    if metadata.get("namespace") != gateway.namespace:
        return False
    selector = _map(spec.get("selector")).get("matchLabels")
    refs = [_map(ref) for ref in [*_list(spec.get("targetRefs")), spec.get("targetRef")] if ref]
    if selector is None and not refs:
        return True
    if isinstance(selector, Mapping) and selector:
        if all(gateway.pod_labels.get(key) == value for key, value in selector.items()):
            return True
    # A targetRef reaches only a Gateway API Gateway (a chart-deployed gateway has none to name), and
    # only through the Gateway API group.
    return gateway.gateway_api and any(
        ref.get("kind") == "Gateway"
        and ref.get("group") == GATEWAY_API_GROUP
        and ref.get("name") == gateway.name
        for ref in refs
    )


def _is_guard(spec: Mapping[str, Any]) -> bool:
    """A DENY whose one rule denies every request from a direct peer outside a non-empty list, with no
    other condition (a `to` or `when` would leave the other requests unguarded)."""
    rules = _list(spec.get("rules"))
    if spec.get("action") != "DENY" or len(rules) != 1:
        return False
    rule = _map(rules[0])
    sources = _list(rule.get("from"))
    if set(rule) != {"from"} or len(sources) != 1:
        return False
    source = _map(_map(sources[0]).get("source"))
    blocks = _list(source.get("notIpBlocks"))
    return set(source) == {"notIpBlocks"} and bool(blocks) and all(_proxy_range(b) for b in blocks)


def _proxy_range(block: Any) -> bool:
    """A range a proxy egresses from: a CIDR no broader than MIN_PREFIX (0.0.0.0/0 in notIpBlocks would
    let every peer through the guard)."""
    if not isinstance(block, str):
        return False
    try:
        network = ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False
    return network.prefixlen >= MIN_PREFIX[4 if network.version == 4 else 6]


def front_proxy_guarded(resources: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Mandatory (stack): a gateway behind a front proxy (numTrustedProxies from its one hop) has a DENY
    AuthorizationPolicy on every direct peer outside the proxy's ranges, and no ALLOW policy matches
    `ipBlocks` there (the direct peer is the proxy, not the client)."""
    resources = list(resources)
    policies = [
        (_map(p.get("metadata")), _map(p.get("spec")))
        for t, p in resources
        if t in AUTHORIZATION_POLICY_TYPES
    ]
    violations = []
    for gateway in _fronted_gateways(resources):
        attached = [(metadata, spec) for metadata, spec in policies if _attaches(metadata, spec, gateway)]
        if not any(_is_guard(spec) for _, spec in attached):
            violations.append(
                f"gateway {gateway.name}: behind front proxy {gateway.profile} it trusts one X-Forwarded-For "
                "hop, but no DENY AuthorizationPolicy (rules: [{from: [{source: {notIpBlocks: <the proxy's "
                "ranges>}}]}]) applies to it: a client reaching the load balancer directly forges its address"
            )
        for metadata, spec in attached:
            if spec.get("action", "ALLOW") != "ALLOW":
                continue
            for rule in map(_map, _list(spec.get("rules"))):
                if any("ipBlocks" in _map(_map(item).get("source")) for item in _list(rule.get("from"))):
                    violations.append(
                        f"AuthorizationPolicy {metadata.get('name')}: an allowlist on ipBlocks behind front "
                        f"proxy {gateway.profile} matches the proxy's addresses, not the client's; use "
                        "remoteIpBlocks"
                    )
                    break
    return violations


ISTIO_GATEWAY_TYPES = (
    "kubernetes:networking.istio.io/v1:Gateway",
    "kubernetes:networking.istio.io/v1beta1:Gateway",
    "kubernetes:networking.istio.io/v1alpha3:Gateway",
)


def https_redirect_keeps_acme_challenges(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Advisory: an Istio Gateway's plain-HTTP server does not set tls.httpsRedirect: istiod then marks
    every virtual host of that port `require_tls: ALL` (pilot/pkg/networking/core/gateway.go), so an ACME
    HTTP-01 challenge of the same host is redirected too and a cert-manager certificate never issues;
    redirect with a VirtualService route instead (it yields to the challenge's exact-path route)."""
    if resource_type not in ISTIO_GATEWAY_TYPES:
        return []
    props = _map(props)
    violations = []
    for server in map(_map, _list(_map(props.get("spec")).get("servers"))):
        protocol = str(_map(server.get("port")).get("protocol", "")).upper()
        if protocol == "HTTP" and _map(server.get("tls")).get("httpsRedirect") is True:
            name = _map(props.get("metadata")).get("name")
            hosts = ", ".join(str(h) for h in _list(server.get("hosts")))
            violations.append(
                f"Gateway {name}: the HTTP server for {hosts} sets tls.httpsRedirect, which redirects ACME "
                "HTTP-01 challenges of those hosts too (istiod requires TLS on the whole virtual host); "
                "redirect with a VirtualService route (match port 80, redirect scheme https) instead"
            )
    return violations
