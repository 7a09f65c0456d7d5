"""Load-balancer facts, each checked against the controller file that holds it (named in each test).

The program reads a Service annotation the way the platform's controller reads it: these tests give
the values a controller treats specially (case, spaces, repeated keys, per-port overrides, legacy
keys) and check what the program sets, what it refuses and what the policy pack sees.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.ingress_gateway import chart_values
from composition import stack_inputs
from policy import validators as v
from source_ip.config import parse_config
from source_ip.facts import (
    PLATFORMS,
    SourceIpMode,
    aws_attribute_pairs,
    go_json_string_field,
    proxy_switch_for,
)
from source_ip.plan import annotation_key_problem, program_service_annotations
from tests.conftest import problems_of, raw
from tools.program import HELM_RELEASE

TGA = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
SCW_V1 = "service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v1"
SCW_V2 = "service.beta.kubernetes.io/scw-loadbalancer-proxy-protocol-v2"
LINODE_DEFAULT = "service.beta.kubernetes.io/linode-loadbalancer-default-proxy-protocol"
LINODE_PORT_80 = "service.beta.kubernetes.io/linode-loadbalancer-port-80"
OCI_PPV2 = "oci-network-load-balancer.oraclecloud.com/is-ppv2-enabled"
ALI_PROXY = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-proxy-protocol"
CIVO_PROXY = "kubernetes.civo.com/loadbalancer-enable-proxy-protocol"
EXO = "service.beta.kubernetes.io/exoscale-loadbalancer-"


def config_of(platform: str, annotations: dict[str, str] | None = None, **keys: Any) -> dict[str, str]:
    gateway = {**keys.pop("gateway", {}), "serviceAnnotations": annotations or {}}
    return raw(platform, gateway=gateway, **keys)


def one_problem(config: dict[str, str], key: str) -> str:
    """The single refusal, which must name the annotation key."""
    [problem] = problems_of(config)
    assert problem.startswith(f"istio-source-ip:gateway.serviceAnnotations.{key}: "), problem
    return problem


def service_annotations(config: dict[str, str]) -> dict[str, str]:
    [gateway] = stack_inputs(parse_config(config)).gateways
    return dict(chart_values(gateway)["service"]["annotations"])


def release(annotations: dict[str, str], *, strict: bool) -> dict[str, Any]:
    topology: dict[str, Any] = {"gatewayTopology": {"proxyProtocol": {}}} if strict else {}
    values = {
        "service": {"annotations": annotations},
        "podAnnotations": {"proxy.istio.io/config": json.dumps(topology)} if strict else {},
    }
    return {"chart": "gateway", "name": "gw", "values": values}


# --- Exoscale --------------------------------------------------------------------------------------


def test_exoscale_passthrough_checks_nodes_over_http_so_nodes_without_a_gateway_pod_fail() -> None:
    """exoscale-cloud-controller-manager exoscale/loadbalancer.go buildLoadBalancerFromAnnotations: with ETP
    Local the check goes to healthCheckNodePort, in mode `tcp` unless service-healthcheck-mode says otherwise;
    kubernetes pkg/proxy/healthcheck/service_health.go answers 503 (any path) on a node without a local
    endpoint, while a TCP connect succeeds everywhere."""
    annotations = service_annotations(config_of("exoscale"))
    assert annotations == {
        f"{EXO}service-healthcheck-mode": "http",
        f"{EXO}service-healthcheck-uri": "/healthz",
    }


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (f"{EXO}service-healthcheck-mode", "tcp", "replaces 'http', which the local path on exoscale needs"),
        (
            f"{EXO}service-healthcheck-port",
            "31621",
            "replaces spec.healthCheckNodePort as the NLB's health-check port",
        ),
    ],
)
def test_exoscale_refuses_a_tcp_check_or_a_fixed_health_check_port(
    annotation: str, value: str, expected: str
) -> None:
    """exoscale/loadbalancer.go: service-healthcheck-port, when set, replaces healthCheckNodePort."""
    problem = one_problem(config_of("exoscale", {annotation: value}), annotation)
    assert expected in problem and "allowed:" in problem


# --- Oracle ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_oci_nlb_ppv2_switch_is_refused_in_passthrough_in_any_case(value: str) -> None:
    """oci-cloud-controller-manager pkg/cloudprovider/providers/oci/load_balancer_spec.go
    getListenersNetworkLoadBalancer: is-ppv2-enabled is lower-cased; "true" turns PROXY v2 on."""
    problem = one_problem(config_of("oci-nlb", {OCI_PPV2: value}), OCI_PPV2)
    assert "would make the LB send a PROXY header the gateway does not parse" in problem
    assert "allowed: 'false'" in problem


def test_oci_nlb_ppv2_off_is_accepted_and_the_pack_sees_the_switch() -> None:
    """load_balancer_spec.go getListenersNetworkLoadBalancer: "false" (any case) leaves PROXY off."""
    assert service_annotations(config_of("oci-nlb", {OCI_PPV2: "False"}))[OCI_PPV2] == "False"
    [message] = v.proxy_protocol_on_both_sides(HELM_RELEASE, release({OCI_PPV2: "True"}, strict=False))
    assert f"the LB sends the PROXY header ({OCI_PPV2})" in message


def test_oci_lb_type_is_pinned_so_an_nlb_that_ignores_the_proxy_version_is_refused() -> None:
    """load_balancer_spec.go getLoadBalancerType: lb unless the type annotation says nlb; the
    proxy-protocol-version annotation is read only for an LB's listeners (getListenersOciLoadBalancer)."""
    key = "oci.oraclecloud.com/load-balancer-type"
    assert service_annotations(config_of("oci"))[key] == "lb"
    assert "replaces 'lb'" in one_problem(config_of("oci", {key: "nlb"}), key)


