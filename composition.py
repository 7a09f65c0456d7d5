"""From the validated stack config to each component's inputs: the one place that maps them.

`__main__.py` only creates the components from what this returns. Each gateway's settings come from
`source_ip.config.settings.settings_of`, the one mapping of a stack file's gateway onto the components'
settings (a new gateway key needs no line here).
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
from source_ip.config import StackConfig
from source_ip.config.settings import GatewaySettings, settings_of
from source_ip.facts import ALWAYS_PRESENT_NAMESPACES, CERTIFICATE_WAIT_SECONDS, ISTIO_NAMESPACE
from source_ip.gateway import Deployer
from source_ip.observability import ip_tags
from source_ip.plan import ProxyProtocolListener


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
    certificate_wait_seconds: int = CERTIFICATE_WAIT_SECONDS
    """How long `pulumi up` waits for each gateway's Certificate (certManager.waitSeconds)."""
    cert_manager: CertManagerArgs | None = None
    """cert-manager's install and the quickstart issuer; None when the stack asks for neither."""
    monitoring: ClientIpMonitoringArgs | None = None
    """The alerts, the dashboard and the PodMonitors; None when the stack asks for neither alerts nor a
    dashboard."""


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
    gateways = [settings_of(config, entry) for entry in config.gateway_entries()]
    return StackInputs(
        routing=config.routing,
        istio=IstioInstallArgs(
            version=config.istio.version,
            install=config.istio.install,
            gateway_api_crds=config.installs_gateway_api_crds,
            gateway_api_required=config.routing == "gateway-api",
            dual_stack=any(gateway.serves_ipv6 for gateway in gateways),
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
        certificate_wait_seconds=config.cert_manager.wait_seconds,
        cert_manager=CertManagerArgs(
            install=config.cert_manager.install,
            quickstart_issuer=config.cert_manager.quickstart_issuer,
            gateway_api=config.routing == "gateway-api",
        )
        if config.cert_manager.install or config.cert_manager.quickstart_issuer
        else None,
        monitoring=monitoring_args(config, gateways),
    )
