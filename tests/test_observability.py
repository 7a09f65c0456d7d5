"""observability: the ip_tagging counters on each gateway (both routing modes), their stats kept in the one
proxy-config annotation, the PodMonitors, the alerts (run through promtool on synthetic series), the
dashboard, and access logs with the direct peer."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from source_ip.config import ConfigError, parse_config
from source_ip.facts import GATEWAY_NAME_POD_LABEL, PROXY_CONFIG_ANNOTATION, gateway_selector_labels
from source_ip.observability import (
    ACCESS_LOG_FORMAT,
    IP_TAGGING_FILTER,
    IP_TAGGING_TYPE,
    NEVER_A_CLIENT,
    PROXY_PROTOCOL_ERRORS,
    TAGGED_TOTAL,
    UNTAGGED,
    metric,
)
from tests.conftest import cached_run, problems_of, raw, stack_run
from tools.program import ProgramRun

TWO_GATEWAYS = [
    {"name": "public", "namespace": "istio-ingress", "sourceIp": "proxy-protocol"},
    {"name": "internal", "namespace": "istio-ingress", "sourceIp": "local"},
]
WATCH = {
    "alerts": True,
    "dashboard": True,
    "nodeCidrs": ["10.0.0.0/16"],
    "podCidrs": ["10.244.0.0/16"],
    "loadBalancerAddresses": ["203.0.113.10/32"],
    "threshold": 0.1,
    "for": "10m",
}


def watched(routing: str, **keys: Any) -> ProgramRun:
    keys = {"observability": WATCH, **keys}
    return cached_run(raw("aws-nlb", routing=routing, gateways=TWO_GATEWAYS, **keys))


def pod_labels(routing: str, name: str) -> dict[str, str]:
    return gateway_selector_labels(name) if routing == "istio" else {GATEWAY_NAME_POD_LABEL: name}


def proxy_config(run: ProgramRun, routing: str, name: str) -> dict[str, Any]:
    """The gateway pods' proxy.istio.io/config, from the chart values or the Gateway's parameters."""
    if routing == "istio":
        annotations = run.release(name)["values"]["podAnnotations"]
    else:
        [params] = [
            c for c in run.k8s_objects("ConfigMap") if c["metadata"]["name"] == f"{name}-gateway-params"
        ]
        deployment = yaml.safe_load(params["data"]["deployment"])
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert [k for k in annotations if k == PROXY_CONFIG_ANNOTATION] == [PROXY_CONFIG_ANNOTATION]
    return json.loads(annotations[PROXY_CONFIG_ANNOTATION])


def by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects}


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_each_gateway_tags_client_addresses_that_cannot_be_clients_first_in_its_connection_managers(
    routing: str,
) -> None:
    filters = by_name(watched(routing).k8s_objects("EnvoyFilter"))
    for name in ("public", "internal"):
        spec = filters[f"{name}-client-ip-tags"]["spec"]
        assert spec["workloadSelector"] == {"labels": pod_labels(routing, name)}
        [patch] = spec["configPatches"]
        assert patch["applyTo"] == "HTTP_FILTER" and patch["patch"]["operation"] == "INSERT_FIRST"
        assert patch["match"]["context"] == "GATEWAY"
        value = patch["patch"]["value"]
        assert value["name"] == IP_TAGGING_FILTER
        config = value["typed_config"]
        assert config["@type"] == IP_TAGGING_TYPE and config["request_type"] == "BOTH"
        tags = {t["ip_tag_name"]: t["ip_list"] for t in config["ip_tags"]}
        assert set(tags) == {*NEVER_A_CLIENT, "node", "pod", "load_balancer"}
        assert {"address_prefix": "100.64.0.0", "prefix_len": 10} in tags["cgnat"]
        assert {"address_prefix": "fc00::", "prefix_len": 7} in tags["ula"]
        assert tags["load_balancer"] == [{"address_prefix": "203.0.113.10", "prefix_len": 32}]
        assert tags["pod"] == [{"address_prefix": "10.244.0.0", "prefix_len": 16}]


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_the_stats_matcher_joins_gateway_topology_in_the_one_proxy_config_annotation(routing: str) -> None:
    run = watched(routing)
    public, internal = proxy_config(run, routing, "public"), proxy_config(run, routing, "internal")
    kept = {"inclusionPrefixes": ["proxy_proto."], "inclusionRegexps": [r"http\..*\.ip_tagging\..*"]}
    assert public == {"gatewayTopology": {"proxyProtocol": {}}, "proxyStatsMatcher": kept}
    assert internal == {"proxyStatsMatcher": kept}


def test_without_alerts_or_a_dashboard_nothing_is_counted_and_the_annotation_is_as_before() -> None:
    plain = cached_run(raw("aws-nlb", gateways=TWO_GATEWAYS))
    quiet = cached_run(raw("aws-nlb", gateways=TWO_GATEWAYS, observability={"nodeCidrs": ["10.0.0.0/16"]}))
    for run in (plain, quiet):
        assert not [
            f for f in run.k8s_objects("EnvoyFilter") if f["metadata"]["name"].endswith("client-ip-tags")
        ]
        assert run.k8s_objects("PrometheusRule") == run.k8s_objects("PodMonitor") == []
        assert proxy_config(run, "istio", "public") == {"gatewayTopology": {"proxyProtocol": {}}}
        assert PROXY_CONFIG_ANNOTATION not in run.release("internal")["values"].get("podAnnotations", {})


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_a_pod_monitor_per_gateway_scrapes_envoy_and_labels_the_series_with_the_gateway(routing: str) -> None:
    monitors = by_name(watched(routing).k8s_objects("PodMonitor"))
    assert set(monitors) == {"public-client-ip", "internal-client-ip"}
    spec = monitors["public-client-ip"]["spec"]
    assert monitors["public-client-ip"]["metadata"]["namespace"] == "istio-ingress"
    assert spec["selector"] == {"matchLabels": pod_labels(routing, "public")}
    assert spec["namespaceSelector"] == {"matchNames": ["istio-ingress"]}
    [endpoint] = spec["podMetricsEndpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http-envoy-prom", "/stats/prometheus")
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "source_ip_gateway", "replacement": "public"}
    ]


def test_the_proxy_protocol_alert_exists_only_where_the_gateway_reads_proxy_headers() -> None:
    rules = by_name(watched("istio").k8s_objects("PrometheusRule"))
    assert alert_names(watched("istio")) == {
        "public-client-ip": ["ClientAddressLost", "ProxyProtocolErrors"],
        "internal-client-ip": ["ClientAddressLost"],
    }
    [group] = rules["public-client-ip"]["spec"]["groups"]
    lost, errors = group["rules"]
    assert lost["for"] == errors["for"] == "10m"
    assert lost["annotations"]["runbook_url"] == "docs/observability.md#clientaddresslost"
    assert errors["annotations"]["runbook_url"] == "docs/observability.md#proxyprotocolerrors"
    assert 'source_ip_gateway="public"' in lost["expr"] and "> 0.1" in lost["expr"]


def test_the_dashboard_is_a_labelled_config_map_with_the_share_the_tags_and_the_proxy_errors() -> None:
    run = watched("gateway-api", observability={**WATCH, "dashboardNamespace": "monitoring"})
    [board] = [c for c in run.k8s_objects("ConfigMap") if c["metadata"]["name"].endswith("dashboard")]
    assert board["metadata"]["labels"] == {"grafana_dashboard": "1"}
    assert board["metadata"]["namespace"] == "monitoring"
    [text] = board["data"].values()
    dashboard = json.loads(text)
    exprs = {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}
    [share] = exprs["Requests from an address that cannot be a client (share)"]
    assert UNTAGGED in share and TAGGED_TOTAL in share and 'source_ip_gateway=~"internal|public"' in share
    assert len(exprs["Tagged requests by tag"]) == len({*NEVER_A_CLIENT, "node", "pod", "load_balancer"})
    assert any(metric("http.ip_tagging.load_balancer.hit") in e for e in exprs["Tagged requests by tag"])
    [errors] = exprs["PROXY protocol errors"]
    assert all(name in errors for name in PROXY_PROTOCOL_ERRORS)


@pytest.mark.parametrize(
    ("routing", "install"), [("istio", True), ("gateway-api", True), ("istio", False), ("gateway-api", False)]
)
def test_access_logs_print_the_direct_peer_beside_the_client_address_and_x_forwarded_for(
    routing: str, install: bool
) -> None:
    run = cached_run(
        raw("aws-nlb", routing=routing, gateways=TWO_GATEWAYS, accessLogs=True, istio={"install": install})
    )
    filters = by_name(run.k8s_objects("EnvoyFilter"))
    spec = filters["public-access-log-peers"]["spec"]
    assert spec["workloadSelector"] == {"labels": pod_labels(routing, "public")}
    [patch] = spec["configPatches"]
    assert (patch["applyTo"], patch["patch"]["operation"]) == ("HTTP_FILTER", "MERGE")
    assert patch["match"]["listener"]["filterChain"]["filter"]["subFilter"] == {
        "name": "envoy.filters.http.router"
    }
    [log] = patch["patch"]["value"]["typed_config"]["upstream_log"]
    fields = log["typed_config"]["log_format"]["json_format"]
    assert fields["downstream_direct_remote_address"] == "%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%"
    assert fields["downstream_remote_address"] == "%DOWNSTREAM_REMOTE_ADDRESS%"
    assert fields["x_forwarded_for"] == "%REQ(X-FORWARDED-FOR)%"
    assert fields == ACCESS_LOG_FORMAT
    assert log["typed_config"]["path"] == "/dev/stdout"
    assert len(run.k8s_objects("Telemetry")) == 2  # Istio's own line stays, for every request


def alert_names(run: ProgramRun) -> dict[str, list[str]]:
    return {
        r["metadata"]["name"]: [rule["alert"] for group in r["spec"]["groups"] for rule in group["rules"]]
        for r in run.k8s_objects("PrometheusRule")
    }


def test_an_internal_gateway_gets_no_client_address_lost_alert_but_keeps_its_proxy_errors_alert() -> None:
    internal_proxy = [{**gateway, "sourceIp": "proxy-protocol"} for gateway in TWO_GATEWAYS]
    run = cached_run(
        raw("aws-nlb", gateways=internal_proxy, observability={**WATCH, "internalGateways": ["internal"]})
    )
    assert alert_names(run) == {
        "public-client-ip": ["ClientAddressLost", "ProxyProtocolErrors"],
        "internal-client-ip": ["ProxyProtocolErrors"],
    }
    assert len(run.k8s_objects("PodMonitor")) == 2
    passthrough = cached_run(
        raw("aws-nlb", gateways=TWO_GATEWAYS, observability={**WATCH, "internalGateways": ["internal"]})
    )
    assert alert_names(passthrough) == {"public-client-ip": ["ClientAddressLost", "ProxyProtocolErrors"]}


def test_the_shipped_observability_stacks_watch_both_gateways() -> None:
    for stack in ("observability", "observability-gateway-api"):
        run = stack_run(stack)
        assert alert_names(run) == {"public-client-ip": ["ClientAddressLost", "ProxyProtocolErrors"]}
        assert len(run.k8s_objects("PodMonitor")) == 2
        for watched_object in run.k8s_objects("PrometheusRule") + run.k8s_objects("PodMonitor"):
            assert watched_object["metadata"]["labels"] == {"release": "kube-prometheus-stack"}


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"threshold": 1.5}, "observability.threshold: is not a share between 0 and 1"),
        ({"for": "15"}, "observability.for"),
        ({"alert": True}, "observability.alert"),
        ({"nodeCidrs": ["10.0.0.1/8"]}, "observability.nodeCidrs"),
        ({"runbookUrl": "docs/x.md#y"}, "observability.runbookUrl"),
        ({"internalGateways": ["edge"]}, "observability.internalGateways[0]"),
    ],
)
def test_a_bad_observability_value_is_refused_naming_its_key(value: dict[str, Any], fragment: str) -> None:
    [problem] = problems_of(raw("aws-nlb", observability=value))
    assert fragment in problem


def test_a_good_observability_section_parses() -> None:
    config = parse_config(raw("aws-nlb", observability=WATCH))
    assert config.observability.counts and config.observability.for_ == "10m"
    with pytest.raises(ConfigError):
        parse_config(raw("aws-nlb", observability={**WATCH, "threshold": 0}))


# --- the alerts, evaluated by promtool on synthetic series ----------------------------------------

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package prometheus; .ci/run installs it)"
)


def series(name: str, gateway: str, values: str) -> dict[str, str]:
    labels = f'namespace="istio-ingress", source_ip_gateway="{gateway}", pod="{gateway}-abc"'
    return {"series": f"{name}{{{labels}}}", "values": values}


def public_rules() -> dict[str, Any]:
    [rule] = [
        r
        for r in watched("istio").k8s_objects("PrometheusRule")
        if r["metadata"]["name"] == "public-client-ip"
    ]
    return rule


def rendered_annotations(alert: str, value: str) -> dict[str, str]:
    """The alert's rendered annotations with `value` where the template prints $value."""
    [rule] = [r for g in public_rules()["spec"]["groups"] for r in g["rules"] if r["alert"] == alert]
    found = rule["annotations"]
    for template in ("{{ $value | humanizePercentage }}", '{{ $value | printf "%.2f" }}'):
        found = {k: v.replace(template, value) for k, v in found.items()}
    return found