# --- Scaleway --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["*", "true", "T", "443"])
def test_scaleway_refuses_a_v1_annotation_next_to_the_v2_one(value: str) -> None:
    """scaleway-cloud-controller-manager scaleway/loadbalancers_annotations.go getProxyProtocol: a port in
    both the v1 and the v2 annotation is an error, and the LB is neither created nor updated."""
    problem = one_problem(config_of("scaleway", {SCW_V1: value}), SCW_V1)
    assert f"covers ports that {SCW_V2} also covers" in problem or "send no PROXY header" in problem


def test_scaleway_v1_off_beside_v2_is_accepted() -> None:
    """scaleway/loadbalancers.go isPortInRange: "false" (strconv.ParseBool) covers no port."""
    assert service_annotations(config_of("scaleway", {SCW_V1: "false"}))[SCW_V2] == "*"


@pytest.mark.parametrize(
    ("value", "reading"), [("*", "on"), ("true", "on"), ("1", "other"), ("0", "other"), ("", "off")]
)
def test_scaleway_reads_1_and_0_as_port_numbers(value: str, reading: str) -> None:
    """scaleway/loadbalancers.go isPortInRange: ParseBool, except "1" and "0", which are read as ports."""
    switch = proxy_switch_for(SCW_V2)
    assert switch is not None and switch.reads(value) == reading


def test_scaleway_deprecated_send_proxy_v2_is_refused() -> None:
    """scaleway/loadbalancers_annotations.go getSendProxyV2: deprecated, read for a port no -v1/-v2 covers."""
    key = "service.beta.kubernetes.io/scw-loadbalancer-send-proxy-v2"
    assert f"is the deprecated form of {SCW_V2}" in one_problem(config_of("scaleway", {key: "true"}), key)


# --- Civo and Alibaba: an absent annotation leaves PROXY as it was -------------------------------------


def migration_step_one(platform: str, annotations: dict[str, str] | None = None) -> dict[str, str]:
    return config_of(platform, annotations, sourceIp="local", gateway={"proxyProtocolMigration": True})


