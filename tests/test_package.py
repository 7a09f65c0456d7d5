"""The component package: the schema Pulumi's analyzer infers from exactly what package/ hosts, and
every component twice in one program (the engine refuses duplicate URNs, and so does the harness)."""

import functools
import runpy
from typing import Any

import pulumi
import pytest
from pulumi.provider.experimental.analyzer import Analyzer

from components import (
    HOSTED_COMPONENTS,
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
)
from source_ip.plan import AllowlistField, GatewayRef
from tools.program import ROOT, DuplicateUrnError, run_body

PACKAGE = runpy.run_path(str(ROOT / "package" / "__main__.py"), run_name="package")


@functools.cache
def schema() -> dict[str, Any]:
    """The analyzer's schema, inferred once per process (it reads every component's source); read it only."""
    return dict(Analyzer(PACKAGE["PACKAGE_NAME"]).analyze(PACKAGE["HOSTED_COMPONENTS"]))


def test_the_package_hosts_every_component() -> None:
    assert PACKAGE["HOSTED_COMPONENTS"] is HOSTED_COMPONENTS
    assert set(schema()["component_definitions"]) == {
        "CertManager",
        "ClientIpMonitoring",
        "EchoApp",
        "EchoHttpRoute",
        "EchoRouting",
        "GatewayApiGateway",
        "GatewayCertificate",
        "GatewayPolicies",
        "IngressGateway",
        "IstioInstall",
        "MetalLBPinning",
        "Namespaces",
    }


@pytest.mark.parametrize(
    ("component", "required", "outputs"),
    [
        (
            "IngressGateway",
            {"istioVersion", "platform", "mode", "listener"},  # name and namespace have defaults
            {"address", "labels", "allowlistField", "clientAddressSource"},
        ),
        (
            "GatewayApiGateway",
            {"gateway"},  # routeNamespaces: more namespaces than the gateway's own routes
            {"address", "labels", "allowlistField", "clientAddressSource"},
        ),
        ("IstioInstall", {"version"}, {"version", "installed"}),
        ("MetalLBPinning", {"nodes", "nodeLabel", "pool"}, {"nodes", "nodeLabel", "pool"}),
        ("EchoApp", {"namespace"}, {"namespace", "serviceHost", "serviceName", "servicePort"}),
        (
            "EchoRouting",
            {"host", "namespace", "gateways", "destinationHost", "destinationPort"},
            {"gateways", "virtualService"},
        ),
        (
            "EchoHttpRoute",
            {"host", "namespace", "gateways", "backendName", "backendNamespace", "backendPort"},
            {"route"},
        ),
        ("GatewayPolicies", {"gateway", "allowlistField"}, {"allowlist", "allowlistField"}),
        ("Namespaces", {"names"}, {"names"}),
    ],
)
def test_each_components_required_inputs_and_outputs(
    component: str, required: set[str], outputs: set[str]
) -> None:
    definition = schema()["component_definitions"][component]
    assert {name for name, p in definition.inputs.items() if not p.optional} == required
    assert set(definition.outputs) == outputs
    assert definition.description and all(p.description for p in definition.inputs.values()), component


def test_closed_choices_are_enums_and_the_namespace_takes_an_output() -> None:
    result = schema()
    gateway = result["component_definitions"]["IngressGateway"].inputs
    assert gateway["mode"].ref.endswith(":SourceIpMode") and gateway["listener"].ref.endswith(
        ":ProxyProtocolListener"
    )
    assert gateway["namespace"].plain is None  # an Input: another program may pass an Output
    assert gateway["mode"].plain  # decides which objects exist: a plain value
    assert {
        "SourceIpMode",
        "ProxyProtocolListener",
        "TrustedHops",
        "AllowlistField",
        "GatewayRef",
        "MetalLBPlacement",
    } <= set(result["type_definitions"])


