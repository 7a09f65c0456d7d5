"""cert-manager: its official chart (CRDs included), the quickstart CA issuer, and gateway Certificates."""

from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component, owned_namespace
from source_ip.facts import (
    CERT_MANAGER,
    CERT_MANAGER_API,
    CERT_MANAGER_GATEWAY_API_VALUES,
    CERT_MANAGER_GROUP,
    CERT_MANAGER_NAMESPACE,
    CERT_MANAGER_RELEASE,
    CERT_MANAGER_VALUES,
    CERT_MANAGER_VERSION,
    CERTIFICATE_READY,
    CERTIFICATE_WAIT_SECONDS,
    QUICKSTART_ISSUER,
    TIMEOUT_ANNOTATION,
    WAIT_FOR_ANNOTATION,
)

QUICKSTART_SELF_SIGNED = "istio-source-ip-selfsigned"
"""The self-signed ClusterIssuer that signs the quickstart CA (and nothing else)."""
QUICKSTART_CA_SECRET = QUICKSTART_ISSUER
"""The quickstart CA's Secret (namespace cert-manager, key `ca.crt`), named like its ClusterIssuer
QUICKSTART_ISSUER; `make verify` hands its CA to verify."""


class CertManagerArgs(TypedDict):
    """Inputs of cert-manager."""

    install: bool
    """Install cert-manager from its official chart with its CRDs; false: the cluster runs it already."""
    quickstart_issuer: NotRequired[bool]
    """Create the self-signed CA and the ClusterIssuer `istio-source-ip-quickstart-ca` (kind, tests)."""
    gateway_api: NotRequired[bool]
    """Turn on cert-manager's Gateway API support (its `gatewayHTTPRoute` HTTP-01 solver): routing
    gateway-api."""


class CertManager(Component):
    """cert-manager's release (namespace cert-manager, CRDs from the chart: `crds.enabled`) and, for the
    quickstart, a self-signed ClusterIssuer, a CA Certificate in cert-manager's namespace (where a
    ClusterIssuer reads its CA Secret) and the CA ClusterIssuer that signs the gateways' certificates.
    `ready` is what a Certificate waits for."""

    installed: pulumi.Output[bool]
    """Whether this component installed cert-manager."""
    issuer: pulumi.Output[str | None]
    """The quickstart CA ClusterIssuer's name, when it was created."""

    def __init__(self, name: str, args: CertManagerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("CertManager", name, opts)
        self.ready: list[pulumi.Resource] = []
        if args["install"]:
            namespace = owned_namespace(self, CERT_MANAGER_NAMESPACE)
            release = self.chart_release(
                "release",
                CERT_MANAGER_RELEASE,
                CERT_MANAGER,
                CERT_MANAGER_VERSION,
                CERT_MANAGER_NAMESPACE,
                {
                    **CERT_MANAGER_VALUES,
                    **(CERT_MANAGER_GATEWAY_API_VALUES if args.get("gateway_api") else {}),
                },
                depends_on=namespace,
            )
            self.ready.append(release)
        issuer_name: str | None = None
        if args.get("quickstart_issuer", False):
            self_signed = self.custom_resource(
                "selfsigned-issuer",
                CERT_MANAGER_API,
                "ClusterIssuer",
                QUICKSTART_SELF_SIGNED,
                None,
                {"selfSigned": {}},
                depends_on=self.ready,
            )
            ca = self.custom_resource(
                "quickstart-ca",
                CERT_MANAGER_API,
                "Certificate",
                QUICKSTART_ISSUER,
                CERT_MANAGER_NAMESPACE,
                {
                    "isCA": True,
                    "commonName": "istio-source-ip quickstart CA",
                    "secretName": QUICKSTART_CA_SECRET,
                    "duration": "8760h",
                    "privateKey": {"algorithm": "ECDSA", "size": 256},
                    "issuerRef": {
                        "name": QUICKSTART_SELF_SIGNED,
                        "kind": "ClusterIssuer",
                        "group": CERT_MANAGER_GROUP,
                    },
                },
                depends_on=[self_signed],
            )
            issuer = self.custom_resource(
                "quickstart-issuer",
                CERT_MANAGER_API,
                "ClusterIssuer",
                QUICKSTART_ISSUER,
                None,
                {"ca": {"secretName": QUICKSTART_CA_SECRET}},
                depends_on=[ca],
            )
            self.ready.append(issuer)
            issuer_name = QUICKSTART_ISSUER
        self.installed = pulumi.Output.from_input(args["install"])
        self.issuer = pulumi.Output.from_input(issuer_name)
        self.register_outputs({"installed": self.installed, "issuer": self.issuer})


class GatewayCertificateArgs(TypedDict):
    """Inputs of a gateway's certificate."""

    name: str
    """The Certificate's name (and the Secret's, `<gateway>-tls`)."""
    namespace: pulumi.Input[str]
    """The gateway's namespace: the Istio gateway reads `credentialName` there, and a Gateway API
    listener's certificateRefs point there without a ReferenceGrant."""
    spec: dict[str, Any]
    """The Certificate's spec (secretName, dnsNames, issuerRef), decided by the gateway model."""
    wait_seconds: NotRequired[int]
    """How long `pulumi up` waits for it to be Ready before it fails (default 600)."""


class GatewayCertificate(Component):
    """A cert-manager.io/v1 Certificate in the gateway's namespace. Give it `depends_on` cert-manager
    (its CRDs and issuer) and the gateway's namespace. `pulumi up` waits until it is Ready (the Secret
    holds the issued certificate): `ready` is what the port-80 redirect waits for."""

    secret_name: pulumi.Output[str]
    """The kubernetes.io/tls Secret cert-manager writes."""

    def __init__(
        self, name: str, args: GatewayCertificateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("GatewayCertificate", name, opts)
        certificate = k8s.apiextensions.CustomResource(
            self.child_name("certificate"),
            api_version=CERT_MANAGER_API,
            kind="Certificate",
            metadata={
                "name": args["name"],
                "namespace": args["namespace"],
                "annotations": {
                    WAIT_FOR_ANNOTATION: CERTIFICATE_READY,
                    TIMEOUT_ANNOTATION: str(args.get("wait_seconds", CERTIFICATE_WAIT_SECONDS)),
                },
            },
            spec=args["spec"],
            opts=self.child(),
        )
        self.ready: list[pulumi.Resource] = [certificate]
        """What a redirect to HTTPS waits for: the Certificate Ready, so its Secret holds the certificate."""
        self.secret_name = pulumi.Output.from_input(str(args["spec"]["secretName"]))
        self.register_outputs({"secretName": self.secret_name})
