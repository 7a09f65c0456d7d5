"""MetalLBPinning alone: node labels, the pool's L2 announcements limited to the same label."""

from __future__ import annotations

from typing import cast

import pytest

from components import MetalLBPinning, MetalLBPinningArgs
from tools.program import HELM_RELEASE, run_body

LABEL = {"loadbalancerIPs.metallb.io": "arp"}  # the label of the DaoCloud MetalLB recipe


def pinning(**overrides: object):
    args = {
        "nodes": ["demo-dev-worker-03", "demo-dev-worker-04"],
        "node_label": LABEL,
        "pool": "default-pool",
        **overrides,
    }
    return run_body(lambda: MetalLBPinning("pinning", cast(MetalLBPinningArgs, args)))


def test_each_node_is_labelled_by_a_patch() -> None:
    patches = pinning().of_type("kubernetes:core/v1:NodePatch")
    assert sorted(
        (p.inputs["metadata"]["name"], p.inputs["metadata"]["labels"]["loadbalancerIPs.metallb.io"])
        for p in patches
    ) == [("demo-dev-worker-03", "arp"), ("demo-dev-worker-04", "arp")]


def test_l2_advertisement_announces_the_pool_only_from_labelled_nodes() -> None:
    run = pinning()
    [l2] = run.k8s_objects("L2Advertisement")
    assert l2["apiVersion"] == "metallb.io/v1beta1"
    assert l2["metadata"]["namespace"] == "metallb-system"
    assert l2["spec"]["ipAddressPools"] == ["default-pool"]
    assert l2["spec"]["nodeSelectors"] == [{"matchLabels": LABEL}]
    [l2_resource] = [r for r in run.resources if r.inputs.get("kind") == "L2Advertisement"]
    node_patch_urns = {r.urn for r in run.of_type("kubernetes:core/v1:NodePatch")}
    assert node_patch_urns <= set(l2_resource.dependencies)


def test_existing_l2_advertisement_is_adopted_with_a_patch() -> None:
    run = pinning(adopt_l2_advertisement="default-l2advertisement")
    assert run.k8s_objects("L2Advertisement") == []
    [patch] = run.of_type("kubernetes:metallb.io/v1beta1:L2AdvertisementPatch")
    assert patch.inputs["metadata"] == {
        "name": "default-l2advertisement",
        "namespace": "metallb-system",
        "annotations": {"pulumi.com/patchForce": "true"},
    }
    assert patch.inputs["spec"]["nodeSelectors"] == [{"matchLabels": LABEL}]


def test_dedicated_pool_from_addresses_single_ips_become_host_networks() -> None:
    run = pinning(addresses=("192.168.10.7", "192.168.20.0/28", "192.168.30.10-192.168.30.20", "2001:db8::5"))
    [pool] = run.k8s_objects("IPAddressPool")
    assert pool["metadata"]["name"] == "default-pool"
    assert pool["spec"] == {
        "addresses": ["192.168.10.7/32", "192.168.20.0/28", "192.168.30.10-192.168.30.20", "2001:db8::5/128"],
        "autoAssign": False,
    }


def test_no_pool_object_without_addresses() -> None:
    assert pinning().k8s_objects("IPAddressPool") == []


def test_install_adds_metallb_release_in_a_privileged_namespace() -> None:
    run = pinning(install=True, addresses=("172.18.255.200-172.18.255.250",))
    [release] = run.of_type(HELM_RELEASE)
    assert (release.inputs["chart"], release.inputs["repositoryOpts"]["repo"]) == (
        "metallb",
        "https://metallb.github.io/metallb",
    )
    assert release.inputs["version"].count(".") == 2
    [ns] = run.k8s_objects("Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    [pool] = [r for r in run.resources if r.inputs.get("kind") == "IPAddressPool"]
    assert release.urn in pool.dependencies


def test_nothing_installed_by_default() -> None:
    run = pinning()
    assert run.of_type(HELM_RELEASE) == [] and run.k8s_objects("Namespace") == []


L2_READ = "kubernetes:metallb.io/v1beta1:L2Advertisement::metallb-system/default-l2advertisement"


def adopt(current_spec: dict | None, pool: str = "default-pool"):
    """Adopt default-l2advertisement whose current spec the (mock) cluster returns."""
    args = MetalLBPinningArgs(
        nodes=["w1"], node_label={"pin": "yes"}, pool=pool, adopt_l2_advertisement="default-l2advertisement"
    )
    state = {"metadata": {"name": "default-l2advertisement"}, "spec": current_spec}
    return run_body(lambda: MetalLBPinning("pin", args), reads={L2_READ: state})


@pytest.mark.parametrize(
    "current",
    [
        {"ipAddressPools": ["default-pool"]},
        {"ipAddressPools": ["default-pool"], "nodeSelectors": [{"matchLabels": {"old": "x"}}]},
        {"ipAddressPoolSelectors": [{"matchLabels": {"l2.ipaddress-pool.metallb.io": "default-pool"}}]},
    ],
)
def test_adopting_an_advertisement_of_only_the_gateways_pool_patches_it(current: dict) -> None:
    [patch] = adopt(current).of_type("kubernetes:metallb.io/v1beta1:L2AdvertisementPatch")
    assert patch.inputs["spec"] == {
        "ipAddressPools": ["default-pool"],
        "nodeSelectors": [{"matchLabels": {"pin": "yes"}}],
    }


@pytest.mark.parametrize(
    ("current", "message"),
    [
        (
            {"ipAddressPools": ["default-pool", "other-pool"]},
            "L2Advertisement default-l2advertisement also announces "
            "other-pool; adopting it would replace its ipAddressPools with [default-pool]",
        ),
        ({}, "L2Advertisement default-l2advertisement names no pool, so it announces every pool"),
        (None, "L2Advertisement default-l2advertisement names no pool, so it announces every pool"),
    ],
)
def test_adopting_an_advertisement_that_announces_other_pools_is_refused(
    current: dict | None, message: str
) -> None:
    from components.metallb_pinning import AdoptionRefused

    with pytest.raises(AdoptionRefused, match="metallb.adoptL2Advertisement: " + message.replace("[", r"\[")):
        adopt(current)
