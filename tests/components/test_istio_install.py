"""IstioInstall alone: the control plane only; installed from the official repo, or an existing one reused."""

from __future__ import annotations

from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import IstioInstall, IstioInstallArgs
from components.istio_install import IstiodTooOld
from tools.program import HELM_RELEASE, ProgramRun, run_body

# The repository the PROXY-protocol recipe installs from.
ISTIO_REPO = "https://istio-release.storage.googleapis.com/charts"
ISTIOD_READ = "kubernetes:apps/v1:Deployment::istio-system/istiod"


def install(**overrides: object) -> tuple[ProgramRun, dict[str, list[str]]]:
    """Run IstioInstall; also return the names of what `crds` and `control_plane` hold."""
    lists: dict[str, list[str]] = {}

    def body() -> None:
        istio = IstioInstall("istio", cast(IstioInstallArgs, {"version": "1.29.4", **overrides}))
        pulumi.export("version", istio.version)
        for attribute in ("crds", "control_plane"):
            lists[attribute] = [
                r._name if isinstance(r, pulumi.Resource) else "(checked read)"
                for r in getattr(istio, attribute)
            ]

    return run_body(body), lists


def test_base_and_istiod_same_version_official_repo_explicit_names_and_no_gateway() -> None:
    run, _ = install()
    releases = {r.inputs["name"]: r.inputs for r in run.of_type(HELM_RELEASE)}
    assert {name: r["chart"] for name, r in releases.items()} == {"istio-base": "base", "istiod": "istiod"}
    assert {r["version"] for r in releases.values()} == {"1.29.4"}
    assert {r["repositoryOpts"]["repo"] for r in releases.values()} == {ISTIO_REPO}
    assert {r["namespace"] for r in releases.values()} == {"istio-system"}
    assert [n["metadata"]["name"] for n in run.k8s_objects("Namespace")] == ["istio-system"]
    assert run.outputs["version"] == "1.29.4"


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
        # The release Istio 1.30 is built against (istio/istio go.mod at 1.30.3)
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml"
    )
    assert "istio-gateway-api-crds" in lists["crds"] and "istio-gateway-api-crds" in lists["control_plane"]


def test_existing_control_plane_is_read_not_installed() -> None:
    run, lists = install(install=False)
    assert run.of_type(HELM_RELEASE) == []
    assert run.k8s_objects("Namespace") == []  # istio-system exists already
    [read] = [r for r in run.resources if r.read_id]
    assert (read.type, read.read_id) == ("kubernetes:apps/v1:Deployment", "istio-system/istiod")
    assert lists == {"crds": [], "control_plane": ["(checked read)"]}


def test_two_instances_coexist() -> None:
    def body() -> None:
        IstioInstall("one", IstioInstallArgs(version="1.30.3"))
        IstioInstall("two", IstioInstallArgs(version="1.30.3", install=False))

    run = run_body(body)
    assert len({r.urn for r in run.resources}) == len(run.resources)


def istiod_running(image: str) -> dict[str, dict[str, Any]]:
    """A stand-in for the cluster's istiod, as the read of its Deployment returns it."""
    return {
        ISTIOD_READ: {"spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": image}]}}}}
    }


def reuse(
    image: str | None,
    version: str,
    monkeypatch: pytest.MonkeyPatch,
    gateway_api: bool = False,
    record: ProgramRun | None = None,
) -> list[str]:
    """Reuse the cluster's istiod (running `image`) with `version` declared, and a workload that waits for the
    control plane; return the warnings."""
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *_, **__: warnings.append(message))

    def body() -> None:
        args = IstioInstallArgs(
            version=version, install=False, gateway_api_crds=gateway_api, gateway_api_required=gateway_api
        )
        istio = IstioInstall("istio", args)
        k8s.core.v1.ConfigMap("workload", opts=pulumi.ResourceOptions(depends_on=istio.control_plane))

    run_body(body, reads=istiod_running(image) if image else None, record=record)
    return warnings


def test_what_needs_a_reused_control_plane_waits_for_the_read_of_istiod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = ProgramRun()
    assert reuse("docker.io/istio/pilot:1.30.3", "1.30.3", monkeypatch, record=run) == []
    [read] = [r for r in run.resources if r.read_id]
    assert read.urn in run.named("kubernetes:core/v1:ConfigMap", "workload").dependencies


def test_gateway_api_mode_stops_before_anything_waits_on_an_istiod_older_than_1_26(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = ProgramRun()
    with pytest.raises(IstiodTooOld) as stopped:
        reuse("docker.io/istio/pilot:1.25.2-distroless", "1.30.3", monkeypatch, gateway_api=True, record=run)
    assert str(stopped.value).startswith(
        "routing gateway-api: the existing istiod runs docker.io/istio/pilot:1.25.2-distroless "
        "(Istio 1.25.2), which does not read spec.infrastructure.parametersRef"
    )
    assert "Allowed: upgrade the cluster's Istio to 1.26.0 or newer (supported: 1.29 or 1.30)" in str(
        stopped.value
    )
    assert [r.name for r in run.resources if r.type == "kubernetes:core/v1:ConfigMap"] == []


def test_the_declared_version_is_not_trusted_over_the_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """istio.version says 1.26.0, which passes the config check; the image says 1.24.6."""
    with pytest.raises(IstiodTooOld, match=r"runs registry.example:5000/istio/pilot:1.24.6 \(Istio 1.24.6\)"):
        reuse("registry.example:5000/istio/pilot:1.24.6", "1.26.0", monkeypatch, gateway_api=True)


def test_istio_mode_reuses_an_old_istiod_with_warnings_naming_the_skew_and_its_end_of_support(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    skew, support = reuse("docker.io/istio/pilot:1.25.2", "1.30.3", monkeypatch)
    assert skew.startswith(
        "istio.version is 1.30.3 but the existing istiod runs docker.io/istio/pilot:1.25.2 (Istio 1.25.2)"
    )
    assert support.startswith(
        "the cluster's Istio 1.25.2 is out of support since about 2025-09-19 "
        "(6 weeks after Istio 1.27.0, 2025-08-08)"
    )


def test_gateway_api_mode_on_a_supported_istiod_neither_stops_nor_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (
        reuse("gcr.io/istio-release/pilot:1.29.6-distroless", "1.29.6", monkeypatch, gateway_api=True) == []
    )


def test_a_tag_that_names_no_release_is_taken_on_trust_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [warning] = reuse("docker.io/istio/pilot@sha256:" + "a" * 64, "1.30.3", monkeypatch, gateway_api=True)
    assert warning.startswith("the existing istiod runs docker.io/istio/pilot@sha256:")
    assert "istio.version 1.30.3 is taken on trust; Gateway API mode needs istiod 1.26.0 or newer" in warning


def test_an_unread_istiod_is_judged_by_the_declared_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """An offline render has no cluster to read: the declared release is what is warned about."""
    [warning] = reuse(None, "1.28.1", monkeypatch)
    assert warning.startswith("the cluster's Istio 1.28.1 is out of support since about 2026-06-26")
    assert "upgrade it to 1.29 or 1.30 (the supported minors)" in warning
