"""CertManager and GatewayCertificate alone: the release with its CRDs, the quickstart CA chain in the
order cert-manager needs it, and a Certificate where the gateway reads its Secret."""

from __future__ import annotations

import pytest

from components.cert_manager import CertManager, CertManagerArgs, GatewayCertificate, GatewayCertificateArgs
from tools.program import run_body


def test_an_install_is_the_official_chart_with_its_crds_in_its_own_namespace() -> None:
    ready: list[str] = []

    def body() -> None:
        manager = CertManager("cm", CertManagerArgs(install=True))
        ready.extend(r._name for r in manager.ready)

    run = run_body(body)
    [release] = [r.inputs for r in run.resources if r.inputs.get("chart") == "cert-manager"]
    assert (release["name"], release["namespace"], release["version"]) == (
        "cert-manager",
        "cert-manager",
        "v1.21.1",
    )
    assert release["repositoryOpts"]["repo"] == "https://charts.jetstack.io"
    assert release["values"] == {"crds": {"enabled": True}}
    assert [n["metadata"]["name"] for n in run.k8s_objects("Namespace")] == ["cert-manager"]
    assert ready == ["cm-release"]
    assert run.k8s_objects("ClusterIssuer") == []


@pytest.mark.parametrize("install", [True, False])
def test_the_quickstart_ca_chain_waits_step_by_step_and_the_ca_issuer_is_what_certificates_wait_for(
    install: bool,
) -> None:
    ready: list[str] = []

    def body() -> None:
        manager = CertManager("cm", CertManagerArgs(install=install, quickstart_issuer=True))
        ready.extend(r._name for r in manager.ready)

    run = run_body(body)
    by_name = {r.name: r for r in run.resources}
    urns = {r.urn: r.name for r in run.resources}

    def waits_for(name: str) -> set[str]:
        return {urns[urn] for urn in by_name[name].dependencies}

    assert by_name["cm-quickstart-ca"].inputs["spec"]["issuerRef"]["name"] == "istio-source-ip-selfsigned"
    assert by_name["cm-quickstart-ca"].inputs["metadata"]["namespace"] == "cert-manager"
    assert "cm-selfsigned-issuer" in waits_for("cm-quickstart-ca")
    assert "cm-quickstart-ca" in waits_for("cm-quickstart-issuer")
    assert ("cm-release" in waits_for("cm-selfsigned-issuer")) is install
    assert ready == (["cm-release", "cm-quickstart-issuer"] if install else ["cm-quickstart-issuer"])
    assert len(run.k8s_objects("Namespace")) == (1 if install else 0)


def test_two_gateway_certificates_coexist_in_one_program_and_each_is_awaited_until_ready() -> None:
    """Where each Certificate lives is the caller's (tests/test_https.py holds the namespace rule); the
    component makes each one something `pulumi up` waits for (Ready: its Secret holds the certificate)."""
    ready: list[str] = []

    def body() -> None:
        for name, namespace in (("a-tls", "edge"), ("b-tls", "istio-system")):
            spec = {"secretName": name, "dnsNames": ["x.example.com"], "issuerRef": {"name": "ca"}}
            certificate = GatewayCertificate(
                name, GatewayCertificateArgs(name=name, namespace=namespace, spec=spec)
            )
            ready.extend(r._name for r in certificate.ready)

    run = run_body(body)
    assert run.duplicate_urns == []
    assert ready == ["a-tls-certificate", "b-tls-certificate"]
    for certificate in run.k8s_objects("Certificate"):
        assert certificate["metadata"]["annotations"] == {
            "pulumi.com/waitFor": "condition=Ready",
            "pulumi.com/timeoutSeconds": "600",  # certManager.waitSeconds
        }


def test_with_gateway_api_the_install_turns_on_cert_managers_gateway_api_solver() -> None:
    def body() -> None:
        CertManager("cm", CertManagerArgs(install=True, gateway_api=True))

    run = run_body(body)
    [release] = [r.inputs for r in run.resources if r.inputs.get("chart") == "cert-manager"]
    assert release["values"] == {
        "crds": {"enabled": True},
        "config": {
            "apiVersion": "controller.config.cert-manager.io/v1alpha1",
            "kind": "ControllerConfiguration",
            "gatewayAPI": {"enabled": True},
        },
    }
