"""Seeing the client address being lost after the deploy (docs/observability.md), as data: Envoy's
ip_tagging filter on each gateway, the stats Istio must keep for it, the alerts, the dashboard and the
access-log format. No Pulumi resources here.

Facts about the outside world live here, each with its source: the file in the owning project at the
version the program installs (Istio 1.30.3; the Envoy Istio 1.30.3 ships, the 1.38 line: istio/proxy at
81864a1c, pinned by istio/istio 1.30.3's istio.deps).
"""

import ipaddress
import json
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from source_ip.envoy_filters import ROUTER_FILTER, http_filter_spec

# --- Envoy: the ip_tagging HTTP filter --------------------------------------------------------------
IP_TAGGING_FILTER = "envoy.filters.http.ip_tagging"
IP_TAGGING_TYPE = "type.googleapis.com/envoy.extensions.filters.http.ip_tagging.v3.IPTagging"
"""api/envoy/extensions/filters/http/ip_tagging/v3/ip_tagging.proto (fields request_type, ip_tags
{ip_tag_name, ip_list of CidrRange}, ip_tag_header in Envoy 1.38). The filter is compiled into Istio's
proxy: istio/proxy bazel/extension_config/extensions_build_config.bzl lists envoy.filters.http.ip_tagging.
It tags the address the connection manager trusts (the PROXY header's, the X-Forwarded-For entry behind
trusted hops, or the packet source): source/extensions/filters/http/ip_tagging/ip_tagging_filter.cc,
decodeHeaders, reads the stream's downstream remote address."""
IP_TAGGING_STATS = ("<tag>.hit", "no_hit", "total")
"""Counters under `http.<connection manager stat_prefix>.ip_tagging.` (ip_tagging_filter.cc: the
stats prefix is `stat_prefix + "ip_tagging"`, then `<tag>.hit`, `no_hit`, `total`; Envoy docs
docs/root/configuration/http/http_filters/ip_tagging_filter.rst, "Statistics"). `no_hit` and `total`
count every request the filter sees, so `1 - no_hit / total` is the share of tagged requests however
many tags one address carries."""
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
"""api/envoy/extensions/filters/http/router/v3/router.proto: `upstream_log`, access logs written for each
upstream request the router makes; istiod names its router envoy.filters.http.router with this type
(pilot/pkg/xds/filters/filters.go BuildRouterFilter at 1.30.3)."""

# --- Envoy: the proxy_protocol listener filter's counters -----------------------------------------
PROXY_PROTOCOL_ERROR_STATS = (
    "proxy_proto.not_found_disallowed",
    "proxy_proto.versions.v1.error",
    "proxy_proto.versions.v2.error",
)
"""Connections the proxy_protocol listener filter closed: no PROXY header where one is required, or a
malformed v1/v2 header (source/extensions/filters/listener/proxy_protocol/proxy_protocol.h,
GENERAL_PROXY_PROTOCOL_STATS and VERSIONED_PROXY_PROTOCOL_STATS, rooted at `proxy_proto.[<stat_prefix>.]`;
docs/root/configuration/listener_filters/proxy_protocol.rst). istiod adds the filter without a
stat_prefix (pilot/pkg/xds/filters/filters.go ProxyProtocol at 1.30.3: `&proxy_proto.ProxyProtocol{}`),
and so does the accept-both EnvoyFilter."""

