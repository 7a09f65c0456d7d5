"""One gateway, decided once: its inputs and every decision about its client-IP path, as plain data.

`IngressGatewayArgs` is the component's args as the package schema needs them (a TypedDict: type and
docstring per key); the fields behind them are declared once, with defaults and checks, in
`source_ip/config/models.py` (`GatewayFields`, shared with the stack file's `gateway`), and
`GatewaySettings` (`source_ip/config/settings.py`) validates args with those fields and the one rule set
(`source_ip/config/gateway_rules.py`); `tests/test_gateway_model.py` holds the TypedDicts to the fields.
`decide()` turns settings into a `GatewayDecisions`: the Service shape, the pod shape, the rollout, the
scaling, the accept-both EnvoyFilter and what policies target. The two renderers — the istio/gateway
chart's values (`components/ingress_gateway.py`) and the Gateway API parameters ConfigMap
(`components/gateway_api_gateway.py`) — only shape these decisions; where the shapes differ, the
renderer says why. No Pulumi resources here.
"""

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, cast

import pulumi

from source_ip.config.settings import GatewaySettings
from source_ip.facts import (
    CERT_MANAGER_GROUP,
    GATEWAY_API_GROUP,
    GATEWAY_NAME_POD_LABEL,
    MIGRATION_POD_LABEL,
    PROXY_CONFIG_ANNOTATION,
    PROXY_PROTOCOL_FILTER_TYPE,
    PROXY_PROTOCOL_LISTENER_FILTER,
    TRUSTED_HOPS_ANNOTATION,
    SourceIpMode,
    gateway_selector_labels,
)
from source_ip.front_proxies import (
    FRONT_PROXY_ANNOTATION,
    GUARD_POLICY_SUFFIX,
    guard_policy_spec,
    proxy_cidrs,
)
from source_ip.observability import IpTag, ObservabilityArgs, ip_tagging_filter_spec, proxy_config_stats
from source_ip.plan import (
    AllowlistField,
    ClientAddressSource,
    GatewayRef,
    ProxyProtocolListener,
    TrustedHops,
    allowlist_field,
)
from source_ip.rate_limit import RateLimitArgs, rate_limit_filter_spec
from source_ip.routes import Route


class MetalLBPlacement(TypedDict):
    """Where a gateway on MetalLB L2 runs: the nodes that also announce its address."""

    node_label: NotRequired[dict[str, str]]
    """The label on the pinned nodes; the pods' nodeSelector and the L2Advertisement use the same one
    (default {loadbalancerIPs.metallb.io: arp})."""
    pool: NotRequired[str]
    """The IPAddressPool the Service takes its address from (default default-pool)."""


class CertificateIssuer(TypedDict):
    """The cert-manager issuer of a gateway's certificate."""

    issuer: str
    """Name of the Issuer or ClusterIssuer."""
    issuer_kind: NotRequired[str]
    """ClusterIssuer (default) or Issuer (in the gateway's namespace)."""
    challenge: NotRequired[str | None]
    """http01 (default) or dns01: how the issuer's ACME solver proves the hosts; None: no ACME challenge
    at all (a CA issuer such as the quickstart's)."""


class GatewayHttps(TypedDict):
    """HTTPS on port 443 of a gateway."""

    hosts: list[str]
    """The names the HTTPS server (listener) and the certificate answer for."""
    secret_name: NotRequired[str | None]
    """An existing kubernetes.io/tls Secret in the gateway's namespace; unset: cert-manager issues
    `<name>-tls` there."""
    cert_manager: NotRequired[CertificateIssuer | None]
    """Who issues the certificate (a cert-manager.io/v1 Certificate in the gateway's namespace)."""
    redirect_http: NotRequired[bool]
    """Plain HTTP answers 301 to HTTPS (default true); ACME challenge paths still reach their solver."""


class FrontProxyArgs(TypedDict):
    """The CDN or L7 proxy in front of a gateway (docs/front-proxy.md)."""

    profile: str
    """cloudflare, cloudfront or custom (fastly is refused: docs/front-proxy.md)."""
    cidrs: NotRequired[list[str]]
    """custom only (required there): the proxy's egress ranges."""
    header: NotRequired[str | None]
    """Refused on Istio 1.30 (a custom client-address header needs what istiod's gateways cannot take)."""


