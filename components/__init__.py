"""One ComponentResource per job; `__main__.py` composes them."""

from components.echo_app import EchoApp, EchoAppArgs
from components.gateway_policies import GatewayPolicies, GatewayPoliciesArgs
from components.istio_install import IstioInstall, IstioInstallArgs
from components.metallb_pinning import MetalLBPinning, MetalLBPinningArgs
from components.proxy_protocol import ProxyProtocolGateway, ProxyProtocolGatewayArgs
from components.routing import EchoRouting, EchoRoutingArgs

__all__ = [
    "EchoApp", "EchoAppArgs", "EchoRouting", "EchoRoutingArgs", "GatewayPolicies", "GatewayPoliciesArgs",
    "IstioInstall", "IstioInstallArgs", "MetalLBPinning", "MetalLBPinningArgs",
    "ProxyProtocolGateway", "ProxyProtocolGatewayArgs",
]
