"""What waits for what, on every shipped stack: nothing waits for a gateway, and `pulumi up` takes at
most 3 slow steps (Helm releases, Deployments) one after the other."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS, stack_run
from tools.program import HELM_RELEASE, ProgramRun, Registered
from tools.render import longest_awaited_chain

GATEWAYS = ("istio-source-ip:index:IngressGateway", "istio-source-ip:index:GatewayApiGateway")


def waits_for(run: ProgramRun, resource: Registered) -> set[str]:
    """Every URN the resource waits for, directly or through others (dependsOn and Output inputs)."""
    by_urn = {r.urn: r for r in run.resources}
    seen: set[str] = set()
    todo = [*resource.dependencies, *resource.input_dependencies]
    while todo:
        urn = todo.pop()
        if urn not in seen and urn in by_urn:
            seen.add(urn)
            todo.extend([*by_urn[urn].dependencies, *by_urn[urn].input_dependencies])
    return seen


def descendants(run: ProgramRun, ancestor_types: tuple[str, ...]) -> set[str]:
    """URNs of the components of `ancestor_types` and of everything under them."""
    by_urn = {r.urn: r for r in run.resources}

    def under(r: Registered) -> bool:
        while r is not None:
            if r.type in ancestor_types:
                return True
            r = by_urn.get(r.parent or "")  # type: ignore[assignment]
        return False

    return {r.urn for r in run.resources if under(r)}


@pytest.mark.parametrize("name", STACKS)
def test_echo_routing_and_policies_never_wait_for_a_gateway(name: str) -> None:
    run = stack_run(name)
    gateway_urns = descendants(run, GATEWAYS)
    assert gateway_urns
    others = [r for r in run.resources if r.urn not in gateway_urns and r.custom]
    assert others
    for resource in others:
        assert not waits_for(run, resource) & gateway_urns, resource.name


@pytest.mark.parametrize("name", STACKS)
def test_the_longest_chain_of_awaited_resources_is_at_most_3(name: str) -> None:
    chain = longest_awaited_chain(stack_run(name))
    assert 1 <= len(chain) <= 3, [r.name for r in chain]


@pytest.mark.parametrize("name", STACKS)
def test_each_gateway_waits_for_the_control_plane(name: str) -> None:
    run = stack_run(name)
    istiod = {r.urn for r in run.resources if r.name in ("istio-istiod", "istio-existing-istiod")}
    assert len(istiod) == 1
    gateways = [r for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    gateways += run.of_type("kubernetes:gateway.networking.k8s.io/v1:Gateway")
    assert gateways
    for gateway in gateways:
        assert istiod <= waits_for(run, gateway), gateway.name


def test_policies_and_routing_wait_only_for_the_crds_not_istiod() -> None:
    run = stack_run("gcp")
    istiod = run.named(HELM_RELEASE, "istio-istiod").urn
    base = run.named(HELM_RELEASE, "istio-base").urn
    for kind in ("AuthorizationPolicy", "Telemetry", "Gateway", "VirtualService"):
        [resource] = [r for r in run.resources if r.inputs.get("kind") == kind]
        assert base in waits_for(run, resource) and istiod not in waits_for(run, resource), kind


def test_on_metallb_the_gateway_waits_for_the_pinning() -> None:
    run = stack_run("dev")
    [release] = [r for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    pinning = {
        r.urn
        for r in run.resources
        if r.type
        in (
            "kubernetes:core/v1:NodePatch",
            "kubernetes:metallb.io/v1beta1:L2Advertisement",
            "kubernetes:metallb.io/v1beta1:IPAddressPool",
        )
    }
    assert pinning and pinning <= waits_for(run, release)


def test_the_old_design_would_have_been_caught() -> None:
    """A chain of four awaited steps (base -> istiod -> gateway -> echo) is more than 3."""
    run = stack_run("gcp")
    echo = next(r for r in run.resources if r.name == "echo-deployment")
    gateway = next(r for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway")
    coupled = ProgramRun(
        resources=[
            r
            if r is not echo
            else Registered(
                r.type,
                r.name,
                r.urn,
                r.parent,
                (*r.dependencies, gateway.urn),
                r.input_dependencies,
                r.inputs,
                r.custom,
            )
            for r in run.resources
        ]
    )
    assert len(longest_awaited_chain(coupled)) == 4
