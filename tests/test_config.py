"""The config contract: defaults, and every rejection names the full key, the value and what is allowed."""

from __future__ import annotations

import json

import pytest

from source_ip.config import ConfigError, parse_config, raw_config_from_runtime
from tests.conftest import problems_of, raw
from tools.program import ProgramRun, run_program

TGA = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"


def test_defaults_follow_the_contract() -> None:
    config = parse_config(raw("vngcloud"))
    assert config.source_ip == "auto"
    assert (config.istio.version, config.istio.gateway_api_crds, config.installs_gateway_api_crds) == (
        "1.30.3",
        None,
        False,
    )
    assert config.routing == "istio"
    assert (config.gateway.name, config.gateway.namespace) == ("istio-ingressgateway", "istio-system")
    assert (
        config.gateway.replicas,
        config.gateway.num_trusted_proxies,
        config.gateway.service_annotations,
    ) == (2, 0, {})
    assert (config.echo.enabled, config.echo.host, config.echo.namespace) == (
        True,
        "echo.example.com",
        "default",
    )
    assert config.metallb.node_label == {"loadbalancerIPs.metallb.io": "arp"}
    assert (config.metallb.install, config.metallb.nodes, config.metallb.pool) == (False, [], "default-pool")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            raw("vngclod"),
            "istio-source-ip:platform: unknown platform (got \"vngclod\"); did you mean 'vngcloud'?; "
            "allowed: alibaba, aws,",
            id="unknown platform",
        ),
        pytest.param(
            raw(None, sourceIp="auto"),
            "istio-source-ip:platform: is required; allowed: alibaba, aws,",
            id="missing platform",
        ),
        pytest.param(
            raw(gateway={"replcas": 3}),
            "istio-source-ip:gateway.replcas: unknown key (got 3); allowed keys here: "
            "attachNamespaces, frontProxy, hairpinHostname,",
            id="typo in a section",
        ),
        pytest.param(
            raw(sourceIP="local"),
            'istio-source-ip:sourceIP: unknown key (got "local"); allowed keys here: accessLogs',
            id="typo at top level",
        ),
        pytest.param(
            raw("gcp", sourceIp="proxy-protocol"),
            "istio-source-ip:sourceIp: platform gcp (GKE passthrough Network Load Balancer) cannot send "
            'the PROXY header (got "proxy-protocol"); allowed here: auto, local',
            id="proxy-protocol on a passthrough LB",
        ),
        pytest.param(
            raw("vngcloud", sourceIp="local"),
            "istio-source-ip:sourceIp: platform vngcloud (VNG Cloud VKS vLB) terminates TCP",
            id="local on a proxying LB",
        ),
        pytest.param(
            raw(sourceIp="fast"),
            'istio-source-ip:sourceIp: not an allowed value (got "fast"); '
            "input should be 'auto', 'proxy-protocol' or 'local'",
            id="unknown sourceIp",
        ),
        pytest.param(
            raw(gateway={"numTrustedProxies": -1}),
            "istio-source-ip:gateway.numTrustedProxies: wrong value (got -1); allowed: input should be "
            "greater than or equal to 0",
            id="negative numTrustedProxies",
        ),
        pytest.param(
            raw(echo={"host": "Echo_Example.com"}),
            "istio-source-ip:echo.host: must be a DNS name: lower-case labels of letters, digits and '-', "
            'e.g. echo.example.com (no wildcard, no IP address, no port) (got "Echo_Example.com")',
            id="host not a DNS name",
        ),
        pytest.param(
            raw(echo={"host": "http://echo.example.com"}),
            "istio-source-ip:echo.host: must be a DNS name",
            id="URL as host",
        ),
        pytest.param(
            raw("metallb", metallb={"nodes": ["w1"], "addresses": ["10.0.0.0/24", "10.0.0.300"]}),
            "istio-source-ip:metallb.addresses[1]: not an IP address, a CIDR or a range first-last (got "
            '"10.0.0.300"); allowed e.g.',
            id="bad address",
        ),
        pytest.param(
            raw("metallb", metallb={"nodes": ["w1"], "addresses": ["10.0.0.9-10.0.0.1"]}),
            "istio-source-ip:metallb.addresses[0]: not an IP address, a CIDR or a range",
            id="backwards range",
        ),
        pytest.param(
            raw(istio={"version": "1.28"}),
            "istio-source-ip:istio.version: must be an exact Istio release X.Y.Z",
            id="version not X.Y.Z",
        ),
        pytest.param(
            raw(istio={"version": "latest"}), "istio-source-ip:istio.version: must be an exact", id="latest"
        ),
        pytest.param(
            raw(istio={"version": "v1.28.1"}),
            "istio-source-ip:istio.version: must be an exact",
            id="v prefix",
        ),
        pytest.param(
            raw(allowlist=["10.0.0.0/8", "everyone"]),
            'istio-source-ip:allowlist[1]: not an IP address or CIDR (got "everyone")',
            id="bad allowlist entry",
        ),
        pytest.param(
            raw("metallb"),
            "istio-source-ip:metallb.nodes: needs at least one node name",
            id="metallb without nodes",
        ),
        pytest.param(
            raw("aws", metallb={"nodes": ["w1"]}),
            "istio-source-ip:metallb: only used with platform metallb",
            id="metallb keys on a cloud",
        ),
        pytest.param(
            raw(echo={"namespace": "istio-system"}),
            'istio-source-ip:echo.namespace: is Istio\'s namespace (got "istio-system"); '
            "allowed: another namespace",
            id="echo in istio-system",
        ),
        pytest.param(
            raw(gateway={"namespace": "edge"}, echo={"namespace": "edge"}),
            "istio-source-ip:echo.namespace: is gateway istio-ingressgateway's namespace",
            id="echo in the gateway namespace",
        ),
        pytest.param(
            raw(gateway={"replicas": 3}, gateways=[{"name": "a"}]),
            "istio-source-ip:gateways: is set together with istio-source-ip:gateway; allowed: one of the two",
            id="both gateway and gateways",
        ),
        pytest.param(
            raw(gateways=[]),
            "istio-source-ip:gateways: needs at least one gateway (got [])",
            id="no gateways",
        ),
        pytest.param(
            raw(gateways=[{"name": "edge"}, {"name": "edge", "namespace": "other"}]),
            "istio-source-ip:gateways[1].name: is already the name of gateways[0]: the pod labels "
            "(app/istio) derive from the release name",
            id="duplicate gateway names",
        ),
        pytest.param(
            raw(gateways=[{"name": "edge", "replcas": 2}]),
            "istio-source-ip:gateways[0].replcas: unknown key (got 2); allowed keys here: "
            "attachNamespaces, frontProxy, hairpinHostname,",
            id="unknown per-gateway key",
        ),
        pytest.param(
            raw("gcp", gateways=[{"name": "public"}, {"name": "edge", "sourceIp": "proxy-protocol"}]),
            "istio-source-ip:gateways[1].sourceIp: platform gcp (GKE passthrough Network Load Balancer) "
            'cannot send the PROXY header (got "proxy-protocol"); allowed here: auto, local',
            id="per-gateway sourceIp the platform cannot do",
        ),
        pytest.param(
            raw(gateways=[{"name": "edge", "numTrustedProxies": 1}]),
            "istio-source-ip:gateways[0].numTrustedProxies: behind an L4 load balancer",
            id="per-gateway rule named by its own key",
        ),
        pytest.param(
            raw(gateway={"name": "istiod"}),
            'istio-source-ip:gateway.name: is a release this program makes itself (got "istiod"); allowed: '
            "any other name than echo, echo-route,",
            id="gateway named like the program's own release",
        ),
        pytest.param(
            raw(gateways=[{"name": "metallb"}]),
            "istio-source-ip:gateways[0].name: is a release this program",
            id="per-gateway reserved name",
        ),
        pytest.param(
            raw(gateway={"name": "g" * 54}),
            "istio-source-ip:gateway.name: is longer than Helm allows",
            id="release name over 53 characters",
        ),
        pytest.param(
            raw(gateway={"name": "edge\n"}),
            "istio-source-ip:gateway.name: must be a DNS-1123 label",
            id="trailing newline in a name",
        ),
        pytest.param(
            raw(istio={"version": "1.28.1\n"}),
            "istio-source-ip:istio.version: must be an exact",
            id="trailing newline in a version",
        ),
        pytest.param(
            raw(istio={"install": "no"}),
            'istio-source-ip:istio.install: must be true or false (got "no")',
            id="install not a boolean",
        ),
        pytest.param(
            raw(accessLogs="off"),
            'istio-source-ip:accessLogs: must be true or false (got "off")',
            id="YAML 1.1 boolean word",
        ),
    ],
)
def test_rejections_name_key_value_and_what_is_allowed(config: dict[str, str], expected: str) -> None:
    assert any(p.startswith(expected) for p in problems_of(config)), problems_of(config)


