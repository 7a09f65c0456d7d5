"""One ComponentResource per job; `__main__.py` composes them."""

from components.cert_manager import CertManager, CertManagerArgs, GatewayCertificate, GatewayCertificateArgs
from components.echo_app import EchoApp, EchoAppArgs
from components.gateway_api_gateway import GatewayApiGateway, GatewayApiGatewayArgs
from components.gateway_policies import GatewayPolicies, GatewayPoliciesArgs
from components.http_route import EchoHttpRoute, EchoHttpRouteArgs
from components.ingress_gateway import IngressGateway, IngressGatewayArgs, MetalLBPlacement
from components.istio_install import IstioInstall, IstioInstallArgs
from components.metallb_pinning import MetalLBPinning, MetalLBPinningArgs
from components.monitoring import ClientIpMonitoring, ClientIpMonitoringArgs
from components.namespaces import Namespaces, NamespacesArgs
from components.routing import EchoRouting, EchoRoutingArgs

HOSTED_COMPONENTS = [
    CertManager,
    ClientIpMonitoring,
    EchoApp,
    EchoHttpRoute,
    EchoRouting,
    GatewayApiGateway,
    GatewayCertificate,
    GatewayPolicies,
    IngressGateway,
    IstioInstall,
    MetalLBPinning,
    Namespaces,
]
"""What the component package (package/) hosts for other Pulumi programs: every component."""

__all__ = [
    "HOSTED_COMPONENTS",
    "CertManager",
    "CertManagerArgs",
    "ClientIpMonitoring",
    "ClientIpMonitoringArgs",
    "EchoApp",
    "EchoAppArgs",
    "EchoHttpRoute",
    "EchoHttpRouteArgs",
    "EchoRouting",
    "EchoRoutingArgs",
    "GatewayApiGateway",
    "GatewayApiGatewayArgs",
    "GatewayCertificate",
    "GatewayCertificateArgs",
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
