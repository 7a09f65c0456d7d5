"""`pulumi destroy` leaves the cluster as it was: what existed before is only ever patched.

Patch resources (NodePatch, NamespacePatch, CustomResourcePatch) apply server-side with their
own field manager; on destroy pulumi-kubernetes removes exactly the fields they set. Objects the
program creates are deleted. So nothing that existed before may be a created object here.
"""

from __future__ import annotations

import pytest

from source_ip.facts import ALWAYS_PRESENT_NAMESPACES
from tests.conftest import STACKS, cached_run, raw, stack_run

PREEXISTING_KINDS = {"Node"}


@pytest.mark.parametrize("name", STACKS)
def test_preexisting_objects_are_patched_never_created(name: str) -> None:
    run = stack_run(name)
    created = [
        r.inputs
        for r in run.resources
        if r.custom and not r.read_id and not r.is_patch and "kind" in r.inputs
    ]
    assert not [o for o in created if o["kind"] in PREEXISTING_KINDS]
    assert not [
        o for o in created if o["kind"] == "Namespace" and o["metadata"]["name"] in ALWAYS_PRESENT_NAMESPACES
    ]


@pytest.mark.parametrize("namespace", sorted(ALWAYS_PRESENT_NAMESPACES))
def test_namespaces_every_cluster_has_are_never_created_wherever_they_are_used(namespace: str) -> None:
    run = cached_run(
        raw("gcp", gateways=[{"name": "edge", "namespace": namespace}], echo={"namespace": "apps"})
    )
    assert namespace not in [n["metadata"]["name"] for n in run.k8s_objects("Namespace")]
    run = cached_run(raw("gcp", echo={"namespace": namespace}))
    assert namespace not in [n["metadata"]["name"] for n in run.k8s_objects("Namespace")]


def test_a_reused_control_planes_namespace_is_never_created() -> None:
    run = cached_run(raw("gcp", istio={"install": False}, gateway={"namespace": "istio-system"}))
    assert run.k8s_objects("Namespace") == []


def test_no_namespace_the_program_did_not_create_is_labelled() -> None:
    """Labelling a shared namespace for injection would give every workload there a sidecar."""
    for name in STACKS:
        assert stack_run(name).of_type("kubernetes:core/v1:NamespacePatch") == [], name


def test_node_labels_are_patches_that_destroy_removes() -> None:
    run = stack_run("metallb")
    patches = run.of_type("kubernetes:core/v1:NodePatch")
    assert {p.inputs["metadata"]["name"] for p in patches} == {"demo-dev-worker-03", "demo-dev-worker-04"}
    assert all(set(p.inputs["metadata"]) == {"name", "labels"} for p in patches)  # only the labels are ours


def test_existing_metallb_is_adopted_not_replaced() -> None:
    run = stack_run("metallb")
    assert "metallb" not in [r.inputs["chart"] for r in run.of_type("kubernetes:helm.sh/v3:Release")]
    assert run.k8s_objects("L2Advertisement") == [] and run.k8s_objects("IPAddressPool") == []
    assert [
        p.inputs["metadata"]["name"]
        for p in run.of_type("kubernetes:metallb.io/v1beta1:L2AdvertisementPatch")
    ] == ["default-l2advertisement"]


def test_without_adoption_the_program_owns_its_own_advertisement() -> None:
    run = cached_run(raw("metallb", metallb={"nodes": ["n1"], "pool": "gw"}))
    [l2] = run.k8s_objects("L2Advertisement")
    assert l2["metadata"]["name"] == "gw-pinned"
    assert run.of_type("kubernetes:metallb.io/v1beta1:L2AdvertisementPatch") == []