class RouteArgs(TypedDict):
    """One of your Services behind the gateway (docs/routes.md)."""

    hosts: list[str]
    """The host names routed to the Service (each also served over HTTPS when the gateway has `https`)."""
    path_prefix: NotRequired[str]
    """The path prefix routed, by whole segments (default /): /v1 matches /v1 and /v1/x, not /v10."""
    service: str
    """The name of the Service."""
    namespace: str
    """The namespace of the Service."""
    port: int
    """The Service's port."""


class IngressGatewayArgs(TypedDict):
    """Inputs of an ingress gateway. Fields that decide which objects exist or are checked before any
    exists (the client-IP path) are plain values; the namespace and the Istio version may be Outputs."""

    name: NotRequired[str]
    """Helm release name (the Gateway's name in Gateway API mode); the pods' labels derive from it
    (default istio-ingressgateway)."""
    namespace: NotRequired[pulumi.Input[str]]
    """Namespace of the gateway; it must exist (the program's Namespaces component, or your own;
    default istio-system)."""
    istio_version: pulumi.Input[str]
    """Exact Istio release of the gateway chart; it must match istiod's."""
    platform: str
    """Platform id from the registry (source_ip/facts/platforms.py): which annotations make its LB do what."""
    mode: SourceIpMode
    """How the client address survives the load balancer: proxy-protocol or local (passthrough)."""
    listener: ProxyProtocolListener
    """How the gateway treats the PROXY header (strict, accept-both, off); it must fit `mode`."""
    replicas: NotRequired[int]
    """Gateway replicas (default 2: a PodDisruptionBudget keeps one during a drain)."""
    max_replicas: NotRequired[int | None]
    """Set to turn the HorizontalPodAutoscaler on, between `replicas` and this."""
    num_trusted_proxies: NotRequired[int]
    """L7 proxies/CDNs in front that append X-Forwarded-For (gatewayTopology.numTrustedProxies)."""
    trusted_hops: NotRequired[TrustedHops]
    """What stands in front: l4 load balancers only, or l7 proxies (required for num_trusted_proxies >= 1)."""
    service_annotations: NotRequired[dict[str, str]]
    """Extra Service annotations; refused when they would break the client-IP path."""
    hairpin_hostname: NotRequired[str | None]
    """Hostname the LB publishes instead of its IP (DigitalOcean, Hetzner), for in-cluster callers."""
    metallb: NotRequired[MetalLBPlacement | None]
    """Set on MetalLB: pin the pods to the announcing nodes and take the address from the pool."""
    front_proxy: NotRequired[FrontProxyArgs | None]
    """The CDN/L7 proxy in front: one trusted X-Forwarded-For hop, every other direct peer denied."""
    rate_limit: NotRequired[RateLimitArgs | None]
    """A per-client local rate limit (429 with retry-after), keyed on the trusted client address."""
    https: NotRequired[GatewayHttps | None]
    """HTTPS on port 443 with its certificate (a Secret, or cert-manager's); unset: port 80 only."""
    routes: NotRequired[list[RouteArgs]]
    """Your own Services behind this gateway: the component routes each host and path prefix to one."""
    attach_namespaces: NotRequired[list[str]]
    """Namespaces whose own VirtualServices or HTTPRoutes may bind to this gateway."""
    observability: NotRequired[ObservabilityArgs | None]
    """Count the requests whose client address cannot be a real client (Envoy's ip_tagging filter with
    these tags) and keep those counters and the PROXY-protocol errors in the proxy's stats."""
    ip_families: NotRequired[list[str] | None]
    """The Service's IP families: [IPv4], [IPv6] or [IPv4, IPv6] (dual-stack, RequireDualStack); unset: the
    cluster's default. Refused where the platform's LB would lose an IPv6 client's address in `mode`."""


