"""MetalLBPinning: the announcing nodes and the gateway pods are the same labelled nodes.

The DaoCloud MetalLB recipe pins both with one node label
(DaoCloud/DaoCloud-docs docs/zh/docs/network/modules/metallb/source_ip.md)."""

import ipaddress
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component, kubernetes_object
from source_ip.facts import METALLB, METALLB_CHART_VERSION, METALLB_NAMESPACE_LABELS, METALLB_RELEASE

API_VERSION = "metallb.io/v1beta1"


class MetalLBPinningArgs(TypedDict):
    """Inputs of the MetalLB pinning. They decide which objects exist, so they are plain values."""

    nodes: list[str]
    """Nodes that both run the gateway pods and announce its address."""
    node_label: dict[str, str]
    """The label put on those nodes; the L2Advertisement and the gateway's nodeSelector use it."""
    pool: str
    """The IPAddressPool whose announcements are pinned."""
    namespace: NotRequired[str]
    """MetalLB's namespace (default metallb-system)."""
    addresses: NotRequired[list[str]]
    """Non-empty: create `pool` with these addresses, for the gateway only (autoAssign off)."""
    install: NotRequired[bool]
    """Install MetalLB itself (default false)."""
    adopt_l2_advertisement: NotRequired[str | None]
    """Patch this existing L2Advertisement instead of creating one. Its `ipAddressPools` and `nodeSelectors`
    are replaced as whole lists, so it is refused at `pulumi up` (and preview) when it announces another
    pool."""


class AdoptionRefused(pulumi.RunError):
    """Adopting the named L2Advertisement would stop another pool's announcements."""


