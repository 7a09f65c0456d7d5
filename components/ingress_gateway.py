"""IngressGateway: one istio/gateway release and every decision about its client-IP path."""

import json
from dataclasses import dataclass, field
from typing import Any, NotRequired, Protocol, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.facts import (
    ISTIO_GATEWAY,
    MIGRATION_POD_LABEL,
    PLATFORMS,
    PROXY_CONFIG_ANNOTATION,
    PROXY_PROTOCOL_FILTER_TYPE,
    PROXY_PROTOCOL_LISTENER_FILTER,
    STATUS_PORT_PROXY_PROTOCOL_ENV,
    TRUSTED_HOPS_ANNOTATION,
    Platform,
    SourceIpMode,
    gateway_selector_labels,
)
from source_ip.plan import (
    ClientAddressSource,
    GatewayRef,
    ProxyProtocolListener,
    TrustedHops,
    allowlist_field,
    client_address_source,
    pairing_problem,
    program_service_annotations,
    service_annotation_problems,
)


class MetalLBPlacement(TypedDict):
    """Where a gateway on MetalLB L2 runs: the nodes that also announce its address."""

    node_label: dict[str, str]
    """The label on the pinned nodes; the pods' nodeSelector and the L2Advertisement use the same one."""
    pool: str
    """The IPAddressPool the Service takes its address from."""


class IngressGatewayArgs(TypedDict):
    """Inputs of an ingress gateway. Fields that decide which objects exist or are checked before any
    exists (the client-IP path) are plain values; the namespace and the Istio version may be Outputs."""

    name: str
    """Helm release name (the Gateway's name in Gateway API mode); the pods' labels derive from it."""
    namespace: pulumi.Input[str]
    """Namespace of the gateway; it must exist (the program's Namespaces component, or your own)."""
    istio_version: pulumi.Input[str]
    """Exact Istio release of the gateway chart; it must match istiod's."""
    platform: str
    """Platform id from the registry (source_ip/facts.py): which annotations make its LB do what."""
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


@dataclass(frozen=True)
class GatewaySettings:
    """An ingress gateway's inputs with their defaults, checked: what the pure functions below read."""

    name: str
    namespace: pulumi.Input[str]
    istio_version: pulumi.Input[str]
    platform: str
    mode: SourceIpMode
    listener: ProxyProtocolListener
    replicas: int = 2
    max_replicas: int | None = None
    num_trusted_proxies: int = 0
    trusted_hops: TrustedHops = TrustedHops.L4
    service_annotations: dict[str, str] = field(default_factory=dict)
    hairpin_hostname: str | None = None
    metallb: MetalLBPlacement | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", SourceIpMode(self.mode))
        object.__setattr__(self, "listener", ProxyProtocolListener(self.listener))
        object.__setattr__(self, "trusted_hops", TrustedHops(self.trusted_hops))
        problem = pairing_problem(self.mode, self.listener)
        if problem:
            raise ValueError(f"IngressGateway {self.name}: mode {self.mode} with listener {self.listener}: {problem}")
        if self.platform not in PLATFORMS:
            raise ValueError(
                f"IngressGateway {self.name}: unknown platform {self.platform!r}; allowed: {', '.join(sorted(PLATFORMS))}"
            )
        for key, why in service_annotation_problems(
            self.platform_entry, self.mode, program_annotations(self), self.service_annotations
        ):
            raise ValueError(f"IngressGateway {self.name}: service_annotations[{key!r}] {why}")

    @classmethod
    def of(cls, args: IngressGatewayArgs) -> "GatewaySettings":
        """The settings of a component's args (a TypedDict, defaults filled in, checked)."""
        return cls(**args)

    @property
    def platform_entry(self) -> Platform:
        return PLATFORMS[self.platform]

    @property
    def labels(self) -> dict[str, str]:
        return gateway_selector_labels(self.name)

    @property
    def client_address_source(self) -> ClientAddressSource:
        return client_address_source(self.listener, self.num_trusted_proxies)


def gateway_topology(args: GatewaySettings) -> dict[str, Any]:
    topology: dict[str, Any] = {}
    if args.num_trusted_proxies:
        topology["numTrustedProxies"] = args.num_trusted_proxies
    if args.listener == ProxyProtocolListener.STRICT:
        topology["proxyProtocol"] = {}
    return topology


def program_annotations(args: GatewaySettings) -> dict[str, str]:
    return program_service_annotations(
        args.platform_entry,
        args.mode,
        hairpin_hostname=args.hairpin_hostname,
        metallb_pool=args.metallb["pool"] if args.metallb else None,
    )


def service_annotations(args: GatewaySettings) -> dict[str, str]:
    """The program's annotations for the mode with the user's on top (already checked not to break it)."""
    return dict(sorted({**program_annotations(args), **args.service_annotations}.items()))


