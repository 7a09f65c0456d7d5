"""ClientIpMonitoring: the alerts, the dashboard and the scrape of the counters that show a client address
being lost (docs/observability.md). The counters themselves come from each gateway's ip_tagging
EnvoyFilter and its proxy-config stats matcher (source_ip/gateway.py decide)."""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.base import Component
from source_ip.observability import (
    DASHBOARD_FILE,
    GRAFANA_DASHBOARD_LABEL,
    MONITORING_API,
    MonitoredGateway,
    RuleSettings,
    dashboard_json,
    pod_monitor_spec,
    prometheus_rule_spec,
)


class WatchedGateway(TypedDict):
    """One gateway whose counters are scraped and alerted on."""

    name: str
    """The gateway's name (its release, or its Gateway API Gateway): the series' source_ip_gateway label."""
    namespace: str
    """The gateway's namespace: the PodMonitor and PrometheusRule go there."""
    labels: dict[str, str]
    """The labels of the gateway's pods (the gateway's `labels` output)."""
    reads_proxy_protocol: bool
    """The gateway's listener runs the proxy_protocol filter: it gets the ProxyProtocolErrors alert."""
    private_clients: NotRequired[bool]
    """Its real clients are on private networks (an internal gateway): no ClientAddressLost alert."""


class ClientIpMonitoringArgs(TypedDict):
    """Inputs of the client-address monitoring. They decide which objects exist, so they are plain values."""

    gateways: list[WatchedGateway]
    """The gateways to watch (at least one)."""
    tags: list[str]
    """The ip_tagging tags the gateways count (the dashboard draws one line per tag)."""
    alerts: NotRequired[bool]
    """A PrometheusRule per gateway (ClientAddressLost, and ProxyProtocolErrors where it reads PROXY)."""
    dashboard: NotRequired[bool]
    """The Grafana dashboard ConfigMap (labelled grafana_dashboard: "1")."""
    pod_monitor: NotRequired[bool]
    """A PodMonitor per gateway that scrapes Envoy's metrics and adds the source_ip_gateway label."""
    threshold: NotRequired[float]
    """The tagged share above which ClientAddressLost fires (default 0.05)."""
    for_duration: NotRequired[str]
    """How long a condition lasts before its alert fires (default 15m)."""
    runbook_url: NotRequired[str]
    """Where the alerts' runbook is (default docs/observability.md)."""
    labels: NotRequired[dict[str, str]]
    """Labels on the PrometheusRules and PodMonitors (your Prometheus' selectors)."""
    dashboard_namespace: NotRequired[str]
    """The namespace of the dashboard ConfigMap (default istio-system); it must exist."""


class ClientIpMonitoring(Component):
    """Per gateway a PodMonitor (Envoy's metrics, labelled with the gateway's name) and a PrometheusRule;
    one Grafana dashboard ConfigMap for all of them. Give it `depends_on` the gateways' namespaces; it
    needs the Prometheus Operator's CRDs in the cluster, and nothing needs it."""

    dashboard_name: pulumi.Output[str | None]
    """The dashboard ConfigMap's name, None without a dashboard."""

    def __init__(
        self, name: str, args: ClientIpMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ClientIpMonitoring", name, opts)
        if not args["gateways"]:
            raise ValueError("ClientIpMonitoring: gateways is empty; allowed: at least one gateway to watch")
        threshold = args.get("threshold", 0.05)
        rules = RuleSettings(
            threshold=threshold,
            for_=args.get("for_duration", "15m"),
            runbook_url=args.get("runbook_url", "docs/observability.md"),
        )
        labels = dict(args.get("labels") or {})
        watched = [
            MonitoredGateway(
                g["name"], g["namespace"], g["reads_proxy_protocol"], g.get("private_clients", False)
            )
            for g in args["gateways"]
        ]
        for gateway, given in zip(watched, args["gateways"], strict=True):
            metadata = {"name": f"{gateway.name}-client-ip", "namespace": gateway.namespace, "labels": labels}
            if args.get("pod_monitor", True):
                k8s.apiextensions.CustomResource(
                    self.child_name(f"{gateway.name}-pod-monitor"),
                    api_version=MONITORING_API,
                    kind="PodMonitor",
                    metadata=metadata,
                    spec=pod_monitor_spec(gateway, given["labels"]),
                    opts=self.child(),
                )
            rule = prometheus_rule_spec(gateway, rules) if args.get("alerts") else None
            if rule is not None:
                k8s.apiextensions.CustomResource(
                    self.child_name(f"{gateway.name}-rules"),
                    api_version=MONITORING_API,
                    kind="PrometheusRule",
                    metadata=metadata,
                    spec=rule,
                    opts=self.child(),
                )
        dashboard_name = None
        if args.get("dashboard"):
            dashboard_name = self.child_name("dashboard")
            k8s.core.v1.ConfigMap(
                self.child_name("dashboard"),
                metadata={
                    "name": dashboard_name,
                    "namespace": args.get("dashboard_namespace", "istio-system"),
                    "labels": dict(GRAFANA_DASHBOARD_LABEL),
                },
                data={DASHBOARD_FILE: dashboard_json(watched, list(args["tags"]), threshold)},
                opts=self.child(),
            )
        self.dashboard_name = pulumi.Output.from_input(dashboard_name)
        self.register_outputs({"dashboardName": self.dashboard_name})