def promtool_test(tmp_path: Path, alerts: list[dict[str, Any]], input_series: list[dict[str, str]]) -> int:
    """Run `promtool test rules` on the rendered rules of the public gateway; its exit status."""
    rule = public_rules()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": input_series, "alert_rule_test": alerts}],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test), encoding="utf-8")
    done = subprocess.run(
        [str(PROMTOOL), "test", "rules", "test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode


LOST_LABELS = {"severity": "warning", "namespace": "istio-ingress", "source_ip_gateway": "public"}


def lost_at(minutes: int, firing: bool, share: str = "90%") -> dict[str, Any]:
    alerts = (
        [{"exp_labels": LOST_LABELS, "exp_annotations": rendered_annotations("ClientAddressLost", share)}]
        if firing
        else []
    )
    return {"eval_time": f"{minutes}m", "alertname": "ClientAddressLost", "exp_alerts": alerts}


@needs_promtool
def test_client_address_lost_fires_when_most_requests_come_from_tagged_addresses(tmp_path: Path) -> None:
    # 100 requests a minute, 90 of them from tagged addresses: a 90 % share.
    traffic = [series(TAGGED_TOTAL, "public", "0+100x40"), series(UNTAGGED, "public", "0+10x40")]
    # Above 10 % from the first rate on; the alert is pending for `for: 10m`, then fires.
    assert promtool_test(tmp_path, [lost_at(8, False), lost_at(30, True)], traffic) == 0
    # The same series with the opposite expectation fails: the test can tell.
    assert promtool_test(tmp_path, [lost_at(30, False)], traffic) == 1


@needs_promtool
def test_client_address_lost_fires_when_every_request_is_tagged_and_no_hit_was_never_created(
    tmp_path: Path,
) -> None:
    # Envoy creates the no_hit counter at the first untagged request: here there is none.
    everything_lost = [series(TAGGED_TOTAL, "public", "0+100x40")]
    assert promtool_test(tmp_path, [lost_at(30, True, share="100%")], everything_lost) == 0


@needs_promtool
def test_client_address_lost_stays_quiet_at_a_zero_share_and_without_traffic(tmp_path: Path) -> None:
    untagged = [series(TAGGED_TOTAL, "public", "0+100x40"), series(UNTAGGED, "public", "0+100x40")]
    assert promtool_test(tmp_path, [lost_at(30, False)], untagged) == 0
    idle = [series(TAGGED_TOTAL, "public", "0x40"), series(UNTAGGED, "public", "0x40")]
    assert promtool_test(tmp_path, [lost_at(30, False)], idle) == 0
    # Another gateway's share does not fire this gateway's alert.
    other = [series(TAGGED_TOTAL, "internal", "0+100x40"), series(UNTAGGED, "internal", "0x40")]
    assert promtool_test(tmp_path, [lost_at(30, False)], untagged + other) == 0


@needs_promtool
def test_proxy_protocol_errors_fire_on_any_v2_error_and_stay_quiet_without(tmp_path: Path) -> None:
    v2_errors = metric("proxy_proto.versions.v2.error")
    # 3 errors a minute: 0.05 a second.
    expected = {
        "exp_labels": LOST_LABELS,
        "exp_annotations": rendered_annotations("ProxyProtocolErrors", "0.05"),
    }
    firing = {"eval_time": "30m", "alertname": "ProxyProtocolErrors", "exp_alerts": [expected]}
    quiet = {"eval_time": "30m", "alertname": "ProxyProtocolErrors", "exp_alerts": []}
    assert promtool_test(tmp_path, [firing], [series(v2_errors, "public", "0+3x40")]) == 0
    assert promtool_test(tmp_path, [quiet], [series(v2_errors, "public", "5x40")]) == 0
