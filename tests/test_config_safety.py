"""Configs that would deploy a bypass, an outage or a crash are refused with the key
named, or made safe. Each class has its own tests; the messages are checked by key and phrase."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from composition import stack_inputs
from source_ip.config import (
    PROGRAM_COMPONENTS,
    ConfigError,
    declared_namespaces,
    near_miss_namespace_warnings,
    parse_config,
)
from source_ip.facts import PLATFORMS, SourceIpMode
from source_ip.plan import AllowlistField, ProxyProtocolListener, allowlist_field, client_address_source
from tests.conftest import NEAR_MISSES, STACKS, cached_run, raw, stack_raw_config, stack_run
from tools.program import ProgramRun, run_program
from tools.stackfile import read_stack_file

METALLB_IPS = "metallb.io/loadBalancerIPs"
EIPS = "service.beta.kubernetes.io/aws-load-balancer-eip-allocations"
METALLB = {"nodes": ["w1"], "install": True, "addresses": ["192.0.2.0/24"]}


def problems_by_key(config: dict[str, str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """Problem key -> the whole line, as `pulumi up` prints it."""
    with pytest.raises(ConfigError) as caught:
        parse_config(config, environ)
    return {p.key: str(p) for p in caught.value.problems}


def refused(config: dict[str, str], key: str, phrase: str, environ: dict[str, str] | None = None) -> str:
    problems = problems_by_key(config, environ)
    assert key in problems, problems
    assert phrase in problems[key], problems[key]
    return problems[key]


# --- The accept-both migration step on a passthrough path, with an allowlist --------------------------


@pytest.mark.parametrize("platform", ["aws-nlb", "generic", "digitalocean"])
def test_the_accept_both_step_on_a_passthrough_lb_with_an_allowlist_is_refused_as_a_bypass(
    platform: str,
) -> None:
    migrating = {"proxyProtocolMigration": True}
    config = raw(platform, sourceIp="local", gateway=migrating, allowlist=["192.0.2.0/24"])
    message = refused(
        config,
        "istio-source-ip:gateway.proxyProtocolMigration",
        "read a PROXY header the client wrote itself",
    )
    assert "anyone could get in by naming an allowed address" in message


def test_the_accept_both_step_is_refused_per_gateway_by_its_own_key() -> None:
    config = raw(
        "aws-nlb",
        gateways=[
            {"name": "public"},
            {"name": "internal", "sourceIp": "local", "proxyProtocolMigration": True},
        ],
        allowlist=["192.0.2.0/24"],
    )
    refused(
        config,
        "istio-source-ip:gateways[1].proxyProtocolMigration",
        "gateway internal's accept-both listener",
    )


def test_no_accepted_allowlist_meets_accept_both_where_the_lb_sends_no_header() -> None:
    """Over every platform, mode and migration flag: where the config is accepted with an allowlist, the
    gateway either matches the packet source, or the LB itself writes the header the listener reads."""
    checked = 0
    for platform in PLATFORMS.values():
        for source_ip in ("auto", "local", "proxy-protocol"):
            for migrating in (False, True):
                gateway: dict[str, object] = {"proxyProtocolMigration": migrating}
                keys: dict[str, object] = {"sourceIp": source_ip, "gateway": gateway}
                if platform.pins_nodes:
                    keys["metallb"] = METALLB
                if platform.required_one_of:
                    gateway["serviceAnnotations"] = {platform.required_one_of[0]: "x"}
                try:
                    config = parse_config(raw(platform.id, allowlist=["192.0.2.0/24"], **keys))
                except ConfigError:
                    continue
                for settings in stack_inputs(config).gateways:
                    source = client_address_source(settings.listener, settings.num_trusted_proxies)
                    field = allowlist_field(source)
                    lb_sends_no_header = settings.mode == SourceIpMode.LOCAL
                    if field == AllowlistField.REMOTE_IP_BLOCKS:
                        assert not lb_sends_no_header, (platform.id, source_ip, migrating)
                    checked += 1
    assert checked > 20


def test_the_migration_steps_around_the_bypass_stay_accepted() -> None:
    step_one_without_allowlist = raw("aws-nlb", sourceIp="local", gateway={"proxyProtocolMigration": True})
    [gateway] = stack_inputs(parse_config(step_one_without_allowlist)).gateways
    assert gateway.listener == ProxyProtocolListener.ACCEPT_BOTH
    step_two = raw(
        "aws-nlb",
        sourceIp="proxy-protocol",
        gateway={"proxyProtocolMigration": True},
        allowlist=["192.0.2.0/24"],
    )
    [gateway] = stack_inputs(parse_config(step_two)).gateways
    assert gateway.mode == SourceIpMode.PROXY_PROTOCOL
    passthrough = raw("aws-nlb", sourceIp="local", allowlist=["192.0.2.0/24"])
    [gateway] = stack_inputs(parse_config(passthrough)).gateways
    assert allowlist_field(client_address_source(gateway.listener, 0)) == AllowlistField.IP_BLOCKS


# --- Allowlists that admit everyone or no one by accident ----------------------------------------------


@pytest.mark.parametrize(
    ("entry", "phrase"),
    [
        ("203.0.113.7/0", "has host bits set after /0, so it would mean 0.0.0.0/0, 4294967296 addresses"),
        ("203.0.113.7/24", "allowed: 203.0.113.7/32 (that one address) or 203.0.113.0/24"),
        ("2001:db8::1/32", "has host bits set after /32"),
        ("fe80::1%eth0", "has a zone ID (%eth0)"),
        ("fe80::1%eth0/64", "has a zone ID (%eth0)"),
        ("0.0.0.0", "lies in unspecified or 'this network' (0.0.0.0/8)"),
        ("::", "lies in unspecified (::)"),
        ("224.0.0.1", "lies in multicast (224.0.0.0/4)"),
        ("239.1.0.0/16", "lies in multicast"),
        ("ff02::1", "lies in IPv6 multicast"),
        ("255.255.255.255", "lies in the broadcast address"),
        ("::ffff:203.0.113.7", "is the IPv4-mapped IPv6 form of 203.0.113.7/32"),
        ("10.0.0.0/08", "has a prefix length written with a leading zero or sign (got"),
    ],
)
def test_an_allowlist_entry_that_admits_everyone_or_no_one_is_refused(entry: str, phrase: str) -> None:
    refused(raw("gcp", allowlist=["198.51.100.0/24", entry]), "istio-source-ip:allowlist[1]", phrase)


def test_allowlist_entries_that_mean_what_they_say_reach_the_policy_as_written() -> None:
    entries = ["203.0.113.0/24", "203.0.113.7", "2001:db8::/32", "127.0.0.1", "0.0.0.0/0", "::/0"]
    run = cached_run(raw("gcp", allowlist=entries))
    [policy] = run.k8s_objects("AuthorizationPolicy")
    assert policy["spec"]["rules"] == [{"from": [{"source": {"ipBlocks": sorted(entries)}}]}]


# --- Two gateways asking for the same address ----------------------------------------------------------


def test_two_gateways_asking_metallb_for_one_address_are_refused() -> None:
    config = raw(
        "metallb",
        metallb=METALLB,
        gateways=[
            {"name": "public", "serviceAnnotations": {METALLB_IPS: "192.0.2.10"}},
            {
                "name": "internal",
                "namespace": "edge",
                "serviceAnnotations": {METALLB_IPS: "192.0.2.11, 192.0.2.10"},
            },
        ],
    )
    message = refused(
        config,
        f"istio-source-ip:gateways[1].serviceAnnotations.{METALLB_IPS}",
        f"asks for 192.0.2.10, which gateways[0].serviceAnnotations.{METALLB_IPS} asks for too",
    )
    assert "one of the two gateways would get no address" in message


def test_one_address_spelt_two_ways_or_under_the_old_prefix_is_still_one_address() -> None:
    config = raw(
        "metallb",
        metallb={**METALLB, "addresses": ["2001:db8::/120"]},
        gateways=[
            {"name": "public", "serviceAnnotations": {METALLB_IPS: "2001:db8::a"}},
            {
                "name": "internal",
                "serviceAnnotations": {"metallb.universe.tf/loadBalancerIPs": "2001:DB8:0::A"},
            },
        ],
    )
    refused(
        config,
        "istio-source-ip:gateways[1].serviceAnnotations.metallb.universe.tf/loadBalancerIPs",
        "asks for 2001:DB8:0::A, which gateways[0]",
    )


def test_two_gateways_sharing_aws_elastic_ips_through_a_yaml_anchor_are_refused(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.anchor.yaml"
    stack.write_text(
        "config:\n"
        "  istio-source-ip:platform: aws-nlb\n"
        "  istio-source-ip:gateways:\n"
        "    - name: public\n"
        "      serviceAnnotations: &eips\n"
        f"        {EIPS}: eipalloc-0a,eipalloc-0b\n"
        "    - name: internal\n"
        "      serviceAnnotations: *eips\n"
    )
    refused(
        read_stack_file(stack),
        f"istio-source-ip:gateways[1].serviceAnnotations.{EIPS}",
        f"asks for eipalloc-0a, which gateways[0].serviceAnnotations.{EIPS} asks for too",
    )


def test_gateways_with_addresses_of_their_own_are_accepted() -> None:
    parse_config(
        raw(
            "aws-nlb",
            gateways=[
                {"name": "public", "serviceAnnotations": {EIPS: "eipalloc-0a,eipalloc-0b"}},
                {"name": "internal", "serviceAnnotations": {EIPS: "eipalloc-0c,eipalloc-0d"}},
            ],
        )
    )


# --- Names a chart or Kubernetes rejects, or that clash with the program's own --------------------------


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        (
            "1edge",
            "must start with a letter: the gateway chart names the gateway's Service after the release",
        ),
        (
            "istio-reader-service-account",
            "is the name of the ServiceAccount the base chart creates in istio-system",
        ),
        ("istiod", "is a release this program makes itself"),
        ("echo", "is the name of the program's own component for the echo app (EchoApp)"),
        ("metallb-pinning", "is the name of the program's own component for the MetalLB pinning"),
    ],
)
def test_a_gateway_name_kubernetes_or_the_program_cannot_take_is_refused(name: str, phrase: str) -> None:
    refused(raw("gcp", gateway={"name": name}), "istio-source-ip:gateway.name", phrase)


def test_a_gateway_named_echo_no_longer_crashes_the_program_and_registers_nothing() -> None:
    record = ProgramRun()
    with pytest.raises(ConfigError, match=r"gateway\.name: is the name of the program's own component"):
        run_program(raw("gcp", gateway={"name": "echo"}, allowlist=["192.0.2.0/24"]), record=record)
    assert record.resources == []


FULL_STACKS = {
    "metallb": raw(
        "metallb",
        metallb={**METALLB, "namespace": "lb"},
        gateway={"name": "gw", "namespace": "edge"},
        echo={"namespace": "apps"},
        allowlist=["192.0.2.0/24"],
        accessLogs=True,
    ),
    "migrating": raw("aws-nlb", sourceIp="local", gateway={"name": "gw", "proxyProtocolMigration": True}),
}


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
@pytest.mark.parametrize("stack", sorted(FULL_STACKS))
def test_no_gateway_name_that_clashes_with_a_program_resource_is_accepted(stack: str, routing: str) -> None:
    """The gateway `gw` names its resources `gw`, `gw-<suffix>`; any other resource of the same type named
    `<x>-<suffix>` makes `x` a name a gateway must not take, and the program's components are named as
    PROGRAM_COMPONENTS says (the render keys resources by type and name)."""
    run = cached_run({**FULL_STACKS[stack], **raw(None, routing=routing)})
    gateway = [r for r in run.resources if r.name.startswith("gw")]
    gateway_suffixes = {(r.type, r.name.removeprefix("gw").lstrip("-")) for r in gateway}
    others = [r for r in run.resources if not r.name.startswith("gw")]
    stack_urn = "pulumi:pulumi:Stack::istio-source-ip-test"
    assert {r.name for r in others if r.parent and r.parent.endswith(stack_urn)} <= set(PROGRAM_COMPONENTS)
    clashing = {
        r.name.removesuffix(f"-{suffix}") if suffix else r.name
        for r in others
        for type_, suffix in gateway_suffixes
        if r.type == type_ and (r.name.endswith(f"-{suffix}") or not suffix)
    }
    # Today only the echo app's Service read (`echo-service`, istio mode) shares a gateway's suffix.
    assert clashing == ({"echo"} if routing == "istio" else set())
    envoy_filter = ("kubernetes:networking.istio.io/v1alpha3:EnvoyFilter", "accept-both")
    assert stack != "migrating" or envoy_filter in gateway_suffixes
    for name in sorted(clashing):
        with pytest.raises(ConfigError):
            parse_config(raw("gcp", gateway={"name": name}))


# --- MetalLB's namespace and namespaces the program cannot own ---------------------------------------


def test_a_metallb_install_into_a_namespace_every_cluster_has_is_refused() -> None:
    refused(
        raw("metallb", metallb={**METALLB, "namespace": "kube-system"}),
        "istio-source-ip:metallb.namespace",
        "is a namespace every cluster has: a MetalLB install creates its own namespace",
    )


@pytest.mark.parametrize("install", [True, False])
def test_the_echo_app_in_metallbs_privileged_namespace_is_refused(install: bool) -> None:
    metallb = {**METALLB, "install": install} if install else {"nodes": ["w1"]}
    refused(
        raw("metallb", metallb=metallb, echo={"namespace": "metallb-system"}),
        "istio-source-ip:echo.namespace",
        "is MetalLB's namespace (metallb.namespace), where Pod Security is privileged",
    )


def test_a_gateway_in_an_existing_metallbs_namespace_is_refused() -> None:
    refused(
        raw("metallb", metallb={"nodes": ["w1"]}, gateway={"namespace": "metallb-system"}),
        "istio-source-ip:gateway.namespace",
        "which exists with MetalLB in it: the program would declare it as gateway istio-ingressgateway's own",
    )


def test_upserting_existing_objects_is_refused_while_the_stack_declares_namespaces() -> None:
    config = {**raw("metallb", metallb=METALLB), "kubernetes:upsertExistingObjects": "true"}
    message = refused(
        config,
        "kubernetes:upsertExistingObjects",
        "this stack declares istio-system (the Istio install), metallb-system (the MetalLB install)",
    )
    assert "`pulumi destroy` would then delete it with everything in it" in message
    refused(
        raw("gcp", istio={"install": True}),
        "environment variable PULUMI_K8S_UPSERT_EXISTING_OBJECTS",
        "adopt a namespace that exists already",
        environ={"PULUMI_K8S_UPSERT_EXISTING_OBJECTS": "1"},
    )
    nothing_declared = raw("gcp", istio={"install": False})
    parse_config({**nothing_declared, "kubernetes:upsertExistingObjects": "true"})
    parse_config({**raw("gcp"), "kubernetes:upsertExistingObjects": "false"})


@pytest.mark.parametrize("stack", STACKS)
def test_declared_namespaces_are_the_namespaces_the_program_creates(stack: str) -> None:
    run = stack_run(stack)
    created = {o["metadata"]["name"] for o in run.k8s_objects("Namespace")}
    assert set(declared_namespaces(parse_config(stack_raw_config(stack)))) == created


# --- Numbers over what the consumer reads -----------------------------------------------------------


@pytest.mark.parametrize(
    ("gateway", "key", "phrase"),
    [
        ({"replicas": 2**31}, "replicas", "is more than Kubernetes can hold (an int32"),
        ({"maxReplicas": 2**31}, "maxReplicas", "allowed: 1 to 2147483647"),
        ({"numTrustedProxies": 2**32, "trustedHops": "l7"}, "numTrustedProxies", "allowed: 0 to 4294967295"),
    ],
)
def test_numbers_over_what_the_consumer_reads_are_refused(gateway: Any, key: str, phrase: str) -> None:
    refused(raw("aws", gateway=gateway), f"istio-source-ip:gateway.{key}", phrase)


def test_the_largest_numbers_the_consumers_read_are_accepted() -> None:
    gateway = {
        "replicas": 2**31 - 1,
        "maxReplicas": 2**31 - 1,
        "numTrustedProxies": 2**32 - 1,
        "trustedHops": "l7",
    }
    config = parse_config(raw("aws", gateway=gateway))
    assert (config.gateway.replicas, config.gateway.num_trusted_proxies) == (2**31 - 1, 2**32 - 1)


# --- Crashes and messages ---------------------------------------------------------------------------


def test_a_deeply_nested_json_value_is_refused_not_a_recursion_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    refused(raw("gcp", gateway=deep), "istio-source-ip:gateway", "is nested more than 16 levels deep")
    refused(
        raw("gcp", echo='{"a":' * 40 + "1" + "}" * 40),
        "istio-source-ip:echo",
        "is nested more than 16 levels",
    )


def test_a_4400_digit_integer_is_refused_by_its_key() -> None:
    refused(
        raw("gcp", gateway='{"replicas": ' + "9" * 4400 + "}"),
        "istio-source-ip:gateway",
        "holds an integer of more than 4300 digits",
    )
    not_a_string: dict[str, object] = {"replicas": 10**4400}  # what an in-process caller could pass
    problems = problems_by_key({**raw("gcp"), "istio-source-ip:gateway": not_a_string})  # type: ignore[dict-item]
    assert "(got {" not in problems["istio-source-ip:gateway.replicas"]
    assert "an integer of about 4401 digits" in problems["istio-source-ip:gateway.replicas"]


def test_a_4400_digit_integer_in_a_stack_file_is_refused_by_its_key(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.digits.yaml"
    digits = "9" * 4400
    config = "config:\n  istio-source-ip:platform: gcp\n  istio-source-ip:gateway:\n"
    stack.write_text(f"{config}    replicas: {digits}\n")
    key, phrase = "istio-source-ip:gateway.replicas", "is a number with more digits than any key takes"
    message = refused(read_stack_file(stack), key, phrase)
    assert message.endswith("maxReplicas 1 to 2147483647, numTrustedProxies 0 to 4294967295")
    assert "... [cut: 4402 characters in all]" in message


def test_a_10_mb_value_or_key_is_not_echoed_whole() -> None:
    big = "x" * 10_000_000
    with pytest.raises(ConfigError) as caught:
        parse_config({**raw("gcp", echo={"host": big}), f"istio-source-ip:{big}": "1"})
    text = str(caught.value)
    assert len(text) < 5_000
    assert '(got "xxxxxxxx' in text and "... [cut: 10000002 characters in all]" in text
    assert "... [cut: 10000016 characters in all]: unknown key" in text


# --- A config namespace that is almost ours -----------------------------------------------------------


@pytest.mark.parametrize("namespace", NEAR_MISSES)
def test_a_key_in_a_near_miss_namespace_is_warned_about_by_name(namespace: str) -> None:
    [warning] = near_miss_namespace_warnings({**raw("gcp"), f"{namespace}:accessLogs": "true"})
    assert warning == (
        f"config key {namespace}:accessLogs is in namespace {namespace}, not istio-source-ip: it is ignored; "
        "did you mean istio-source-ip:accessLogs?"
    )


def test_other_namespaces_are_not_warned_about() -> None:
    keys = {
        "kubernetes:context": "kind",
        "aws:region": "x",
        "istio:x": "1",
        "pulumi:tags": "{}",
        "source:ip": "1",
    }
    assert near_miss_namespace_warnings({**raw("gcp"), **keys}) == []


def test_the_program_logs_the_near_miss_warning(caplog: pytest.LogCaptureFixture) -> None:
    run_program({**raw("gcp"), "Istio-Source-IP:accessLogs": "true"})
    assert any(
        r.levelname == "WARNING" and r.getMessage().startswith("config key Istio-Source-IP:accessLogs is in")
        for r in caplog.records
    )


def test_the_program_reads_provider_keys_from_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The upsert rule sees `kubernetes:*` keys as `pulumi up` passes them, not just ours."""
    bag = {**raw("gcp"), "kubernetes:upsertExistingObjects": "true"}
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(bag))
    record = ProgramRun()
    with pytest.raises(ConfigError, match="kubernetes:upsertExistingObjects: makes `pulumi up` adopt"):
        run_program(bag, record=record)
    assert record.resources == []


def test_label_and_annotation_keys_follow_kubernetes_one_rule() -> None:
    """apimachinery IsQualifiedName for both: a DNS-1123 subdomain prefix (no length per label, 253 in
    all), then a name of at most 63 characters."""
    long_label_prefix = f"{'a' * 70}.example.com/lb"
    for key in (long_label_prefix, "example.com/lb", "lb"):
        parse_config(raw("metallb", metallb={"nodes": ["w1"], "nodeLabel": {key: "yes"}}))
        parse_config(raw("gcp", gateway={"serviceAnnotations": {key: "x"}}))
    for key in ("Example.com/lb", f"example.com/{'a' * 64}", "example.com/", "-lb"):
        with pytest.raises(ConfigError, match="not a valid"):
            parse_config(raw("metallb", metallb={"nodes": ["w1"], "nodeLabel": {key: "yes"}}))
        with pytest.raises(ConfigError, match="not a valid annotation key"):
            parse_config(raw("gcp", gateway={"serviceAnnotations": {key: "x"}}))