class Deployer(StrEnum):
    """Who creates the gateway's Deployment and Service: that decides only the pods' labels."""

    CHART = "istio/gateway chart"
    """`istio` routing: the program's Helm release of the gateway chart."""
    ISTIOD = "istiod"
    """`gateway-api` routing: istiod deploys a Gateway API Gateway, patched by its parameters ConfigMap."""

    def pod_labels(self, name: str) -> dict[str, str]:
        """The labels on the gateway's pods (what Istio objects and the spread constraint select)."""
        return gateway_selector_labels(name) if self is Deployer.CHART else {GATEWAY_NAME_POD_LABEL: name}


SURGE_FIRST_ROLLOUT: dict[str, Any] = {
    "type": "RollingUpdate",
    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
}
"""A new pod is ready before an old one goes: with ETP Local the node never loses its last local
endpoint during a rollout (istio#54905, kubernetes#85643)."""


@dataclass(frozen=True)
class Scaling:
    """How many pods run and what a drain may take."""

    min_replicas: int
    max_replicas: int
    """Equal to `min_replicas` for fixed scaling."""
    autoscaled: bool
    """A HorizontalPodAutoscaler moves the count between the bounds."""

    @property
    def keeps_one_in_drain(self) -> bool:
        """Two or more replicas: a PodDisruptionBudget keeps one serving during a node drain."""
        return self.min_replicas >= 2


class HttpsRoute(TypedDict):
    """What routing needs of a gateway's HTTPS: the server (listener) and the redirect."""

    hosts: list[str]
    """The names the HTTPS server (listener) answers for."""
    secret_name: str
    """The kubernetes.io/tls Secret in the gateway's namespace."""
    redirect_http: bool
    """Port 80 answers 301 to https."""


def redirects(tls: dict[str, HttpsRoute], gateway: str) -> bool:
    """Does port 80 of this gateway answer 301 to https (it has TLS with redirect_http)?"""
    https = tls.get(gateway)
    return https is not None and https["redirect_http"]


@dataclass(frozen=True)
class TlsDecisions:
    """HTTPS of one gateway: the server (listener) on 443, its certificate, the port-80 redirect."""

    hosts: list[str]
    secret_name: str
    """The kubernetes.io/tls Secret in the gateway's namespace the server (listener) reads."""
    certificate_spec: dict[str, Any] | None
    """The spec of the cert-manager Certificate (named `secret_name`) that writes `secret_name`, or None
    for a Secret of the user's."""
    redirect_http: bool
    """Port 80 answers 301 to https (a route, never the server's httpsRedirect: an ACME HTTP-01
    challenge route of the same host must still win, docs/https.md)."""
    solver_routes_here: bool
    """cert-manager's Gateway API HTTP-01 solver puts its HTTPRoute in the Certificate's namespace (the
    gateway's): the `http` listener admits routes from there too, and only then (an ACME issuer with
    http01; never dns01 or a CA issuer), so no other route of that namespace can claim the host on 80."""

    def route(self) -> HttpsRoute:
        return HttpsRoute(
            hosts=list(self.hosts), secret_name=self.secret_name, redirect_http=self.redirect_http
        )


def tls_decisions(settings: GatewaySettings) -> TlsDecisions | None:
    https = settings.https
    if https is None:
        return None
    issuer = https.cert_manager
    secret = https.secret_name or f"{settings.name}-tls"
    spec = (
        {
            "secretName": secret,
            "dnsNames": list(https.hosts),
            "issuerRef": {"name": issuer.issuer, "kind": issuer.issuer_kind, "group": CERT_MANAGER_GROUP},
        }
        if issuer and not https.secret_name
        else None
    )
    return TlsDecisions(
        hosts=list(https.hosts),
        secret_name=secret,
        certificate_spec=spec,
        redirect_http=https.redirect_http,
        solver_routes_here=spec is not None and issuer is not None and issuer.challenge == "http01",
    )


