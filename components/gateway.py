"""What every kind of gateway component shares, built once: the front-proxy guard (before the gateway),
the accept-both, rate-limit and client-ip-tags EnvoyFilters and the outputs."""

from collections.abc import Callable

import pulumi

from components.base import Component
from source_ip.gateway import GatewayDecisions, GatewaySettings
from source_ip.plan import GatewayRef


class GatewayComponent(Component):
    """A gateway component: its renderer creates the gateway, then `_finish` adds the rest.

    No class annotations here: the component package reads every annotation along the MRO as an
    output, so each kind of gateway declares its four outputs (with their docstrings) itself."""

    def _start(self, decisions: GatewayDecisions) -> None:
        """Keep the decisions; behind a front proxy, create the direct-peer guard first, and make every
        later child (the release, or the parameters and the Gateway) wait for it: no pod trusts the
        proxy's X-Forwarded-For hop before the DENY on every other peer exists."""
        self.decisions: GatewayDecisions = decisions
        self.settings: GatewaySettings = decisions.settings
        self.ref: GatewayRef = decisions.ref
        if decisions.front_proxy_guard is not None:
            guard = self.custom_resource(
                "front-proxy-guard",
                "security.istio.io/v1",
                "AuthorizationPolicy",
                decisions.front_proxy_guard_name,
                self.settings.namespace,
                decisions.front_proxy_guard,
            )
            self._depends_on = [*self._depends_on, guard]

    def _finish(self, address: Callable[[], pulumi.Output[str | None]]) -> None:
        """The EnvoyFilter that accepts both while migrating, then the outputs every gateway has: its
        address (`address()` is called after the filter exists), its pods' labels and how it sees the
        client."""
        decisions = self.decisions
        filters = [
            ("accept-both", decisions.accept_both_filter_name, decisions.accept_both_filter),
            ("rate-limit", decisions.rate_limit_filter_name, decisions.rate_limit_filter),
            ("client-ip-tags", decisions.ip_tagging_filter_name, decisions.ip_tagging_filter),
        ]
        for suffix, name, spec in filters:
            if spec is not None:
                self.custom_resource(
                    suffix, "networking.istio.io/v1alpha3", "EnvoyFilter", name, self.settings.namespace, spec
                )
        self.address = address()
        self.labels = pulumi.Output.from_input(decisions.pod_labels)
        self.allowlist_field = pulumi.Output.from_input(str(decisions.allowlist_field))
        self.client_address_source = pulumi.Output.from_input(str(decisions.client_address_source))
        self.register_outputs(
            {
                "address": self.address,
                "labels": self.labels,
                "allowlistField": self.allowlist_field,
                "clientAddressSource": self.client_address_source,
            }
        )