def chart_values(args: GatewaySettings) -> dict[str, Any]:
    """Values for the istio/gateway chart (keys checked against its values.schema.json)."""
    service: dict[str, Any] = {"type": "LoadBalancer"}
    annotations = service_annotations(args)
    if annotations:
        service["annotations"] = annotations
    if args.mode == SourceIpMode.LOCAL:
        service["externalTrafficPolicy"] = "Local"

    values: dict[str, Any] = {
        "service": service,
        # autoscaling defaults to true in the chart and then replicaCount is ignored.
        "autoscaling": (
            {"enabled": True, "minReplicas": args.replicas, "maxReplicas": args.max_replicas}
            if args.max_replicas
            else {"enabled": False}
        ),
        "replicaCount": args.replicas,
        # A new pod is ready before an old one goes: with ETP Local the node never loses
        # its last local endpoint during a rollout (istio#54905, kubernetes#85643).
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
    }
    if args.replicas >= 2:
        values["podDisruptionBudget"] = {"minAvailable": 1}
    topology = gateway_topology(args)
    if topology:
        values["podAnnotations"] = {
            PROXY_CONFIG_ANNOTATION: json.dumps({"gatewayTopology": topology}, sort_keys=True, separators=(",", ":"))
        }
        if args.num_trusted_proxies:
            values["podAnnotations"][TRUSTED_HOPS_ANNOTATION] = str(args.trusted_hops)
    if args.mode == SourceIpMode.PROXY_PROTOCOL and args.platform_entry.status_port_proxy_protocol:
        values["env"] = {STATUS_PORT_PROXY_PROTOCOL_ENV: "true"}
    if args.listener == ProxyProtocolListener.ACCEPT_BOTH:
        values["labels"] = dict(MIGRATION_POD_LABEL)
    if args.metallb:
        values["nodeSelector"] = dict(args.metallb["node_label"])
        values["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": args.labels},
            }
        ]
    return values


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


class IngressGateway(Component):
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

    def __init__(self, name: str, args: IngressGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("IngressGateway", name, opts)
        settings = GatewaySettings.of(args)
        self.settings = settings
        self.ref = GatewayRef(name=settings.name, namespace=settings.namespace, labels=settings.labels)
        self.release = k8s.helm.v3.Release(
            self.child_name("release"),
            k8s.helm.v3.ReleaseArgs(
                name=settings.name,
                chart=ISTIO_GATEWAY.chart,
                version=settings.istio_version,
                namespace=settings.namespace,
                repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=ISTIO_GATEWAY.repository),
                values=chart_values(settings),
            ),
            opts=self.child(),
        )
        if settings.listener == ProxyProtocolListener.ACCEPT_BOTH:
            k8s.apiextensions.CustomResource(
                self.child_name("accept-both"),
                api_version="networking.istio.io/v1alpha3",
                kind="EnvoyFilter",
                metadata={"name": f"{settings.name}-proxy-protocol-accept-both", "namespace": settings.namespace},
                spec=accept_both_filter_spec(settings.labels),
                opts=self.child(),
            )
        publish_gateway_outputs(self, settings, self._address(), settings.labels)

    def _address(self) -> pulumi.Output[str | None]:
        """Read the Service the chart created. Its id comes from the release's status, which is
        unknown in a first preview, so the read waits for the release instead of failing."""
        service_id = self.release.status.apply(lambda s: f"{s.namespace}/{s.name}")
        service = k8s.core.v1.Service.get(self.child_name("service"), service_id, opts=pulumi.ResourceOptions(parent=self))
        return service.status.apply(_ingress_address)


class _GatewayOutputs(Protocol):
    address: pulumi.Output[str | None]
    labels: pulumi.Output[dict[str, str]]
    allowlist_field: pulumi.Output[str]
    client_address_source: pulumi.Output[str]

    def register_outputs(self, outputs: Any) -> None: ...


def publish_gateway_outputs(
    component: _GatewayOutputs, settings: GatewaySettings, address: pulumi.Output[str | None], labels: dict[str, str]
) -> None:
    """The outputs every kind of gateway has: its address, its pods' labels and how it sees the client."""
    component.address = address
    component.labels = pulumi.Output.from_input(labels)
    component.allowlist_field = pulumi.Output.from_input(str(allowlist_field(settings.client_address_source)))
    component.client_address_source = pulumi.Output.from_input(str(settings.client_address_source))
    component.register_outputs(
        {
            "address": component.address,
            "labels": component.labels,
            "allowlistField": component.allowlist_field,
            "clientAddressSource": component.client_address_source,
        }
    )


def _ingress_address(status: Any) -> str | None:
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    return (ingress[0].ip or ingress[0].hostname) if ingress else None