# --- Istio: which Envoy stats a proxy keeps, and how they are named ------------------------------
PROXY_STATS_MATCHER = "proxyStatsMatcher"
STATS_INCLUSION_PREFIXES = "inclusionPrefixes"
STATS_INCLUSION_REGEXPS = "inclusionRegexps"
"""ProxyConfig.proxyStatsMatcher {inclusionPrefixes, inclusionSuffixes, inclusionRegexps} (istio/api
mesh/v1alpha1/proxy.proto at 2e43f07b, what istio/istio 1.30.3's go.mod pins), read from the pod's
proxy.istio.io/config annotation by pkg/bootstrap/config.go getStatsOptions at 1.30.3: without it a
proxy keeps only Istio's own stats and a few Envoy prefixes (requiredEnvoyStatsMatcherInclusion*), so
the ip_tagging and proxy_proto counters would never reach Prometheus. Envoy matches them against the
full stat name (tools/packaging/common/envoy_bootstrap.json `stats_matcher.inclusion_list`: prefix,
suffix and safe_regex patterns)."""
KEPT_STATS: dict[str, list[str]] = {
    STATS_INCLUSION_PREFIXES: ["proxy_proto."],
    STATS_INCLUSION_REGEXPS: [r"http\..*\.ip_tagging\..*"],
}
HCM_STAT_PREFIX = "outbound_0.0.0.0_<port>;"
"""The stat_prefix istiod gives a gateway's HTTP connection managers whose Gateway server has no
`name` (ours have none; Gateway API listeners become servers without one): `<direction>_<listener
name>` plus the delimiter `;` (pilot/pkg/networking/core/gateway.go buildGatewayListeners and
util.DelimitedStatsPrefix, pkg/config/constants StatPrefixDelimiter at 1.30.3)."""
HCM_PREFIX_TAG = "http_conn_manager_prefix"
"""Istio's bootstrap moves `<stat_prefix>;` out of the name into this tag (envoy_bootstrap.json
stats_tags at 1.30.3), so `http.outbound_0.0.0.0_8080;.ip_tagging.total` is exported as
`envoy_http_ip_tagging_total{http_conn_manager_prefix="outbound_0.0.0.0_8080"}`: Envoy's Prometheus
output names a stat `envoy_` + its tag-extracted name with every other character `_`
(source/server/admin/prometheus_stats.cc)."""
ENVOY_METRICS_PORT_NAME = "http-envoy-prom"
ENVOY_METRICS_PATH = "/stats/prometheus"
"""The istio-proxy container's port 15090, named http-envoy-prom, in both the istio/gateway chart's
pods (manifests/charts/gateway/templates/deployment.yaml) and those istiod deploys
(manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml) at 1.30.3."""
GATEWAY_LABEL = "source_ip_gateway"
"""The label the PodMonitor puts on every series of a gateway's pods: the gateway's name."""

# --- Envoy: the access log -----------------------------------------------------------------------
FILE_ACCESS_LOG = "envoy.access_loggers.file"
FILE_ACCESS_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
STDOUT = "/dev/stdout"
"""What istiod's own `envoy` provider writes (pilot/pkg/model/telemetry_logging.go DevStdout at 1.30.3)."""
ACCESS_LOG_FORMAT: dict[str, str] = {
    "start_time": "%START_TIME%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "response_code": "%RESPONSE_CODE%",
    "response_flags": "%RESPONSE_FLAGS%",
    "response_code_details": "%RESPONSE_CODE_DETAILS%",
    "authority": "%REQ(:AUTHORITY)%",
    "user_agent": "%REQ(USER-AGENT)%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "duration": "%DURATION%",
    "upstream_host": "%UPSTREAM_HOST%",
    "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "downstream_direct_remote_address": "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
    "ip_tags": "%REQ(X-ENVOY-IP-TAGS)%",
}
"""Istio's JSON access-log keys (pilot/pkg/model/telemetry_logging.go EnvoyJSONLogFormatIstio at 1.30.3)
for the request, plus the direct peer: %DOWNSTREAM_REMOTE_ADDRESS% is the client address the gateway
trusts, %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% the TCP peer (the LB, a node, a proxy or the client) and
X-Forwarded-For as the gateway forwards it (Envoy source/common/formatter/stream_info_formatter.cc
names the operators; docs/root/configuration/observability/access_log/usage.rst). ip_tags: what the
ip_tagging filter found (x-envoy-ip-tags; empty without `observability`)."""

# --- Prometheus Operator and Grafana --------------------------------------------------------------
MONITORING_API = "monitoring.coreos.com/v1"
"""PrometheusRule and PodMonitor (prometheus-operator example/prometheus-operator-crd at v0.93.0)."""
GRAFANA_DASHBOARD_LABEL = {"grafana_dashboard": "1"}
"""The label the Grafana chart's dashboard sidecar looks for by default (grafana/helm-charts
charts/grafana values.yaml sidecar.dashboards.label/labelValue)."""

