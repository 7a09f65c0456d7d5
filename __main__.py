"""istio-source-ip: keep the real client IP through Istio ingress gateways. Composition only.

The config is validated first; a bad value stops the program before any resource exists.
Each resource waits for what it needs and nothing more: gateways for istiod (and, on MetalLB,
the pinned L2 announcements); the echo app for istiod; routing and policies for the CRDs. Nothing waits for a
gateway, whose release waits for its load balancer's address.
"""

import pulumi
import pulumi_kubernetes as k8s

from components import (
    ClientIpMonitoring,
    EchoApp,
    EchoHttpRoute,
    EchoHttpRouteArgs,
    EchoRouting,
    EchoRoutingArgs,
    GatewayApiGateway,
    GatewayPolicies,
    GatewayPoliciesArgs,
    IngressGateway,
    IstioInstall,
    MetalLBPinning,
    Namespaces,
)
from components.cert_manager import (
    QUICKSTART_CA_SECRET,
    CertManager,
    GatewayCertificate,
    GatewayCertificateArgs,
)
from composition import stack_inputs
from source_ip.config import load_stack_config
from source_ip.facts import CERT_MANAGER_NAMESPACE, ISTIO_NAMESPACE
from source_ip.gateway import HttpsRoute, tls_decisions

config = load_stack_config()
inputs = stack_inputs(config)

pinning = MetalLBPinning("metallb-pinning", inputs.metallb) if inputs.metallb else None
istio = IstioInstall("istio", inputs.istio)
namespaces = Namespaces("gateway-namespaces", inputs.namespaces)

gateway_api = inputs.routing == "gateway-api"
# cert-manager with its Gateway API support watches Gateway API kinds: without their CRDs it restarts until
# they exist, so it waits for them (gateway-api routing).
cert_manager = (
    CertManager(
        "cert-manager",
        inputs.cert_manager,
        opts=pulumi.ResourceOptions(depends_on=istio.gateway_api_crds if gateway_api else []),
    )
    if inputs.cert_manager
    else None
)
# What each redirecting gateway's port-80 redirects wait for: its certificate Ready, or the read of the
# user's Secret (`pulumi up` then stops at "not found" instead of redirecting to 443 without a certificate).
# Made before the gateways (from the same TLS decisions), so a gateway's routes can wait for it too.
redirect_after: dict[str, list[pulumi.Resource]] = {}
for settings in inputs.gateways:
    tls = tls_decisions(settings)
    if tls is None:
        continue
    namespace = str(settings.namespace)
    waits_for: list[pulumi.Resource] = redirect_after.setdefault(settings.name, [])
    if tls.certificate_spec is None:
        if tls.redirect_http:
            waits_for.append(
                k8s.core.v1.Secret.get(f"{settings.name}-tls-secret", f"{namespace}/{tls.secret_name}")
            )
        continue
    certificate = GatewayCertificate(
        f"{settings.name}-certificate",
        GatewayCertificateArgs(
            name=tls.secret_name,
            namespace=namespace,
            spec=tls.certificate_spec,
            wait_seconds=inputs.certificate_wait_seconds,
        ),
        opts=pulumi.ResourceOptions(
            depends_on=[
                *(cert_manager.ready if cert_manager else []),
                *namespaces.ready(namespace),
                *(istio.crds if namespace == ISTIO_NAMESPACE else []),
            ]
        ),
    )
    if tls.redirect_http:
        waits_for.extend(certificate.ready)

gateways: list[IngressGateway | GatewayApiGateway] = []
for settings in inputs.gateways:
    namespace = str(settings.namespace)
    waits = pulumi.ResourceOptions(
        depends_on=[*istio.control_plane, *namespaces.ready(namespace), *(pinning.ready if pinning else [])]
    )
    redirect_waits = redirect_after.get(settings.name, [])
    if gateway_api:
        routes_from = (
            [str(inputs.echo["namespace"])]
            if inputs.echo
            else ([] if settings.routes or settings.attach_namespaces else [namespace])
        )
        gateways.append(
            GatewayApiGateway(
                settings.name,
                {"gateway": settings.args(), "route_namespaces": routes_from},
                opts=waits,
                redirect_after=redirect_waits,
            )
        )
    else:
        gateways.append(
            IngressGateway(settings.name, settings.args(), opts=waits, redirect_after=redirect_waits)
        )