def test_alibaba_writes_off_in_passthrough_so_a_switch_back_turns_proxy_off() -> None:
    """cloud-provider-alibaba-cloud pkg/controller/service/clbv1/listeners.go: EnableProxyProtocolV2 is set
    only from a non-empty annotation (== "on"), so removing it leaves the listener sending PROXY."""
    assert service_annotations(migration_step_one("alibaba"))[ALI_PROXY] == "off"
    assert service_annotations(config_of("alibaba"))[ALI_PROXY] == "on"
    assert "would make the LB send a PROXY header" in one_problem(
        migration_step_one("alibaba", {ALI_PROXY: ""}), ALI_PROXY
    )


def test_alibaba_legacy_key_is_refused() -> None:
    """pkg/controller/service/reconcile/annotation/annotations.go Get: the alicloud- key is read only when the
    alibaba-cloud- key is absent, and the program always sets the latter."""
    key = "service.beta.kubernetes.io/alicloud-loadbalancer-proxy-protocol"
    assert f"is the deprecated form of {ALI_PROXY}" in one_problem(config_of("alibaba", {key: "off"}), key)


@pytest.mark.parametrize("value", ["", "off", "none"])
def test_civo_has_no_value_that_turns_proxy_off(value: str) -> None:
    """civo-cloud-controller-manager cloud-controller-manager/civo/loadbalancer.go: an empty value is not sent
    (civogo loadbalancer.go: enable_proxy_protocol omitempty), so nothing but a new LB turns PROXY off."""
    switch = proxy_switch_for(CIVO_PROXY)
    assert switch is not None and switch.off == () and switch.reads(value) == "other"
    assert PLATFORMS["civo"].unset_keeps_proxy and "new Service" in PLATFORMS["civo"].caveats
    one_problem(migration_step_one("civo", {CIVO_PROXY: value}), CIVO_PROXY)


# --- IBM, Vultr: how the value is read; hostnames against hairpin -------------------------------------


@pytest.mark.parametrize(
    ("value", "reading"), [("Proxy-Protocol", "on"), ("nlb, proxy - protocol", "on"), ("nlb", "other")]
)
def test_ibm_removes_spaces_and_lower_cases_the_feature_list(value: str, reading: str) -> None:
    """cloud-provider-ibm pkg/vpcctl/vpc_config.go getServiceEnabledFeatures, vpc_sdk_base.go
    isVpcOptionEnabled."""
    switch = proxy_switch_for("service.kubernetes.io/ibm-load-balancer-cloud-provider-enable-features")
    assert switch is not None and switch.reads(value) == reading


def test_ibm_caveat_says_the_controller_updates_existing_lbs() -> None:
    """cloud-provider-ibm pkg/vpcctl/vpc_lbaas.go: a pool whose PROXY setting differs from the annotation is
    updated, so the setting is not creation-only."""
    caveats = PLATFORMS["ibm"].caveats
    assert "existing LB" in caveats and "read only when the LB is created" not in caveats


@pytest.mark.parametrize(
    ("platform", "annotation"),
    [
        ("vultr", "service.beta.kubernetes.io/vultr-loadbalancer-hostname"),
        ("alibaba", "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-hostname"),
    ],
)
def test_hairpin_hostname_is_published_through_the_platforms_annotation(
    platform: str, annotation: str
) -> None:
    """vultr-cloud-controller-manager vultr/loadbalancers.go annoVultrHostname ("to prevent hairpinning");
    cloud-provider-alibaba-cloud clbv1/service_controller.go: a hostname annotation is the only status
    entry."""
    annotations = service_annotations(config_of(platform, gateway={"hairpinHostname": "gw.example.com"}))
    assert annotations[annotation] == "gw.example.com"


# --- AWS: repeated, per-port and misspelt attributes ---------------------------------------------------


def test_aws_attribute_lists_parse_as_the_controller_parses_them() -> None:
    """aws-load-balancer-controller pkg/annotations/parser.go splitKeyValuePairs, ParseStringMapAnnotation."""
    assert aws_attribute_pairs(" a = b ,c=d") == [("a", "b"), ("c", "d")]
    assert aws_attribute_pairs("a=b\\,c=d") == [("a", "b,c=d")]  # an escaped comma stays in the value
    assert aws_attribute_pairs("a=b,") == [("a", "b,")]  # a trailing comma is kept
    assert aws_attribute_pairs("a=b,c") is None  # a pair without '=' is an error
    assert aws_attribute_pairs("a=b,,c=d") is None  # an empty pair is an error
    assert aws_attribute_pairs("a=1,a=2") == [("a", "1"), ("a", "2")]


