"""GatewayPolicies: who may reach one gateway (by client address) and access logs that show it."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.facts import GATEWAY_API_GROUP
from source_ip.plan import GatewayRef


@dataclass(frozen=True)
class GatewayPoliciesArgs:
    gateway: GatewayRef
    allowlist_field: str
    """`ipBlocks` (packet source) or `remoteIpBlocks` (PROXY header / X-Forwarded-For): the gateway's
    `IngressGateway.allowlist_field`."""
    allowlist: list[str] = field(default_factory=list)
    """Client CIDRs allowed in; empty means no AuthorizationPolicy."""
    access_logs: bool = False
    target_gateway: bool = False
    """Attach with `targetRefs` to the Gateway API Gateway of that name (in its namespace), instead of a
    `selector` on the pods' labels."""

    def __post_init__(self) -> None:
        if self.allowlist_field not in ("ipBlocks", "remoteIpBlocks"):
            raise ValueError(f"GatewayPolicies: allowlist_field {self.allowlist_field!r}; allowed: ipBlocks, remoteIpBlocks")


class GatewayPolicies(Component):
    """An ALLOW AuthorizationPolicy on the gateway pods for the allowlisted client CIDRs, and an
    Istio Telemetry that turns on Envoy access logs (the default format prints the downstream
    address and X-Forwarded-For). Give it `depends_on` the Istio CRDs and the gateway's namespace;
    it does not need the gateway itself."""

    def __init__(self, name: str, args: GatewayPoliciesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("GatewayPolicies", name, opts)
        gateway = args.gateway
        attach: dict[str, object] = (
            {"targetRefs": [{"group": GATEWAY_API_GROUP, "kind": "Gateway", "name": gateway.name}]}
            if args.target_gateway
            else {"selector": {"matchLabels": dict(gateway.labels)}}
        )
        if args.allowlist:
            k8s.apiextensions.CustomResource(
                self.child_name("allowlist"),
                api_version="security.istio.io/v1",
                kind="AuthorizationPolicy",
                metadata={"name": f"{gateway.name}-allowlist", "namespace": gateway.namespace},
                spec={
                    **attach,
                    "action": "ALLOW",
                    "rules": [{"from": [{"source": {args.allowlist_field: sorted(args.allowlist)}}]}],
                },
                opts=self.child(),
            )
        if args.access_logs:
            k8s.apiextensions.CustomResource(
                self.child_name("access-logs"),
                api_version="telemetry.istio.io/v1",
                kind="Telemetry",
                metadata={"name": f"{gateway.name}-access-logs", "namespace": gateway.namespace},
                spec={**attach, "accessLogging": [{"providers": [{"name": "envoy"}]}]},
                opts=self.child(),
            )
        self.register_outputs({"allowlist": sorted(args.allowlist), "allowlistField": args.allowlist_field})