# --- Addresses no real client of an internet-facing gateway connects from -------------------------
NEVER_A_CLIENT: dict[str, list[str]] = {
    "private": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    "cgnat": ["100.64.0.0/10"],
    "loopback": ["127.0.0.0/8", "::1/128"],
    "link_local": ["169.254.0.0/16", "fe80::/10"],
    "ula": ["fc00::/7"],
}
"""RFC 1918 private, RFC 6598 shared (CGNAT), loopback, link-local (RFC 3927, RFC 4291) and IPv6 unique
local (RFC 4193) ranges: a public client never arrives from them, a load balancer, node or pod does."""
CLUSTER_TAGS = {"node": "nodeCidrs", "pod": "podCidrs", "load_balancer": "loadBalancerAddresses"}
"""The tags of the cluster's own addresses, and the `observability` key that gives each."""
RATE_WINDOW = "5m"


class IpTag(TypedDict):
    """One tag of Envoy's ip_tagging filter: a counter for the requests from these CIDRs."""

    name: str
    """The tag (the counter is `<name>.hit`)."""
    cidrs: list[str]
    """The addresses it tags."""


class ObservabilityArgs(TypedDict):
    """What a gateway needs to count the client addresses that cannot be a real client."""

    ip_tags: list[IpTag]
    """The tags of Envoy's ip_tagging filter, one counter each."""


def ip_tags(node_cidrs: list[str], pod_cidrs: list[str], load_balancer_addresses: list[str]) -> list[IpTag]:
    """The tag table: the ranges no client comes from, then the cluster's own where given."""
    given = {**NEVER_A_CLIENT, "node": node_cidrs, "pod": pod_cidrs, "load_balancer": load_balancer_addresses}
    return [IpTag(name=tag, cidrs=list(cidrs)) for tag, cidrs in given.items() if cidrs]


def cidr_range(cidr: str) -> dict[str, Any]:
    """An envoy.config.core.v3.CidrRange: the prefix and its length (a UInt32Value)."""
    network = ipaddress.ip_network(cidr, strict=False)
    return {"address_prefix": str(network.network_address), "prefix_len": network.prefixlen}


def ip_tagging_config(tags: list[IpTag]) -> dict[str, Any]:
    """The filter's typed_config: every request (internal or not) tagged by its trusted client address."""
    return {
        "@type": IP_TAGGING_TYPE,
        "request_type": "BOTH",
        "ip_tags": [
            {"ip_tag_name": tag["name"], "ip_list": [cidr_range(c) for c in tag["cidrs"]]} for tag in tags
        ],
    }


def ip_tagging_filter_spec(pod_labels: dict[str, str], tags: list[IpTag]) -> dict[str, Any]:
    """EnvoyFilter spec: ip_tagging first in every HTTP connection manager of the gateway's pods, so a
    request the allowlist, the front-proxy guard or the rate limit refuses is counted too."""
    return http_filter_spec(
        pod_labels,
        "INSERT_FIRST",
        {"name": IP_TAGGING_FILTER, "typed_config": ip_tagging_config(tags)},
        at_router=False,
    )


def proxy_config_stats() -> dict[str, Any]:
    """The ProxyConfig field (for proxy.istio.io/config) that keeps the ip_tagging and proxy_proto
    counters; it joins gatewayTopology in the one annotation."""
    return {PROXY_STATS_MATCHER: {key: list(values) for key, values in KEPT_STATS.items()}}


def access_log_filter_spec(pod_labels: dict[str, str]) -> dict[str, Any]:
    """EnvoyFilter spec: the router of every HTTP connection manager of the gateway's pods writes a JSON
    line to stdout for each request it forwards, with the trusted client address, the direct peer and
    X-Forwarded-For. The router's `upstream_log` (a MERGE into istiod's router, whose Router message has
    no required field), not the connection manager's `access_log`: a partial connection manager does not
    validate, and a Telemetry provider's format lives in the mesh config, which a reused Istio keeps."""
    return http_filter_spec(
        pod_labels,
        "MERGE",
        {
            "name": ROUTER_FILTER,
            "typed_config": {
                "@type": ROUTER_TYPE,
                "upstream_log": [
                    {
                        "name": FILE_ACCESS_LOG,
                        "typed_config": {
                            "@type": FILE_ACCESS_LOG_TYPE,
                            "path": STDOUT,
                            "log_format": {"json_format": dict(ACCESS_LOG_FORMAT)},
                        },
                    }
                ],
            },
        },
        at_router=True,
    )


# --- Prometheus: what is measured, per gateway ----------------------------------------------------