class MetalLBPinning(Component):
    """Labels the chosen nodes and restricts the pool's L2 announcements to them.

    With `externalTrafficPolicy: Local` a speaker only answers ARP from a node with a ready gateway
    pod; the gateway's `nodeSelector` (set by the plan) uses the same label, so the two cannot
    drift apart. Several L2Advertisements for one pool are unioned, so a default advertisement
    without nodeSelectors would undo this: adopt it, or give the gateway its own pool.
    Node labels are server-side-apply patches: `pulumi destroy` relinquishes them, which removes a label
    only the program set and leaves one that existed before (pulumi-kubernetes provider/pkg/ssa/actions.go).
    """

    nodes: pulumi.Output[list[str]]
    """The pinned nodes."""
    node_label: pulumi.Output[dict[str, str]]
    """The label on them."""
    pool: pulumi.Output[str]
    """The pool whose announcements are pinned."""

    def __init__(
        self, name: str, args: MetalLBPinningArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("MetalLBPinning", name, opts)
        namespace = args.get("namespace", "metallb-system")
        node_label = dict(args["node_label"])
        pool = args["pool"]
        addresses = list(args.get("addresses") or [])
        metallb_ready: list[pulumi.Resource] = []
        if args.get("install", False):
            ns = k8s.core.v1.Namespace(
                self.child_name("namespace"),
                metadata={"name": namespace, "labels": dict(sorted(METALLB_NAMESPACE_LABELS.items()))},
                opts=self.child(),
            )
            metallb_ready.append(
                self.chart_release(
                    "metallb", METALLB_RELEASE, METALLB, METALLB_CHART_VERSION, namespace, {}, depends_on=[ns]
                )
            )
        node_patches = [
            k8s.core.v1.NodePatch(
                self.child_name(f"node-label-{node}"),
                metadata={"name": node, "labels": dict(node_label)},
                opts=self.child(),
            )
            for node in args["nodes"]
        ]
        if addresses:
            metallb_ready.append(
                k8s.apiextensions.CustomResource(
                    self.child_name(f"pool-{pool}"),
                    api_version=API_VERSION,
                    kind="IPAddressPool",
                    metadata={"name": pool, "namespace": namespace},
                    spec={"addresses": [_metallb_address(a) for a in addresses], "autoAssign": False},
                    opts=self.child(depends_on=list(metallb_ready)),
                )
            )
        l2_spec = {"ipAddressPools": [pool], "nodeSelectors": [{"matchLabels": dict(node_label)}]}
        l2_opts = self.child(depends_on=[*metallb_ready, *node_patches])
        adopted = args.get("adopt_l2_advertisement")
        self.l2_advertisement: pulumi.CustomResource
        if adopted:
            current = kubernetes_object(
                f"kubernetes:{API_VERSION}:L2Advertisement",
                self.child_name(f"existing-l2-{adopted}"),
                {"metadata": None, "spec": None},
                pulumi.ResourceOptions(parent=self, id=f"{namespace}/{adopted}"),
            )
            checked_spec = pulumi.Output.all(current.metadata, current.spec).apply(  # type: ignore[attr-defined]
                lambda state: _adoptable(adopted, pool, state[0], state[1], l2_spec)
            )
            self.l2_advertisement = k8s.apiextensions.CustomResourcePatch(
                self.child_name(f"l2-{adopted}"),
                api_version=API_VERSION,
                kind="L2Advertisement",
                # Take over the fields we set even if `kubectl edit` set them before (the DaoCloud
                # recipe edits it by hand). Destroy
                # relinquishes them: as no other manager then owns them, both lists are removed.
                metadata={
                    "name": adopted,
                    "namespace": namespace,
                    "annotations": {"pulumi.com/patchForce": "true"},
                },
                spec=checked_spec,
                opts=l2_opts,
            )
        else:
            self.l2_advertisement = k8s.apiextensions.CustomResource(
                self.child_name(f"l2-{pool}-pinned"),
                api_version=API_VERSION,
                kind="L2Advertisement",
                metadata={"name": f"{pool}-pinned", "namespace": namespace},
                spec=l2_spec,
                opts=l2_opts,
            )
        self.ready: list[pulumi.Resource] = [self.l2_advertisement]
        """What a gateway pinned here must wait for: the L2Advertisement, which itself waits for the node
        labels, the pool and MetalLB (one dependency instead of one per node)."""
        self.nodes = pulumi.Output.from_input(list(args["nodes"])).apply(list)
        self.node_label = pulumi.Output.from_input(node_label).apply(dict)
        self.pool = pulumi.Output.from_input(pool)
        self.register_outputs({"nodes": self.nodes, "nodeLabel": self.node_label, "pool": self.pool})


def _adoptable(name: str, pool: str, metadata: Any, spec: Any, l2_spec: dict[str, Any]) -> dict[str, Any]:
    """The spec to apply to an adopted L2Advertisement, or AdoptionRefused when applying it would stop
    another pool's announcements (its lists are replaced whole). Unknown state (an offline render, a
    preview without the object) is not judged here; `pulumi up` reads the real object first."""
    if metadata is None:
        return l2_spec
    spec = spec or {}
    others = sorted(set(spec.get("ipAddressPools") or []) - {pool})
    if others:
        raise AdoptionRefused(
            f"metallb.adoptL2Advertisement: L2Advertisement {name} also announces {', '.join(others)}; "
            f"adopting it would replace its ipAddressPools with [{pool}] and those pools would stop being "
            f"announced. Allowed: remove {', '.join(others)} from it first, or unset adoptL2Advertisement "
            f"(the program then creates its own {pool}-pinned advertisement, which needs this one not to "
            f"announce {pool})"
        )
    if not spec.get("ipAddressPools") and not spec.get("ipAddressPoolSelectors"):
        raise AdoptionRefused(
            f"metallb.adoptL2Advertisement: L2Advertisement {name} names no pool, so it announces every "
            f"pool; adopting it would limit it to [{pool}] and every other pool would stop being announced. "
            "Allowed: unset adoptL2Advertisement and give the gateway its own pool (metallb.addresses)"
        )
    if spec.get("ipAddressPoolSelectors"):
        pulumi.log.warn(
            f"L2Advertisement {name} also selects pools by label ({spec['ipAddressPoolSelectors']}): the "
            "pools it selects are announced only from the pinned nodes from now on"
        )
    return l2_spec


def _metallb_address(address: str) -> str:
    """MetalLB wants a CIDR or a range; a single IP becomes a /32 (or /128)."""
    return address if "-" in address or "/" in address else str(ipaddress.ip_network(address))
