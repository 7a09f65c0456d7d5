"""GatewayPolicies: who may reach one gateway (by client address) and access logs that show it, beside the
direct peer."""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.gateway import Deployer, policy_attach
from source_ip.observability import access_log_filter_spec
from source_ip.plan import AllowlistField, GatewayRef


class GatewayPoliciesArgs(TypedDict):
    """Inputs of one gateway's policies. They decide which objects exist, so they are plain values."""

    gateway: GatewayRef
    """The gateway the policies attach to."""
    allowlist_field: AllowlistField
    """`ipBlocks` (packet source) or `remoteIpBlocks` (PROXY header / X-Forwarded-For): the gateway's
    own `allowlist_field` output."""
    allowlist: NotRequired[list[str]]
    """Client CIDRs allowed in; empty means no AuthorizationPolicy."""
    access_logs: NotRequired[bool]
    """Envoy access logs on the gateway: Istio's line per request (an Istio Telemetry), and a JSON line per
    forwarded request with the trusted client address, the direct peer and X-Forwarded-For (an
    EnvoyFilter: needs nothing in a reused Istio's mesh config)."""
    target_gateway: NotRequired[bool]
    """Attach with `targetRefs` to the Gateway API Gateway of that name (in its namespace), instead of a
    `selector` on the pods' labels."""


class GatewayPolicies(Component):
    """An ALLOW AuthorizationPolicy on the gateway pods for the allowlisted client CIDRs, an Istio
    Telemetry that turns on Envoy access logs (the mesh's format prints the downstream address and
    X-Forwarded-For), and an EnvoyFilter whose router log adds a JSON line per forwarded request with the
    direct peer (%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%) beside them: no Telemetry provider can set that
    format without the mesh config, which a reused Istio keeps. Give it `depends_on` the Istio CRDs and
    the gateway's namespace; it does not need the gateway itself."""

    allowlist: pulumi.Output[list[str]]
    """The allowed client CIDRs, sorted."""
    allowlist_field: pulumi.Output[str]
    """The AuthorizationPolicy field they are matched against."""

    def __init__(
        self, name: str, args: GatewayPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("GatewayPolicies", name, opts)
        try:
            field = AllowlistField(args["allowlist_field"])
        except ValueError:
            raise ValueError(
                f"GatewayPolicies: allowlist_field {args['allowlist_field']!r}; allowed: "
                f"{', '.join(f.value for f in AllowlistField)}"
            ) from None
        gateway = args["gateway"]
        allowlist = sorted(args.get("allowlist") or [])
        deployer = Deployer.ISTIOD if args.get("target_gateway") else Deployer.CHART
        attach = policy_attach(gateway["name"], gateway["labels"], deployer)
        if allowlist:
            k8s.apiextensions.CustomResource(
                self.child_name("allowlist"),
                api_version="security.istio.io/v1",
                kind="AuthorizationPolicy",
                metadata={"name": f"{gateway['name']}-allowlist", "namespace": gateway["namespace"]},
                spec={
                    **attach,
                    "action": "ALLOW",
                    "rules": [{"from": [{"source": {field.value: allowlist}}]}],
                },
                opts=self.child(),
            )
        if args.get("access_logs"):
            k8s.apiextensions.CustomResource(
                self.child_name("access-logs"),
                api_version="telemetry.istio.io/v1",
                kind="Telemetry",
                metadata={"name": f"{gateway['name']}-access-logs", "namespace": gateway["namespace"]},
                spec={**attach, "accessLogging": [{"providers": [{"name": "envoy"}]}]},
                opts=self.child(),
            )
            k8s.apiextensions.CustomResource(
                self.child_name("access-log-peers"),
                api_version="networking.istio.io/v1alpha3",
                kind="EnvoyFilter",
                metadata={"name": f"{gateway['name']}-access-log-peers", "namespace": gateway["namespace"]},
                spec=access_log_filter_spec(gateway["labels"]),
                opts=self.child(),
            )
        self.allowlist = pulumi.Output.from_input(allowlist).apply(list)
        self.allowlist_field = pulumi.Output.from_input(field.value)
        self.register_outputs({"allowlist": self.allowlist, "allowlistField": self.allowlist_field})