@dataclass(frozen=True)
class GatewayDecisions:
    """Every decision about one gateway's client-IP path, computed once by `decide()`."""

    settings: GatewaySettings
    service_annotations: dict[str, str]
    """The program's annotations for the mode with the user's on top (checked not to break it)."""
    external_traffic_policy: str | None
    """`Local` for passthrough: the packet source stays the client; None leaves the default."""
    pod_annotations: dict[str, str]
    """The proxy-config annotation carrying istiod's gatewayTopology (numTrustedProxies, proxyProtocol),
    and the trusted-hops marker."""
    status_port_proxy_protocol: bool
    """The status port parses the PROXY header too (the platform's LB health-checks it with one)."""
    migration_labels: dict[str, str]
    """The pod label the accept-both EnvoyFilter selects, while migrating to PROXY protocol."""
    node_selector: dict[str, str] | None
    """MetalLB L2: the nodes that announce the address (ETP and L2 agree on the node)."""
    topology_spread: list[dict[str, Any]] | None
    """MetalLB L2: at most one pod per node, so each announcing node has a local endpoint."""
    rollout_strategy: dict[str, Any]
    scaling: Scaling
    accept_both_filter: dict[str, Any] | None
    """The EnvoyFilter spec of the permissive proxy_protocol listener filter, while migrating."""
    client_address_source: ClientAddressSource
    allowlist_field: AllowlistField
    """The AuthorizationPolicy field that matches the client here (the policies' target field)."""
    ref: GatewayRef
    """What routing and policies target: name, namespace and pod labels."""
    tls: TlsDecisions | None = None
    """HTTPS on 443 and what it needs; None: port 80 only."""

    front_proxy_guard: dict[str, Any] | None = None
    """The DENY AuthorizationPolicy spec refusing every direct peer outside the front proxy's ranges."""
    rate_limit_filter: dict[str, Any] | None = None
    """The EnvoyFilter spec of the per-client local rate limit."""
    routes: tuple[Route, ...] = ()
    """Your Services behind this gateway (source_ip/routes.py shapes their objects)."""
    attach_namespaces: tuple[str, ...] = ()
    """Namespaces whose own routes may bind to this gateway."""

    @property
    def redirects_routes(self) -> bool:
        """Port 80 answers 301 for the routed hosts (HTTPS with redirect_http)."""
        return self.tls is not None and self.tls.redirect_http

    ip_tagging_filter: dict[str, Any] | None = None
    """The EnvoyFilter spec of the ip_tagging filter counting client addresses that cannot be clients."""
    ip_families: list[str] | None = None
    """The Service's spec.ipFamilies; None leaves them to the cluster (or to istiod's template)."""
    ip_family_policy: str | None = None
    """The Service's spec.ipFamilyPolicy: SingleStack for one family, RequireDualStack for two (see
    `ip_family_policy`); None with `ip_families`."""

    @property
    def pod_labels(self) -> dict[str, str]:
        """The labels of the gateway's pods, as the deployer sets them."""
        return self.ref["labels"]

    @property
    def accept_both_filter_name(self) -> str:
        return f"{self.settings.name}-proxy-protocol-accept-both"

    @property
    def front_proxy_guard_name(self) -> str:
        return f"{self.settings.name}{GUARD_POLICY_SUFFIX}"

    @property
    def rate_limit_filter_name(self) -> str:
        return f"{self.settings.name}-rate-limit"

    @property
    def ip_tagging_filter_name(self) -> str:
        return f"{self.settings.name}-client-ip-tags"