def metric(stat: str) -> str:
    """The Prometheus name of an Envoy stat after Istio's tag extraction (see HCM_PREFIX_TAG)."""
    return "envoy_" + "".join(c if c.isalnum() else "_" for c in stat)


TAGGED_TOTAL = metric("http.ip_tagging.total")
UNTAGGED = metric("http.ip_tagging.no_hit")
PROXY_PROTOCOL_ERRORS = [metric(stat) for stat in PROXY_PROTOCOL_ERROR_STATS]


def tag_hits(tag: str) -> str:
    return metric(f"http.ip_tagging.{tag}.hit")


@dataclass(frozen=True)
class MonitoredGateway:
    """One gateway as the rules and the dashboard see it."""

    name: str
    namespace: str
    reads_proxy_protocol: bool
    """Its listener runs the proxy_protocol filter (strict, or accept-both while migrating)."""
    private_clients: bool = False
    """Its real clients are on private networks (an internal gateway): no ClientAddressLost."""

    def selector(self, *more: str) -> str:
        return (
            "{" + ", ".join([f'namespace="{self.namespace}"', f'{GATEWAY_LABEL}="{self.name}"', *more]) + "}"
        )


BY = f"namespace, {GATEWAY_LABEL}"


def tagged_share(selector: str) -> str:
    """Share of requests whose trusted client address carries a tag; NaN (no alert) without requests.
    Envoy creates `no_hit` at the first untagged request: while every request is tagged (the worst case)
    it does not exist, and counts as 0, not as an absent series that would silence the alert."""
    total = f"sum by ({BY}) (rate({TAGGED_TOTAL}{selector}[{RATE_WINDOW}]))"
    untagged = f"sum by ({BY}) (rate({UNTAGGED}{selector}[{RATE_WINDOW}]))"
    return f"1 - (\n    {untagged}\n    or {total} * 0\n  )\n  / {total}"


def proxy_protocol_errors(selector: str) -> str:
    """Connections a gateway closed a second for a missing or malformed PROXY header."""
    names = "|".join(PROXY_PROTOCOL_ERRORS)
    inner = selector[1:-1]
    return f'sum by ({BY}) (rate({{__name__=~"{names}", {inner}}}[{RATE_WINDOW}]))'


class RuleSettings(TypedDict):
    threshold: float
    """The share of tagged requests above which the alert fires."""
    for_: str
    """How long the share must stay above it (a Prometheus duration)."""
    runbook_url: str
    """Where the runbook is (docs/observability.md, or its address in your fork)."""
    labels: NotRequired[dict[str, str]]


CLIENT_ADDRESS_LOST = "ClientAddressLost"
PROXY_PROTOCOL_ERRORS_ALERT = "ProxyProtocolErrors"


def prometheus_rule_spec(gateway: MonitoredGateway, rules: RuleSettings) -> dict[str, Any] | None:
    """A PrometheusRule spec with the gateway's alerts: the tagged share (unless its clients are private),
    and PROXY errors where it reads PROXY headers; None when neither applies."""
    runbook = rules["runbook_url"]
    where = f"{gateway.namespace}/{gateway.name}"
    alerts: list[dict[str, Any]] = []
    if not gateway.private_clients:
        alerts.append(
            {
                "alert": CLIENT_ADDRESS_LOST,
                "expr": f"(\n  {tagged_share(gateway.selector())}\n) > {rules['threshold']:g}",
                "for": rules["for_"],
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": f"Gateway {where} sees addresses that cannot be clients",
                    "description": (
                        "{{ $value | humanizePercentage }} of the requests to gateway "
                        f"{where} came from a private, CGNAT, loopback, link-local, "
                        "ULA or cluster address: the client address is being lost before the gateway."
                    ),
                    "runbook_url": f"{runbook}#{CLIENT_ADDRESS_LOST.lower()}",
                },
            }
        )
    if gateway.reads_proxy_protocol:
        alerts.append(
            {
                "alert": PROXY_PROTOCOL_ERRORS_ALERT,
                "expr": f"{proxy_protocol_errors(gateway.selector())} > 0",
                "for": rules["for_"],
                "labels": {"severity": "warning"},
                "annotations": {
                    "summary": f"Gateway {where} refuses connections' PROXY headers",
                    "description": (
                        '{{ $value | printf "%.2f" }} connections a second to gateway '
                        f"{where} had no PROXY header or a malformed one and "
                        "were closed."
                    ),
                    "runbook_url": f"{runbook}#{PROXY_PROTOCOL_ERRORS_ALERT.lower()}",
                },
            }
        )
    if not alerts:
        return None
    return {"groups": [{"name": f"istio-source-ip.{gateway.namespace}.{gateway.name}", "rules": alerts}]}