def test_aws_attribute_given_twice_is_refused_since_the_last_one_wins() -> None:
    """pkg/annotations/parser.go ParseStringMapAnnotation: keyValues[key] = value, the last repeat wins."""
    value = "preserve_client_ip.enabled=true,preserve_client_ip.enabled=false"
    problem = one_problem(config_of("aws-nlb", {TGA: value}, sourceIp="local"), TGA)
    assert f"{TGA}: gives preserve_client_ip.enabled more than once (got {json.dumps(value)})" in problem
    assert "the controller keeps only the last; allowed: each attribute once" in problem


def test_aws_attribute_with_spaces_around_its_name_still_counts() -> None:
    """pkg/annotations/parser.go: keys and values are TrimSpace'd, so `proxy_protocol_v2.enabled =true`
    is on."""
    value = "preserve_client_ip.enabled=true, proxy_protocol_v2.enabled =true"
    assert "would make the LB send a PROXY header" in one_problem(
        config_of("aws-nlb", {TGA: value}, sourceIp="local"), TGA
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("preserve_client_ip.enabled=false", "overriding preserve_client_ip.enabled=true from"),
        ("proxy_protocol_v2.enabled=true", "turns PROXY protocol on for port 80 alone"),
        ("proxy_protocol_v2.enabled=maybe", "cannot read as PROXY on or off"),
    ],
)
def test_aws_per_port_attributes_may_not_override_the_path(value: str, expected: str) -> None:
    """pkg/service/model_build_target_group.go buildPortSpecificTargetGroupAttributes: `<annotation>.<port>`
    overrides each non-empty attribute for that port's target group."""
    key = f"{TGA}.80"
    problem = one_problem(config_of("aws-nlb", {key: value}, sourceIp="local"), key)
    assert expected in problem and "allowed:" in problem


def test_aws_per_port_attributes_that_keep_the_path_are_accepted() -> None:
    """buildPortSpecificTargetGroupAttributes: an empty per-port value keeps the platform-wide one."""
    annotations = {f"{TGA}.443": "deregistration_delay.timeout_seconds=5,preserve_client_ip.enabled="}
    assert service_annotations(config_of("aws-nlb", annotations, sourceIp="local"))[f"{TGA}.443"]


def test_annotation_key_with_a_stray_space_is_refused_with_the_key_meant() -> None:
    """k8s.io/apimachinery validation IsQualifiedName: the API server refuses a key with a space."""
    key = f"{TGA} "
    problem = one_problem(config_of("aws-nlb", {key: "a=b"}, sourceIp="local"), key)
    assert "is not a valid annotation key" in problem and f"did you mean {TGA!r}?" in problem
    assert annotation_key_problem("example.com/a_b.c-d") is None
    assert annotation_key_problem("Example.com/x") and annotation_key_problem("a/" + "x" * 64)


# --- Linode: a per-port JSON config with its own proxy-protocol --------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        '{"proxy-protocol": "none"}',
        '{"Proxy-Protocol": "NONE"}',
        '{"proxy-protocol": "v2", "PROXY-PROTOCOL": "none"}',
    ],
)
def test_linode_per_port_proxy_off_is_refused_however_spelt(value: str) -> None:
    """linode-cloud-controller-manager cloud/linode/loadbalancers.go getPortConfigAnnotation (json.Unmarshal:
    field names match in any case, the last wins), loadbalancers_helpers.go getPortProxyProtocol (lower-cased;
    a non-empty per-port value wins over default-proxy-protocol)."""
    problem = one_problem(config_of("linode", {LINODE_PORT_80: value}), LINODE_PORT_80)
    assert "turns PROXY protocol off for port 80 alone" in problem


