"""One ComponentResource per job; `__main__.py` composes them."""

from components.echo_app import EchoApp, EchoAppArgs
from components.gateway_api_gateway import GatewayApiGateway
from components.gateway_policies import GatewayPolicies, GatewayPoliciesArgs
from components.http_route import EchoHttpRoute, EchoHttpRouteArgs
from components.ingress_gateway import IngressGateway, IngressGatewayArgs, MetalLBPlacement
from components.istio_install import IstioInstall, IstioInstallArgs
from components.metallb_pinning import MetalLBPinning, MetalLBPinningArgs
from components.namespaces import Namespaces, NamespacesArgs
from components.routing import EchoRouting, EchoRoutingArgs

__all__ = [
    "EchoApp",
    "EchoAppArgs",
    "EchoHttpRoute",
    "EchoHttpRouteArgs",
    "EchoRouting",
    "EchoRoutingArgs",
    "GatewayApiGateway",
    "GatewayPolicies",
    "GatewayPoliciesArgs",
    "IngressGateway",
    "IngressGatewayArgs",
    "IstioInstall",
    "IstioInstallArgs",
    "MetalLBPinning",
    "MetalLBPinningArgs",
    "MetalLBPlacement",
    "Namespaces",
    "NamespacesArgs",
]