def pod_monitor_spec(gateway: MonitoredGateway, pod_labels: dict[str, str]) -> dict[str, Any]:
    """A PodMonitor spec scraping Envoy's own metrics on the gateway's pods, each series labelled with
    the gateway's name."""
    return {
        "selector": {"matchLabels": dict(pod_labels)},
        "namespaceSelector": {"matchNames": [gateway.namespace]},
        "podMetricsEndpoints": [
            {
                "port": ENVOY_METRICS_PORT_NAME,
                "path": ENVOY_METRICS_PATH,
                "relabelings": [
                    {"action": "replace", "targetLabel": GATEWAY_LABEL, "replacement": gateway.name}
                ],
            }
        ],
    }


DASHBOARD_UID = "istio-source-ip-client-ip"
DASHBOARD_FILE = "istio-source-ip-client-ip.json"


def _panel(panel_id: int, title: str, description: str, targets: list[dict[str, Any]], **field: Any) -> dict:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 9, "w": 12, "x": 12 * ((panel_id - 1) % 2), "y": 9 * ((panel_id - 1) // 2)},
        "fieldConfig": {"defaults": field, "overrides": []},
        "targets": [
            {
                **target,
                "refId": chr(ord("A") + index),
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
            }
            for index, target in enumerate(targets)
        ],
    }


def dashboard(gateways: list[MonitoredGateway], tags: list[str], threshold: float) -> dict[str, Any]:
    """The Grafana dashboard: the tagged share, the tags, the requests seen and the PROXY errors, per
    gateway of the stack."""
    names = "|".join(sorted({g.name for g in gateways}))
    namespaces = "|".join(sorted({g.namespace for g in gateways}))
    every = "{" + f'namespace=~"{namespaces}", {GATEWAY_LABEL}=~"{names}"' + "}"
    legend = "{{namespace}}/{{" + GATEWAY_LABEL + "}}"
    panels = [
        _panel(
            1,
            "Requests from an address that cannot be a client (share)",
            "1 - no_hit/total of Envoy's ip_tagging filter: the share of requests whose client address, as "
            "the gateway trusts it, is private, CGNAT, loopback, link-local, ULA or the cluster's own. "
            f"The alert {CLIENT_ADDRESS_LOST} fires above {threshold:g}.",
            [{"expr": tagged_share(every), "legendFormat": legend}],
            unit="percentunit",
            min=0,
            max=1,
            thresholds={
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": threshold}],
            },
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        _panel(
            2,
            "Tagged requests by tag",
            "Requests a second per tag: which kind of address arrived instead of the client's.",
            [
                {
                    "expr": f"sum by ({BY}) (rate({tag_hits(tag)}{every}[{RATE_WINDOW}]))",
                    "legendFormat": f"{legend} {tag}",
                }
                for tag in tags
            ],
            unit="reqps",
        ),
        _panel(
            3,
            "Requests seen by the tagging filter",
            "Requests a second through each gateway (the share's denominator).",
            [{"expr": f"sum by ({BY}) (rate({TAGGED_TOTAL}{every}[{RATE_WINDOW}]))", "legendFormat": legend}],
            unit="reqps",
        ),
        _panel(
            4,
            "PROXY protocol errors",
            "Connections a second closed for a missing or malformed PROXY header (gateways that read PROXY "
            f"headers only). The alert {PROXY_PROTOCOL_ERRORS_ALERT} fires above 0.",
            [{"expr": proxy_protocol_errors(every), "legendFormat": legend}],
            unit="cps",
        ),
    ]
    return {
        "uid": DASHBOARD_UID,
        "title": "Client IP through the Istio gateways",
        "tags": ["istio-source-ip"],
        "schemaVersion": 39,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "panels": panels,
    }


def dashboard_json(gateways: list[MonitoredGateway], tags: list[str], threshold: float) -> str:
    return json.dumps(dashboard(gateways, tags, threshold), indent=2, sort_keys=True) + "\n"