def test_trusted_proxies_behind_an_l4_lb_are_refused_as_forgeable() -> None:
    [problem] = problems_of(raw("aws", gateway={"numTrustedProxies": 1}))
    assert problem.startswith(
        "istio-source-ip:gateway.numTrustedProxies: behind an L4 load balancer any value >= 1 "
        "lets a client forge its address"
    )
    assert "gateway.trustedHops: l7" in problem
    assert (
        parse_config(
            raw("aws", gateway={"numTrustedProxies": 1, "trustedHops": "l7"})
        ).gateway.num_trusted_proxies
        == 1
    )


def test_typo_gets_a_suggestion() -> None:
    [problem] = problems_of(raw(gateway={"replcas": 3}))
    assert problem.endswith("did you mean 'replicas'?")


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_of(raw(istio={"version": "1.28"}, echo={"host": "NOPE"}, gateway={"replcas": 1}))
    assert [p.split(":", 2)[1] for p in problems] == ["istio.version", "gateway.replcas", "echo.host"]


def test_message_says_nothing_was_deployed() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw("nope"))
    assert str(caught.value).startswith(
        "invalid stack config, nothing was deployed:\n  istio-source-ip:platform:"
    )


def test_a_rejected_config_registers_no_resource() -> None:
    record = ProgramRun()
    with pytest.raises(ConfigError):
        run_program(raw("metallb", metallb={"nodes": ["w1"], "addresses": ["nope"]}), record=record)
    assert record.resources == []


