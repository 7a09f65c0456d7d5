"""From the validated stack config to each component's inputs: the one place that maps them.

Adding a config key means: the model in `config.py`, the component's args, and one line here.
`__main__.py` only creates the components from what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from components import (
    EchoAppArgs,
    IngressGatewayArgs,
    IstioInstallArgs,
    MetalLBPinningArgs,
    MetalLBPlacement,
    NamespacesArgs,
)
from components.ingress_gateway import GatewaySettings
from source_ip.config import StackConfig
from source_ip.facts import ALWAYS_PRESENT_NAMESPACES, ISTIO_NAMESPACE
from source_ip.plan import TrustedHops, proxy_protocol_listener


@dataclass(frozen=True)
class StackInputs:
    routing: str
    """istio or gateway-api."""
    istio: IstioInstallArgs
    namespaces: NamespacesArgs
    """Gateway namespaces the program creates."""
    gateways: list[GatewaySettings]
    """Each gateway's inputs, checked; `gateway_args` gives a component's args from them."""
    metallb: MetalLBPinningArgs | None
    allowlist: list[str]
    access_logs: bool
    echo: EchoAppArgs | None
    echo_host: str | None


def stack_inputs(config: StackConfig) -> StackInputs:
    metallb = config.metallb
    pinned = config.platform == "metallb"
    placement = MetalLBPlacement(node_label=dict(metallb.node_label), pool=metallb.pool) if pinned else None
    gateways = [
        GatewaySettings(
            name=entry.gateway.name,
            namespace=entry.gateway.namespace,
            istio_version=config.istio.version,
            platform=config.platform,
            mode=entry.mode,
            listener=proxy_protocol_listener(entry.mode, entry.gateway.proxy_protocol_migration),
            replicas=entry.gateway.replicas,
            max_replicas=entry.gateway.max_replicas,
            num_trusted_proxies=entry.gateway.num_trusted_proxies,
            trusted_hops=TrustedHops(entry.gateway.trusted_hops),
            service_annotations=dict(entry.gateway.service_annotations),
            hairpin_hostname=entry.gateway.hairpin_hostname,
            metallb=placement,
        )
        for entry in config.gateway_entries()
    ]
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
        echo=EchoAppArgs(namespace=config.echo.namespace, create_namespace=config.echo.namespace not in ALWAYS_PRESENT_NAMESPACES)
        if config.echo.enabled
        else None,
        echo_host=config.echo.host if config.echo.enabled else None,
    )


def gateway_args(settings: GatewaySettings) -> IngressGatewayArgs:
    """A gateway component's args (a TypedDict) from checked settings."""
    return IngressGatewayArgs(
        name=settings.name,
        namespace=settings.namespace,
        istio_version=settings.istio_version,
        platform=settings.platform,
        mode=settings.mode,
        listener=settings.listener,
        replicas=settings.replicas,
        max_replicas=settings.max_replicas,
        num_trusted_proxies=settings.num_trusted_proxies,
        trusted_hops=settings.trusted_hops,
        service_annotations=dict(settings.service_annotations),
        hairpin_hostname=settings.hairpin_hostname,
        metallb=settings.metallb,
    )