def decide(settings: GatewaySettings, deployer: Deployer) -> "GatewayDecisions":
    """Every client-IP decision of a gateway, once; only `pod_labels` depends on the deployer."""
    labels = deployer.pod_labels(settings.name)
    topology: dict[str, Any] = {}
    if settings.trusted_xff_hops:
        topology["numTrustedProxies"] = settings.trusted_xff_hops
    if settings.listener == ProxyProtocolListener.STRICT:
        topology["proxyProtocol"] = {}
    pod_annotations: dict[str, str] = {}
    # One proxy.istio.io/config annotation: istiod reads one ProxyConfig from it.
    proxy_config: dict[str, Any] = {"gatewayTopology": topology} if topology else {}
    if settings.observability is not None:
        proxy_config.update(proxy_config_stats())
    if proxy_config:
        pod_annotations[PROXY_CONFIG_ANNOTATION] = json.dumps(
            proxy_config, sort_keys=True, separators=(",", ":")
        )
    if topology:
        if settings.front_proxy is not None:
            pod_annotations[TRUSTED_HOPS_ANNOTATION] = str(TrustedHops.L7)
            pod_annotations[FRONT_PROXY_ANNOTATION] = settings.front_proxy.profile
        elif settings.num_trusted_proxies:
            pod_annotations[TRUSTED_HOPS_ANNOTATION] = str(settings.trusted_hops)
    accepts_both = settings.listener == ProxyProtocolListener.ACCEPT_BOTH
    source = settings.client_address_source
    return GatewayDecisions(
        settings=settings,
        service_annotations=dict(
            sorted({**settings.program_annotations(), **settings.service_annotations}.items())
        ),
        external_traffic_policy="Local" if settings.mode == SourceIpMode.LOCAL else None,
        pod_annotations=pod_annotations,
        status_port_proxy_protocol=(
            settings.mode == SourceIpMode.PROXY_PROTOCOL
            and settings.platform_entry.status_port_proxy_protocol
        ),
        migration_labels=dict(MIGRATION_POD_LABEL) if accepts_both else {},
        node_selector=dict(settings.metallb.node_label) if settings.metallb else None,
        topology_spread=(
            [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": labels},
                }
            ]
            if settings.metallb
            else None
        ),
        rollout_strategy=copy.deepcopy(SURGE_FIRST_ROLLOUT),
        scaling=Scaling(
            min_replicas=settings.replicas,
            max_replicas=settings.max_replicas or settings.replicas,
            autoscaled=bool(settings.max_replicas),
        ),
        accept_both_filter=accept_both_filter_spec(labels) if accepts_both else None,
        client_address_source=source,
        allowlist_field=allowlist_field(source),
        ref=GatewayRef(name=settings.name, namespace=settings.namespace, labels=labels),
        tls=tls_decisions(settings),
        front_proxy_guard=(
            guard_policy_spec(
                policy_attach(settings.name, labels, deployer),
                proxy_cidrs(settings.front_proxy.profile, settings.front_proxy.cidrs),
            )
            if settings.front_proxy is not None
            else None
        ),
        rate_limit_filter=(
            rate_limit_filter_spec(labels, cast(RateLimitArgs, settings.rate_limit.model_dump()))
            if settings.rate_limit is not None
            else None
        ),
        routes=tuple(Route.of(route) for route in settings.routes),
        attach_namespaces=tuple(settings.attach_namespaces),
        ip_tagging_filter=(
            ip_tagging_filter_spec(
                labels, [cast(IpTag, tag.model_dump()) for tag in settings.observability.ip_tags]
            )
            if settings.observability is not None
            else None
        ),
        ip_families=list(settings.ip_families) if settings.ip_families else None,
        ip_family_policy=ip_family_policy(settings.ip_families),
    )


def ip_family_policy(families: Sequence[str] | None) -> str | None:
    """The ipFamilyPolicy that holds the Service to exactly `families`. Two families: RequireDualStack,
    since PreferDualStack quietly gives a single-stack cluster one family (kubernetes/kubernetes
    pkg/registry/core/service/storage/alloc.go, initIPFamilyFields: only RequireDualStack is refused there,
    "this cluster is not configured for dual-stack services"), and MetalLB then takes one address from a
    pool without both families (metallb internal/allocator/allocator.go, findBestPoolForService). One family:
    SingleStack, refused by a cluster without that family ("not configured on this cluster")."""
    if not families:
        return None
    return "RequireDualStack" if len(families) > 1 else "SingleStack"


def policy_attach(name: str, pod_labels: dict[str, str], deployer: Deployer) -> dict[str, Any]:
    """How an Istio policy attaches to the gateway: `targetRefs` to the Gateway API Gateway istiod
    deploys, or a `selector` on the chart's pod labels."""
    if deployer is Deployer.ISTIOD:
        return {"targetRefs": [{"group": GATEWAY_API_GROUP, "kind": "Gateway", "name": name}]}
    return {"selector": {"matchLabels": dict(pod_labels)}}


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
