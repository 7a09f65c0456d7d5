"""From the validated stack config to each component's inputs: the one place that maps them.

`__main__.py` only creates the components from what this returns. A gateway key of the config whose
name is also a key of `IngressGatewayArgs` is handed over by name (`GATEWAY_KEYS_BY_NAME`): adding
such a key needs no line here. The inputs that come from elsewhere (stack-wide keys, the decided
mode and listener, the MetalLB placement) are the named arguments below.
"""

from __future__ import annotations

from dataclasses import dataclass

from components import (
    EchoAppArgs,
    IstioInstallArgs,
    MetalLBPinningArgs,
    NamespacesArgs,
)
from components.cert_manager import CertManagerArgs
from components.monitoring import ClientIpMonitoringArgs, WatchedGateway
from source_ip.config import GatewayConfig, GatewayEntry, StackConfig
from source_ip.facts import ALWAYS_PRESENT_NAMESPACES, ISTIO_NAMESPACE
from source_ip.gateway import (
    CertificateIssuer,
    Deployer,
    GatewayHttps,
    GatewaySettings,
    IngressGatewayArgs,
    MetalLBPlacement,
)
from source_ip.observability import ObservabilityArgs, ip_tags
from source_ip.plan import ProxyProtocolListener, proxy_protocol_listener

GATEWAY_KEYS_BY_NAME = frozenset(IngressGatewayArgs.__annotations__) & frozenset(GatewayConfig.model_fields)
"""Gateway config keys handed to the gateway component as they are (same name, checked type)."""
GATEWAY_KEYS_DECIDED = frozenset({"proxy_protocol_migration", "tls"})
"""Gateway config keys that decide an input under another name (`listener`, `https`)."""


@dataclass(frozen=True)
class StackInputs:
    routing: str
    """istio or gateway-api."""
    istio: IstioInstallArgs
    namespaces: NamespacesArgs
    """Gateway namespaces the program creates."""
    gateways: list[GatewaySettings]
    """Each gateway's inputs, checked; `settings.args()` gives a component's args from them."""
    metallb: MetalLBPinningArgs | None
    allowlist: list[str]
    access_logs: bool
    echo: EchoAppArgs | None
    echo_host: str | None
    cert_manager: CertManagerArgs | None = None
    """cert-manager's install and the quickstart issuer; None when the stack asks for neither."""
    monitoring: ClientIpMonitoringArgs | None = None
    """The alerts, the dashboard and the PodMonitors; None when the stack asks for neither alerts nor a
    dashboard."""


def gateway_settings(
    config: StackConfig, entry: GatewayEntry, placement: MetalLBPlacement | None
) -> GatewaySettings:
    """One gateway's checked settings: its keys by name, and what the stack and the mode decide."""
    return GatewaySettings(
        **entry.gateway.model_dump(include=set(GATEWAY_KEYS_BY_NAME)),
        istio_version=config.istio.version,
        platform=config.platform,
        mode=entry.mode,
        listener=proxy_protocol_listener(entry.mode, entry.gateway.proxy_protocol_migration),
        metallb=placement,
        https=gateway_https(config, entry),
        observability=gateway_observability(config),
    )


def gateway_observability(config: StackConfig) -> ObservabilityArgs | None:
    """The ip tags every gateway counts, when the alerts or the dashboard need the counters."""
    watch = config.observability
    if not watch.counts:
        return None
    return ObservabilityArgs(
        ip_tags=ip_tags(watch.node_cidrs, watch.pod_cidrs, watch.load_balancer_addresses)
    )


def gateway_https(config: StackConfig, entry: GatewayEntry) -> GatewayHttps | None:
    """A gateway's `tls` as the component's `https` input: hosts default to [echo.host]."""
    tls = entry.gateway.tls
    if tls is None:
        return None
    manager = tls.cert_manager
    return GatewayHttps(
        hosts=list(tls.hosts if tls.hosts is not None else [config.echo.host]),
        secret_name=tls.secret_name,
        cert_manager=CertificateIssuer(
            issuer=manager.issuer,
            issuer_kind=manager.issuer_kind,
            challenge=None if config.is_quickstart_ca(manager) else manager.challenge,
        )
        if manager
        else None,
        redirect_http=tls.redirect_http,
    )


def monitoring_args(config: StackConfig, gateways: list[GatewaySettings]) -> ClientIpMonitoringArgs | None:
    """The alerts, dashboard and PodMonitors of `observability`, over every gateway of the stack."""
    watch = config.observability
    if not watch.counts:
        return None
    deployer = Deployer.ISTIOD if config.routing == "gateway-api" else Deployer.CHART
    tags = ip_tags(watch.node_cidrs, watch.pod_cidrs, watch.load_balancer_addresses)
    return ClientIpMonitoringArgs(
        gateways=[
            WatchedGateway(
                name=g.name,
                namespace=str(g.namespace),
                labels=deployer.pod_labels(g.name),
                reads_proxy_protocol=g.listener != ProxyProtocolListener.OFF,
                private_clients=g.name in watch.internal_gateways,
            )
            for g in gateways
        ],
        tags=[tag["name"] for tag in tags],
        alerts=watch.alerts,
        dashboard=watch.dashboard,
        pod_monitor=watch.pod_monitor,
        threshold=watch.threshold,
        for_duration=watch.for_,
        runbook_url=watch.runbook_url,
        labels=dict(watch.labels),
        dashboard_namespace=watch.dashboard_namespace,
    )


def stack_inputs(config: StackConfig) -> StackInputs:
    metallb = config.metallb
    pinned = config.platform_entry.pins_nodes
    placement = MetalLBPlacement(node_label=dict(metallb.node_label), pool=metallb.pool) if pinned else None
    gateways = [gateway_settings(config, entry, placement) for entry in config.gateway_entries()]
    return StackInputs(
        routing=config.routing,
        istio=IstioInstallArgs(
            version=config.istio.version,
            install=config.istio.install,
            gateway_api_crds=config.installs_gateway_api_crds,
            gateway_api_required=config.routing == "gateway-api",
        ),
        # istio-system is IstioInstall's when it installs, and exists already when it does not.
        namespaces=NamespacesArgs(names=sorted({str(g.namespace) for g in gateways} - {ISTIO_NAMESPACE})),
        gateways=gateways,
        metallb=MetalLBPinningArgs(
            nodes=list(metallb.nodes),
            node_label=dict(metallb.node_label),
            pool=metallb.pool,
            namespace=metallb.namespace,
            addresses=list(metallb.addresses),
            install=metallb.install,
            adopt_l2_advertisement=metallb.adopt_l2_advertisement,
        )
        if pinned
        else None,
        allowlist=list(config.allowlist),
        access_logs=config.access_logs,
        echo=EchoAppArgs(
            namespace=config.echo.namespace,
            create_namespace=config.echo.namespace not in ALWAYS_PRESENT_NAMESPACES,
        )
        if config.echo.enabled
        else None,
        echo_host=config.echo.host if config.echo.enabled else None,
        cert_manager=CertManagerArgs(
            install=config.cert_manager.install,
            quickstart_issuer=config.cert_manager.quickstart_issuer,
            gateway_api=config.routing == "gateway-api",
        )
        if config.cert_manager.install or config.cert_manager.quickstart_issuer
        else None,
        monitoring=monitoring_args(config, gateways),
    )
