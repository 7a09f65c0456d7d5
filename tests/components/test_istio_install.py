"""IstioInstall alone: the control plane only; installed from the official repo, or an existing one reused."""

from __future__ import annotations

from typing import cast

import pulumi

from components import IstioInstall, IstioInstallArgs
from tools.program import HELM_RELEASE, ProgramRun, run_body

ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"  # seed 000, step 1


def install(**overrides: object) -> tuple[ProgramRun, dict[str, list[str]]]:
    """Run IstioInstall; also return the names of what `crds` and `control_plane` hold."""
    lists: dict[str, list[str]] = {}

    def body() -> None:
        istio = IstioInstall("istio", cast(IstioInstallArgs, {"version": "1.27.3", **overrides}))
        pulumi.export("version", istio.version)
        for attribute in ("crds", "control_plane"):
            lists[attribute] = [r._name for r in getattr(istio, attribute)]

    return run_body(body), lists


def test_base_and_istiod_same_version_official_repo_explicit_names_and_no_gateway() -> None:
    run, _ = install()
    releases = {r.inputs["name"]: r.inputs for r in run.of_type(HELM_RELEASE)}
    assert {name: r["chart"] for name, r in releases.items()} == {"istio-base": "base", "istiod": "istiod"}
    assert {r["version"] for r in releases.values()} == {"1.27.3"}
    assert {r["repositoryOpts"]["repo"] for r in releases.values()} == {ISTIO_REPO}
    assert {r["namespace"] for r in releases.values()} == {"istio-system"}
    assert [n["metadata"]["name"] for n in run.k8s_objects("Namespace")] == ["istio-system"]
    assert run.outputs["version"] == "1.27.3"


def test_install_order_namespace_base_istiod() -> None:
    run, _ = install()
    [namespace] = run.of_type("kubernetes:core/v1:Namespace")
    base = run.named(HELM_RELEASE, "istio-base")
    assert namespace.urn in base.dependencies
    assert base.urn in run.named(HELM_RELEASE, "istio-istiod").dependencies


def test_custom_resources_wait_for_the_crds_and_workloads_for_istiod() -> None:
    _, lists = install()
    assert lists == {"crds": ["istio-base"], "control_plane": ["istio-istiod"]}


def test_gateway_api_crds_only_when_asked_and_both_lists_wait_for_them() -> None:
    run, _ = install()
    assert run.of_type("kubernetes:yaml/v2:ConfigFile") == []
    run, lists = install(gateway_api_crds=True)
    [crds] = run.of_type("kubernetes:yaml/v2:ConfigFile")
    assert crds.inputs["file"] == (
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.0/standard-install.yaml"
    )
    assert "istio-gateway-api-crds" in lists["crds"] and "istio-gateway-api-crds" in lists["control_plane"]


def test_existing_control_plane_is_read_not_installed() -> None:
    run, lists = install(install=False)
    assert run.of_type(HELM_RELEASE) == []
    assert run.k8s_objects("Namespace") == []  # istio-system exists already
    [read] = [r for r in run.resources if r.read_id]
    assert (read.type, read.read_id) == ("kubernetes:apps/v1:Deployment", "istio-system/istiod")
    assert lists == {"crds": [], "control_plane": ["istio-existing-istiod"]}


def test_two_instances_coexist() -> None:
    def body() -> None:
        IstioInstall("one", IstioInstallArgs(version="1.28.1"))
        IstioInstall("two", IstioInstallArgs(version="1.28.1", install=False))

    run = run_body(body)
    assert len({r.urn for r in run.resources}) == len(run.resources)