def test_two_instances_of_every_component_in_one_program() -> None:
    def body() -> None:
        for suffix in ("a", "b"):
            ref = GatewayRef(name=f"gw-{suffix}", namespace="ingress", labels={"app": f"gw-{suffix}"})
            gateway: dict[str, Any] = {
                "name": f"gw-{suffix}",
                "namespace": "ingress",
                "istio_version": "1.30.3",
                "platform": "gcp",
                "mode": "local",
                "listener": "off",
            }
            IstioInstall(f"istio-{suffix}", {"version": "1.30.3"})
            Namespaces(f"ns-{suffix}", {"names": [f"ingress-{suffix}"]})
            MetalLBPinning(
                f"pin-{suffix}", {"nodes": ["w1"], "node_label": {"pin": suffix}, "pool": f"pool-{suffix}"}
            )
            IngressGateway(f"gw-{suffix}", gateway)  # type: ignore[arg-type]
            GatewayApiGateway(
                f"gwapi-{suffix}",
                {
                    "gateway": {**gateway, "name": f"api-{suffix}"},  # type: ignore[typeddict-item]
                    "route_namespaces": ["apps"],
                },
            )
            GatewayPolicies(
                f"pol-{suffix}",
                {
                    "gateway": ref,
                    "allowlist_field": AllowlistField.IP_BLOCKS,
                    "allowlist": ["10.0.0.0/8"],
                    "access_logs": True,
                },
            )
            # cert-manager and its quickstart issuers are cluster-wide: one installs, the other reuses it.
            CertManager(f"cm-{suffix}", {"install": suffix == "a", "quickstart_issuer": suffix == "a"})
            GatewayCertificate(
                f"cert-{suffix}",
                {
                    "name": f"gw-{suffix}-tls",
                    "namespace": "ingress",
                    "spec": {
                        "secretName": f"gw-{suffix}-tls",
                        "dnsNames": [f"{suffix}.example.com"],
                        "issuerRef": {"name": "ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
                    },
                },
            )
            ClientIpMonitoring(
                f"mon-{suffix}",
                {
                    "gateways": [
                        {
                            "name": f"gw-{suffix}",
                            "namespace": "ingress",
                            "labels": {"app": f"gw-{suffix}"},
                            "reads_proxy_protocol": True,
                        }
                    ],
                    "tags": ["private"],
                    "alerts": True,
                    "dashboard": True,
                    "dashboard_namespace": f"ingress-{suffix}",
                },
            )
            echo = EchoApp(f"echo-{suffix}", {"namespace": f"apps-{suffix}"})
            EchoRouting(
                f"routing-{suffix}",
                {
                    "host": "h",
                    "namespace": f"apps-{suffix}",
                    "gateways": [ref],
                    "destination_host": echo.service_host,
                    "destination_port": 80,
                },
            )
            EchoHttpRoute(
                f"route-{suffix}",
                {
                    "host": "h",
                    "namespace": f"apps-{suffix}",
                    "gateways": [ref],
                    "backend_name": "clusterip",
                    "backend_namespace": f"apps-{suffix}",
                    "backend_port": 80,
                },
            )

    run = run_body(body)
    kinds = {r.type.rsplit(":", 1)[-1] for r in run.resources if not r.custom}
    assert {c.__name__ for c in HOSTED_COMPONENTS} <= kinds
    assert len({r.urn for r in run.resources}) == len(run.resources)


def test_the_harness_refuses_a_duplicate_urn_as_the_engine_does() -> None:
    def body() -> None:
        EchoApp("echo", {"namespace": "apps"})
        EchoApp("echo", {"namespace": "apps"})

    with pytest.raises(DuplicateUrnError, match="duplicate resource URNs"):
        run_body(body)


def test_an_output_namespace_from_another_program_is_accepted() -> None:
    def body() -> None:
        namespace = pulumi.Output.from_input("computed-elsewhere")
        echo = EchoApp("echo", {"namespace": namespace, "create_namespace": False})
        pulumi.export("host", echo.service_host)

    run = run_body(body)
    assert run.outputs["host"] == "clusterip.computed-elsewhere.svc.cluster.local"
    [deployment] = run.k8s_objects("Deployment")
    assert deployment["metadata"]["namespace"] == "computed-elsewhere"