@pytest.mark.parametrize(
    "value", ['{"tls-secret-name": "gw"}', '{"proxy-protocol": "v2"}', '{"proxy-protocol": ""}', "null"]
)
def test_linode_per_port_config_that_keeps_proxy_is_accepted(value: str) -> None:
    """getPortProxyProtocol: an empty or absent per-port proxy-protocol falls back to the default."""
    assert service_annotations(config_of("linode", {LINODE_PORT_80: value}))[LINODE_DEFAULT] == "v2"


@pytest.mark.parametrize(
    "value", ["{not json", "[1]", '{"proxy-protocol": 2}', "[" * 100_000 + "]" * 100_000, "NaN"]
)
def test_linode_per_port_config_the_controller_cannot_read_is_refused_without_a_crash(value: str) -> None:
    """getPortConfigAnnotation returns json.Unmarshal's error, and the NodeBalancer is not updated."""
    assert go_json_string_field(value, "proxy-protocol") == (False, None)
    assert "cannot read as PROXY on or off" in one_problem(
        config_of("linode", {LINODE_PORT_80: value}), LINODE_PORT_80
    )


def test_linode_deprecated_key_and_non_canonical_ports() -> None:
    """cloud/linode/loadbalancers_deprecated.go: linode-loadbalancer-proxy-protocol is read only without the
    default key; getPortConfigAnnotation builds the key with strconv.Itoa, so `port-080` is never read."""
    key = "service.beta.kubernetes.io/linode-loadbalancer-proxy-protocol"
    assert "is the deprecated form" in one_problem(config_of("linode", {key: "v2"}), key)
    assert proxy_switch_for("service.beta.kubernetes.io/linode-loadbalancer-port-080") is None
    assert proxy_switch_for("service.beta.kubernetes.io/linode-loadbalancer-port-65536") is None


def test_pack_refuses_a_per_port_off_under_a_strict_gateway() -> None:
    """The pack reads the same per-port switch: PROXY off for port 80 while Envoy requires it."""
    props = release({LINODE_DEFAULT: "v2", LINODE_PORT_80: '{"proxy-protocol": "none"}'}, strict=True)
    [message] = v.proxy_protocol_on_both_sides(HELM_RELEASE, props)
    assert f"{LINODE_PORT_80} turns it off for that port" in message
    assert v.proxy_protocol_on_both_sides(HELM_RELEASE, release({LINODE_DEFAULT: "v2"}, strict=True)) == []


def test_every_platform_switch_names_its_source() -> None:
    for platform in PLATFORMS.values():
        for switch in platform.proxy_switches:
            assert switch.source and "(docs)" not in switch.source, (platform.id, switch.key)
        assert platform.default_mode in platform.modes
    assert program_service_annotations(PLATFORMS["civo"], SourceIpMode.LOCAL) == {}


@pytest.mark.parametrize(
    ("source_ip", "value", "refused"),
    [
        ("proxy-protocol", '{"proxy-protocol": "none"}', True),
        ("local", '{"proxy-protocol": "none"}', False),
        ("local", '{"proxy-protocol": "v2"}', True),
        ("proxy-protocol", '{"proxy-protocol": "v2"}', False),
    ],
)
def test_another_platforms_per_port_switch_is_refused_only_against_the_mode(
    source_ip: str, value: str, refused: bool
) -> None:
    """The policy pack knows no platform and reads every per-port switch, so the program refuses one of
    another platform that turns PROXY the other way than the mode, and only that."""
    config = config_of("generic", {LINODE_PORT_80: value}, sourceIp=source_ip)
    if refused:
        assert "is linode's per-port PROXY setting" in one_problem(config, LINODE_PORT_80)
    else:
        assert service_annotations(config)[LINODE_PORT_80] == value


def test_a_deprecated_key_is_refused_in_passthrough_too_where_the_program_sets_no_switch() -> None:
    """linode cloud/linode/loadbalancers_helpers.go getPortProxyProtocol: without default-proxy-protocol (the
    first PROXY-protocol migration step sets none) the deprecated key would decide, and "v2" would garble."""
    key = "service.beta.kubernetes.io/linode-loadbalancer-proxy-protocol"
    problem = one_problem(migration_step_one("linode", {key: "v2"}), key)
    assert "which the program manages itself (it leaves it unset for the local path)" in problem
