"""MetalLBPinning: the announcing nodes and the gateway pods are the same labelled nodes (seed 002)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.facts import METALLB, METALLB_CHART_VERSION, METALLB_NAMESPACE_LABELS, METALLB_RELEASE

API_VERSION = "metallb.io/v1beta1"


@dataclass(frozen=True)
class MetalLBPinningArgs:
    nodes: list[str]
    node_label: dict[str, str]
    pool: str
    namespace: str = "metallb-system"
    addresses: tuple[str, ...] = ()
    """Non-empty: create `pool` with these addresses, for the gateway only (autoAssign off)."""
    install: bool = False
    adopt_l2_advertisement: str | None = None
    """Patch this existing L2Advertisement (destroy removes only our fields) instead of creating one."""


class MetalLBPinning(Component):
    """Labels the chosen nodes and restricts the pool's L2 announcements to them.

    With `externalTrafficPolicy: Local` a speaker only answers ARP from a node with a ready gateway
    pod; the gateway's `nodeSelector` (set by the plan) uses the same label, so the two cannot
    drift apart. Several L2Advertisements for one pool are unioned, so a default advertisement
    without nodeSelectors would undo this: adopt it, or give the gateway its own pool.
    Node labels are server-side-apply patches and are removed again by `pulumi destroy`.
    """

    l2_advertisement: pulumi.CustomResource

    def __init__(self, name: str, args: MetalLBPinningArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("MetalLBPinning", name, opts)
        metallb_ready: list[pulumi.Resource] = []
        if args.install:
            ns = k8s.core.v1.Namespace(
                self.child_name("namespace"),
                metadata={"name": args.namespace, "labels": dict(sorted(METALLB_NAMESPACE_LABELS.items()))},
                opts=self.child(),
            )
            metallb_ready.append(
                k8s.helm.v3.Release(
                    self.child_name("metallb"),
                    k8s.helm.v3.ReleaseArgs(
                        name=METALLB_RELEASE,
                        chart=METALLB.chart,
                        version=METALLB_CHART_VERSION,
                        namespace=args.namespace,
                        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=METALLB.repository),
                        values={},
                    ),
                    opts=self.child(depends_on=[ns]),
                )
            )
        node_patches = [
            k8s.core.v1.NodePatch(
                self.child_name(f"node-label-{node}"), metadata={"name": node, "labels": dict(args.node_label)}, opts=self.child()
            )
            for node in args.nodes
        ]
        if args.addresses:
            metallb_ready.append(
                k8s.apiextensions.CustomResource(
                    self.child_name(f"pool-{args.pool}"),
                    api_version=API_VERSION,
                    kind="IPAddressPool",
                    metadata={"name": args.pool, "namespace": args.namespace},
                    spec={"addresses": [_metallb_address(a) for a in args.addresses], "autoAssign": False},
                    opts=self.child(depends_on=list(metallb_ready)),
                )
            )
        l2_spec = {"ipAddressPools": [args.pool], "nodeSelectors": [{"matchLabels": dict(args.node_label)}]}
        l2_opts = self.child(depends_on=[*metallb_ready, *node_patches])
        if args.adopt_l2_advertisement:
            self.l2_advertisement = k8s.apiextensions.CustomResourcePatch(
                self.child_name(f"l2-{args.adopt_l2_advertisement}"),
                api_version=API_VERSION,
                kind="L2Advertisement",
                # Take over the fields we set even if `kubectl edit` set them before (seed 002);
                # destroy removes exactly those fields and leaves the object.
                metadata={"name": args.adopt_l2_advertisement, "namespace": args.namespace,
                          "annotations": {"pulumi.com/patchForce": "true"}},
                spec=l2_spec,
                opts=l2_opts,
            )
        else:
            self.l2_advertisement = k8s.apiextensions.CustomResource(
                self.child_name(f"l2-{args.pool}-pinned"),
                api_version=API_VERSION,
                kind="L2Advertisement",
                metadata={"name": f"{args.pool}-pinned", "namespace": args.namespace},
                spec=l2_spec,
                opts=l2_opts,
            )
        self.register_outputs({"nodes": list(args.nodes), "nodeLabel": dict(args.node_label), "pool": args.pool})


def _metallb_address(address: str) -> str:
    """MetalLB wants a CIDR or a range; a single IP becomes a /32 (or /128)."""
    return address if "-" in address or "/" in address else str(ipaddress.ip_network(address))