all_redirects_wait_for = [resource for waits_for in redirect_after.values() for resource in waits_for]
# The echo app's HTTPS: its own host only (the routes' Istio Gateway serves theirs on the same port).
tls_by_gateway: dict[str, HttpsRoute] = {
    g.ref["name"]: HttpsRoute(
        hosts=[inputs.echo_host],
        secret_name=g.decisions.tls.secret_name,
        redirect_http=g.decisions.tls.redirect_http,
    )
    for g in gateways
    if g.decisions.tls is not None and inputs.echo_host
}

if inputs.allowlist or inputs.access_logs:
    for gateway in gateways:
        GatewayPolicies(
            f"{gateway.ref['name']}-policies",
            GatewayPoliciesArgs(
                gateway=gateway.ref,
                allowlist_field=gateway.decisions.allowlist_field,
                allowlist=inputs.allowlist,
                access_logs=inputs.access_logs,
                target_gateway=gateway_api,
            ),
            opts=pulumi.ResourceOptions(
                depends_on=[*istio.crds, *namespaces.ready(str(gateway.ref["namespace"]))]
            ),
        )

if inputs.monitoring:
    ClientIpMonitoring(
        "client-ip-monitoring",
        inputs.monitoring,
        # Its objects live in the gateways' namespaces and the dashboard's (istio-system: IstioInstall's).
        opts=pulumi.ResourceOptions(
            depends_on=[
                *istio.crds,
                *(n for g in inputs.monitoring["gateways"] for n in namespaces.ready(g["namespace"])),
                *namespaces.ready(inputs.monitoring.get("dashboard_namespace", ISTIO_NAMESPACE)),
            ]
        ),
    )

if inputs.echo and inputs.echo_host:
    echo = EchoApp("echo", inputs.echo, opts=pulumi.ResourceOptions(depends_on=istio.control_plane))
    if gateway_api:
        EchoHttpRoute(
            "echo-route",
            EchoHttpRouteArgs(
                host=inputs.echo_host,
                namespace=str(inputs.echo["namespace"]),
                gateways=[gateway.ref for gateway in gateways],
                backend_name=echo.service_name,
                backend_namespace=str(inputs.echo["namespace"]),
                backend_port=echo.service_port,
                tls=tls_by_gateway,
            ),
            opts=pulumi.ResourceOptions(depends_on=istio.crds),
            redirect_after=all_redirects_wait_for,
        )
    else:
        EchoRouting(
            "echo-routing",
            EchoRoutingArgs(
                host=inputs.echo_host,
                namespace=inputs.echo["namespace"],
                gateways=[gateway.ref for gateway in gateways],
                destination_host=echo.service_host,
                destination_port=echo.service_port,
                tls=tls_by_gateway,
            ),
            opts=pulumi.ResourceOptions(depends_on=istio.crds),
            redirect_after=all_redirects_wait_for,
        )


def curl_command(address: str | None) -> str | None:
    if not inputs.echo_host:
        return None
    return f"curl -s -H 'Host: {inputs.echo_host}' http://{address or '<EXTERNAL-IP>'}/headers"


first = gateways[0]
pulumi.export("platform", config.platform)
pulumi.export("routing", inputs.routing)
pulumi.export("istioVersion", istio.version)
pulumi.export("sourceIpMode", str(first.settings.mode))
pulumi.export("clientAddressSource", first.client_address_source)
# The X-Forwarded-For hops the gateway trusts (a front proxy's one included): verify reads it.
pulumi.export("numTrustedProxies", first.settings.trusted_xff_hops)
pulumi.export("gatewayAddress", first.address)
pulumi.export("gatewayAddresses", {g.ref["name"]: g.address for g in gateways})
pulumi.export(
    "gateways",
    {
        g.ref["name"]: {
            "namespace": g.ref["namespace"],
            "sourceIpMode": str(g.settings.mode),
            "clientAddressSource": g.client_address_source,
        }
        for g in gateways
    },
)
pulumi.export("echoHost", inputs.echo_host)
first_tls = first.decisions.tls
# verify (tools/verify/readers.py) switches to https:// on the gateway address when `tls` is truthy.
pulumi.export(
    "tls",
    {"hosts": first_tls.hosts, "secretName": first_tls.secret_name, "redirectHttp": first_tls.redirect_http}
    if first_tls
    else None,
)
pulumi.export(
    "quickstartCaSecret",
    f"{CERT_MANAGER_NAMESPACE}/{QUICKSTART_CA_SECRET}"
    if inputs.cert_manager and inputs.cert_manager.get("quickstart_issuer")
    else None,
)
pulumi.export("curlCommand", first.address.apply(curl_command))
pulumi.export("curlCommands", {g.ref["name"]: g.address.apply(curl_command) for g in gateways})
