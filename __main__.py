"""istio-source-ip: keep the real client IP through an Istio ingress gateway. Composition only.

The config is validated first; a bad value stops the program before any resource exists.
"""

import pulumi

from components import (
    EchoApp,
    EchoAppArgs,
    EchoRouting,
    EchoRoutingArgs,
    GatewayPolicies,
    GatewayPoliciesArgs,
    IstioInstall,
    IstioInstallArgs,
    MetalLBPinning,
    MetalLBPinningArgs,
    ProxyProtocolGateway,
    ProxyProtocolGatewayArgs,
)
from source_ip.config import load_stack_config
from source_ip.plan import SourceIpPlan

config = load_stack_config()
plan = SourceIpPlan(config)
gateway = config.gateway

pinning = None
if plan.pins_to_metallb_nodes:
    pinning = MetalLBPinning(
        "metallb-pinning",
        MetalLBPinningArgs(
            nodes=list(config.metallb.nodes),
            node_label=dict(config.metallb.node_label),
            pool=config.metallb.pool,
            namespace=config.metallb.namespace,
            addresses=tuple(config.metallb.addresses),
            install=config.metallb.install,
            adopt_l2_advertisement=config.metallb.adopt_l2_advertisement,
        ),
    )

istio = IstioInstall(
    "istio",
    IstioInstallArgs(
        version=config.istio.version,
        gateway_name=gateway.name,
        gateway_namespace=gateway.namespace,
        gateway_values=plan.gateway_values(),
        gateway_api_crds=config.istio.gateway_api_crds,
        gateway_depends_on=[pinning] if pinning else [],
    ),
)
after_istio = pulumi.ResourceOptions(depends_on=[istio])

if plan.proxy_protocol_listener != "off":
    ProxyProtocolGateway(
        "proxy-protocol",
        ProxyProtocolGatewayArgs(
            gateway=plan.gateway,
            listener=plan.proxy_protocol_listener,
            service_annotations=plan.service_annotations(),
            gateway_topology=plan.gateway_topology(),
        ),
        opts=after_istio,
    )

if config.allowlist or config.access_logs:
    GatewayPolicies(
        "gateway-policies",
        GatewayPoliciesArgs(
            gateway=plan.gateway,
            allowlist=list(config.allowlist),
            allowlist_field=plan.allowlist_field,
            access_logs=config.access_logs,
        ),
        opts=after_istio,
    )

echo_host = config.echo.host if config.echo.enabled else None
if config.echo.enabled:
    echo = EchoApp("echo", EchoAppArgs(namespace=config.echo.namespace), opts=after_istio)
    EchoRouting(
        "echo-routing",
        EchoRoutingArgs(
            host=config.echo.host,
            namespace=config.echo.namespace,
            gateway_selector=plan.gateway_labels,
            destination_host=echo.service_host,
            destination_port=echo.service_port,
        ),
        opts=after_istio,
    )

pulumi.export("platform", config.platform)
pulumi.export("sourceIpMode", plan.mode)
pulumi.export("clientAddressSource", plan.client_address_source)
pulumi.export("numTrustedProxies", gateway.num_trusted_proxies)
pulumi.export("gatewayAddress", istio.gateway_address)
pulumi.export("echoHost", echo_host)
pulumi.export(
    "curlCommand",
    istio.gateway_address.apply(
        lambda address: f"curl -s -H 'Host: {echo_host}' http://{address or '<EXTERNAL-IP>'}/headers" if echo_host else None
    ),
)