def test_keys_of_other_namespaces_are_not_ours() -> None:
    config = {**raw("gcp"), "kubernetes:context": "kind-x", "other:thing": "1"}
    assert parse_config(config).platform == "gcp"


def test_runtime_config_comes_from_the_engines_json_bag(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi up` passes config as PULUMI_CONFIG; a typo there is seen, not silently ignored."""
    bag = {
        "istio-source-ip:platform": "gcp",
        "istio-source-ip:gatway": json.dumps({"replicas": 3}),
        "aws:region": "x",
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(bag))
    assert raw_config_from_runtime() == {k: v for k, v in bag.items() if k.startswith("istio-source-ip:")}
    [problem] = problems_of(raw_config_from_runtime())
    assert problem.startswith("istio-source-ip:gatway: unknown key") and problem.endswith(
        "did you mean 'gateway'?"
    )


def test_migration_step_one_allows_local_on_a_proxy_only_platform() -> None:
    config = parse_config(raw("vngcloud", sourceIp="local", gateway={"proxyProtocolMigration": True}))
    assert [e.mode for e in config.gateway_entries()] == ["local"]


def test_gateways_take_the_stack_source_ip_unless_they_set_their_own() -> None:
    config = parse_config(
        raw("aws-nlb", gateways=[{"name": "public"}, {"name": "internal", "sourceIp": "local"}])
    )
    assert [(e.key, e.gateway.name, e.mode) for e in config.gateway_entries()] == [
        ("gateways[0]", "public", "proxy-protocol"),
        ("gateways[1]", "internal", "local"),
    ]


def test_without_gateways_there_is_one_default_gateway() -> None:
    [entry] = parse_config(raw("gcp")).gateway_entries()
    assert (entry.key, entry.gateway.name, entry.gateway.namespace, entry.mode) == (
        "gateway",
        "istio-ingressgateway",
        "istio-system",
        "local",
    )


def test_an_existing_control_plane_is_a_boolean_that_defaults_to_install() -> None:
    assert parse_config(raw("gcp")).istio.install is True
    assert parse_config(raw("gcp", istio={"install": False})).istio.install is False


# --- What would break the client-IP path on the final Service is refused (issue classes A, D, E, F) ----


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            raw(
                "vngcloud", gateway={"serviceAnnotations": {"vks.vngcloud.vn/enable-proxy-protocol": "true"}}
            ),
            "istio-source-ip:gateway.serviceAnnotations.vks.vngcloud.vn/enable-proxy-protocol: "
            "would make the LB send no PROXY header (or send it on some ports only) while the gateway "
            "requires it, so every "
            "connection would fail (got \"true\"); allowed: '*'",
            id="PROXY switched off under a strict gateway",
        ),
        pytest.param(
            raw(
                "aws-nlb",
                sourceIp="local",
                gateway={
                    "serviceAnnotations": {"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*"}
                },
            ),
            "istio-source-ip:gateway.serviceAnnotations."
            "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol: "
            "would make the LB send a PROXY header the gateway does not parse",
            id="PROXY switched on in passthrough",
        ),
        pytest.param(
            raw(
                "aws-nlb",
                sourceIp="local",
                gateway={
                    "serviceAnnotations": {
                        TGA: "preserve_client_ip.enabled=true,proxy_protocol_v2.enabled=true"
                    }
                },
            ),
            "istio-source-ip:gateway.serviceAnnotations.service.beta.kubernetes.io/aws-load-balancer-target-group-"
            "attributes: would make the LB send a PROXY header",
            id="PROXY on through a target-group attribute",
        ),
        pytest.param(
            raw(
                "aws-nlb",
                sourceIp="local",
                gateway={"serviceAnnotations": {TGA: "deregistration_delay.timeout_seconds=5"}},
            ),
            "istio-source-ip:gateway.serviceAnnotations.service.beta.kubernetes.io/aws-load-balancer-target-group-"
            "attributes: replaces 'preserve_client_ip.enabled=true', which the local path on aws-nlb needs",
            id="passthrough attribute dropped",
        ),
        pytest.param(
            raw(
                "generic",
                gateway={
                    "serviceAnnotations": {
                        "service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol": "true"
                    }
                },
            ),
            "istio-source-ip:gateway.serviceAnnotations.service.beta.kubernetes.io/do-loadbalancer-enable-proxy-"
            "protocol: would make the LB send a PROXY header the gateway does not parse",
            id="any known switch",
        ),
        pytest.param(
            raw(
                "linode",
                gateway={
                    "serviceAnnotations": {
                        "service.beta.kubernetes.io/linode-loadbalancer-default-proxy-protocol": "none"
                    }
                },
            ),
            "istio-source-ip:gateway.serviceAnnotations.service.beta.kubernetes.io/linode-loadbalancer-default-proxy-"
            "protocol: would make the LB send no PROXY header",
            id="linode off is none",
        ),
        pytest.param(
            raw("ovh", gateway={"serviceAnnotations": {"loadbalancer.openstack.org/proxy-protocol": "v2"}}),
            "istio-source-ip:gateway.serviceAnnotations.loadbalancer.openstack.org/proxy-protocol: "
            "would make the LB send no PROXY header",
            id="ovh v2 which old controllers ignore",
        ),
        pytest.param(
            raw(
                "metallb",
                metallb={"nodes": ["w1"]},
                gateway={"serviceAnnotations": {"metallb.io/address-pool": "other"}},
            ),
            "istio-source-ip:gateway.serviceAnnotations.metallb.io/address-pool: is "
            'set by the program itself (got "other"); allowed: remove it (the pool is metallb.pool)',
            id="pool redirected",
        ),
        pytest.param(
            raw(
                "metallb",
                metallb={"nodes": ["w1"], "addresses": ["10.0.0.240-10.0.0.250"], "install": True},
                gateway={"serviceAnnotations": {"metallb.io/loadBalancerIPs": "10.0.1.5"}},
            ),
            "istio-source-ip:gateway.serviceAnnotations.metallb.io/loadBalancerIPs: "
            "10.0.1.5 is not in metallb.addresses",
            id="fixed IP from another pool",
        ),
        pytest.param(
            raw(
                "generic",
                gateway={"serviceAnnotations": {"istio-source-ip.io/lb-sends-proxy-protocol": "true"}},
            ),
            "istio-source-ip:gateway.serviceAnnotations.istio-source-ip.io/lb-sends-proxy-protocol: "
            "is set by the program itself",
            id="the declaration is the program's",
        ),
        pytest.param(
            raw("hetzner"),
            "istio-source-ip:gateway.serviceAnnotations.load-balancer.hetzner.cloud/location: "
            "hetzner creates no load balancer without one of load-balancer.hetzner.cloud/location, "
            "load-balancer.hetzner.cloud/network-zone",
            id="hetzner without a location",
        ),
        pytest.param(
            raw(
                "vngcloud",
                sourceIp="local",
                gateway={"proxyProtocolMigration": True},
                allowlist=["192.0.2.0/24"],
            ),
            "istio-source-ip:allowlist: vngcloud terminates TCP and does not send the PROXY header yet "
            "at this migration step",
            id="allowlist while the gateway cannot see the client",
        ),
        pytest.param(
            raw("metallb", metallb={"nodes": ["w1"], "nodeLabel": {"node.kubernetes.io/lb": "yes"}}),
            "istio-source-ip:metallb.nodeLabel: label key 'node.kubernetes.io/lb' uses a prefix reserved "
            "for Kubernetes itself",
            id="reserved label prefix",
        ),
        pytest.param(
            raw("metallb", metallb={"nodes": ["w1"], "install": True, "addresses": ["127.0.0.1"]}),
            "istio-source-ip:metallb.addresses[0]: reaches loopback addresses",
            id="loopback pool",
        ),
        pytest.param(
            raw("metallb", metallb={"nodes": ["w1"], "install": True, "addresses": ["169.254.1.0/24"]}),
            "istio-source-ip:metallb.addresses[0]: reaches link-local addresses",
            id="link-local pool",
        ),
        pytest.param(
            raw("metallb", metallb={"nodes": ["w1"], "install": True, "addresses": ["224.0.0.1"]}),
            "istio-source-ip:metallb.addresses[0]: reaches multicast addresses",
            id="multicast pool",
        ),
        pytest.param(
            raw("metallb", metallb={"nodes": ["w1"], "install": True, "addresses": ["::/0"]}),
            "istio-source-ip:metallb.addresses[0]: reaches unspecified (::) addresses",
            id="whole internet v6",
        ),
        pytest.param(
            raw("metallb", metallb={"nodes": ["w1"], "install": True, "addresses": ["11.0.0.0-20.0.0.0"]}),
            "istio-source-ip:metallb.addresses[0]: is wider than a /8",
            id="too wide",
        ),
        pytest.param(
            raw(
                "metallb",
                metallb={
                    "nodes": ["w1"],
                    "install": True,
                    "addresses": ["10.0.0.0/24", "10.0.0.200-10.0.0.210"],
                },
            ),
            "istio-source-ip:metallb.addresses: 10.0.0.0/24 and 10.0.0.200-10.0.0.210 overlap",
            id="overlap",
        ),
        pytest.param(
            raw(
                "metallb",
                metallb={
                    "nodes": ["w1"],
                    "addresses": ["10.0.0.0/24"],
                    "adoptL2Advertisement": "default-l2advertisement",
                },
            ),
            "istio-source-ip:metallb.adoptL2Advertisement: "
            "adopting it replaces its whole ipAddressPools list",
            id="adopting while creating a new pool",
        ),
    ],
)
def test_what_would_break_the_final_service_is_refused(config: dict[str, str], expected: str) -> None:
    assert any(p.startswith(expected) for p in problems_of(config)), problems_of(config)


@pytest.mark.parametrize(
    "annotations",
    [
        {"vks.vngcloud.vn/enable-proxy-protocol": "*,http2"},
        {TGA: "preserve_client_ip.enabled=true,deregistration_delay.timeout_seconds=5"},
        {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"},
    ],
)
def test_annotations_that_keep_the_path_are_accepted(annotations: dict[str, str]) -> None:
    platform, mode = (
        ("vngcloud", "proxy-protocol")
        if "vks.vngcloud.vn/enable-proxy-protocol" in annotations
        else ("aws-nlb", "local")
    )
    parse_config(raw(platform, sourceIp=mode, gateway={"serviceAnnotations": annotations}))


def test_digitalocean_sets_the_lb_type_for_each_path() -> None:
    from composition import stack_inputs
    from source_ip.gateway import Deployer, decide

    for mode, lb_type in (("proxy-protocol", "REGIONAL"), ("local", "REGIONAL_NETWORK")):
        [args] = stack_inputs(parse_config(raw("digitalocean", sourceIp=mode))).gateways
        annotations = decide(args, Deployer.CHART).service_annotations
        assert annotations["service.beta.kubernetes.io/do-loadbalancer-type"] == lb_type


def test_a_flat_dotted_key_from_config_set_without_path_suggests_path() -> None:
    [problem] = problems_of({"istio-source-ip:platform": "gcp", "istio-source-ip:gateway.replicas": "3"})
    assert problem.startswith("istio-source-ip:gateway.replicas: unknown key (got 3); allowed keys here:")
    assert problem.endswith(
        "this sets one flat key named 'gateway.replicas': set the nested value with pulumi config "
        "set --path 'istio-source-ip:gateway.replicas' <value>"
    )
