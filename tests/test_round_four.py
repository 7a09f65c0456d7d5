"""The world's rules, round 4: hostile inputs to the new keys, the HTTPS lifecycle's refusals and waits, and
what a newcomer hit (a mistyped platform, problems reported over several rounds)."""

from __future__ import annotations

from typing import Any

import pytest

from source_ip.config import ConfigError, parse_config
from tests.conftest import cached_run, raw

QUICKSTART = "istio-source-ip-quickstart-ca"


def problems(config: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigError) as refused:
        parse_config(config)
    return {p.key.removeprefix("istio-source-ip:"): str(p) for p in refused.value.problems}


@pytest.mark.parametrize(
    ("gateway", "key"),
    [
        ({"replicas": True}, "gateway.replicas"),
        ({"replicas": 2.0}, "gateway.replicas"),
        ({"maxReplicas": False}, "gateway.maxReplicas"),
        ({"numTrustedProxies": 1.0, "trustedHops": "l7"}, "gateway.numTrustedProxies"),
        ({"rateLimit": {"requestsPerMinute": True}}, "gateway.rateLimit.requestsPerMinute"),
        ({"rateLimit": {"requestsPerMinute": 60, "burst": 5.0}}, "gateway.rateLimit.burst"),
        (
            {"routes": [{"hosts": ["a.example.com"], "service": "a", "namespace": "a", "port": 80.0}]},
            "gateway.routes[0].port",
        ),
    ],
)
def test_a_boolean_or_a_float_in_an_integer_key_is_refused_naming_it(
    gateway: dict[str, Any], key: str
) -> None:
    found = problems(raw("gcp", gateway=gateway))
    assert "must be a whole number" in found[key]


def test_a_secret_name_kubernetes_accepts_is_accepted_even_with_a_numeric_last_label() -> None:
    config = parse_config(raw("gcp", gateway={"tls": {"secretName": "echo-tls.2024"}}))
    assert config.gateway.tls is not None and config.gateway.tls.secret_name == "echo-tls.2024"


def test_a_metallb_pool_holding_ipv4_mapped_loopback_is_refused() -> None:
    metallb = {"nodes": ["w1"], "install": True, "addresses": ["::ffff:127.0.0.1/128"]}
    found = problems(raw("metallb", metallb=metallb))
    assert "IPv4-mapped IPv6 addresses" in found["metallb.addresses[0]"]


@pytest.mark.parametrize(
    "cidrs",
    [
        ["0.0.0.0/0"],
        ["0.0.0.0/1", "128.0.0.0/1"],
        ["::/0"],
        ["::/1", "8000::/1"],
        [
            "1.0.0.0/8",
            "2.0.0.0/7",
            "4.0.0.0/6",
            "8.0.0.0/5",
            "16.0.0.0/4",
            "32.0.0.0/3",
            "64.0.0.0/2",
            "128.0.0.0/1",
        ],
        ["0.0.0.0/1"],
    ],
)
def test_a_custom_front_proxy_whose_ranges_admit_everyone_is_refused(cidrs: list[str]) -> None:
    found = problems(raw("gcp", gateway={"frontProxy": {"profile": "custom", "cidrs": cidrs}}))
    assert "together cover half of all IPv" in found["gateway.frontProxy.cidrs"]


def test_a_custom_front_proxy_with_its_own_ranges_is_accepted() -> None:
    cidrs = ["10.0.0.0/8", "198.51.100.0/24", "2001:db8::/32"]
    parse_config(raw("gcp", gateway={"frontProxy": {"profile": "custom", "cidrs": cidrs}}))


def test_the_quickstart_issuer_without_a_cert_manager_install_is_refused() -> None:
    found = problems(raw("metallb", metallb={"nodes": ["w1"]}, certManager={"quickstartIssuer": True}))
    assert "certManager.install: true with it" in found["certManager.quickstartIssuer"]


def test_a_certificate_naming_the_quickstart_ca_as_an_issuer_is_refused() -> None:
    tls = {"certManager": {"issuer": QUICKSTART, "issuerKind": "Issuer"}}
    config = raw(
        "metallb",
        metallb={"nodes": ["w1"]},
        gateway={"tls": tls},
        certManager={"install": True, "quickstartIssuer": True},
    )
    assert "allowed: ClusterIssuer" in problems(config)["gateway.tls.certManager.issuerKind"]


def test_a_certificate_naming_the_quickstart_ca_while_it_is_off_is_refused() -> None:
    config = raw(
        "metallb",
        metallb={"nodes": ["w1"]},
        gateway={"tls": {"certManager": {"issuer": QUICKSTART}}},
        certManager={"install": True},
    )
    assert (
        "creates only with certManager.quickstartIssuer" in problems(config)["gateway.tls.certManager.issuer"]
    )


def test_the_quickstart_ca_redirecting_a_public_load_balancers_visitors_is_refused_unless_asked_for() -> None:
    cert_manager = {"install": True, "quickstartIssuer": True}
    tls: dict[str, Any] = {"certManager": {"issuer": QUICKSTART}}
    found = problems(raw("gcp", gateway={"tls": tls}, certManager=cert_manager))
    assert "no browser trusts" in found["gateway.tls.redirectHttp"]
    parse_config(raw("gcp", gateway={"tls": {**tls, "redirectHttp": True}}, certManager=cert_manager))
    parse_config(raw("metallb", metallb={"nodes": ["w1"]}, gateway={"tls": tls}, certManager=cert_manager))


def test_http01_through_a_reused_istio_on_a_gateway_the_ingress_selector_does_not_serve_is_refused() -> None:
    config = raw(
        "gcp",
        istio={"install": False},
        gateway={"name": "edge", "tls": {"certManager": {"issuer": "letsencrypt"}}},
    )
    assert "ingressSelector" in problems(config)["gateway.tls.certManager.challenge"]


def test_a_mistyped_platform_gets_a_did_you_mean() -> None:
    assert "did you mean 'aws-nlb'?" in problems(raw("aws-nbl"))["platform"]


def test_a_typo_and_a_rules_problem_elsewhere_are_reported_in_one_round() -> None:
    found = problems(raw("gcp", gateway={"replcas": 3}, echo={"namespace": "istio-system"}))
    assert set(found) == {"gateway.replcas", "echo.namespace"}


@pytest.mark.parametrize(
    "keys",
    [
        {"echo": {"host": "Probe.example.com"}, "gateway": {"tls": {"secretName": "edge-tls"}}},
        {
            "echo": {"enabled": "no"},
            "gateway": {"tls": {"secretName": "edge-tls", "hosts": ["a.example.com"]}},
        },
        {"gateway": {"name": "1edge"}, "observability": {"alerts": True, "internalGateways": ["1edge"]}},
    ],
)
def test_a_value_that_failed_its_type_is_not_judged_by_its_default_elsewhere(keys: dict[str, Any]) -> None:
    found = problems(raw("gcp", **keys))
    assert len(found) == 1, found


def test_a_rules_problem_beside_a_key_that_failed_its_type_is_left_out() -> None:
    """trustedHops l9 is set aside; its default l4 would make numTrustedProxies 2 look forgeable."""
    found = problems(raw("gcp", gateway={"trustedHops": "l9", "numTrustedProxies": 2}))
    assert set(found) == {"gateway.trustedHops"}


def test_pulumi_up_waits_for_each_certificate_as_long_as_certmanager_waitseconds_says() -> None:
    tls = {"certManager": {"issuer": "letsencrypt", "challenge": "dns01"}}
    default = cached_run(raw("gcp", gateway={"tls": tls}))
    longer = cached_run(raw("gcp", gateway={"tls": tls}, certManager={"waitSeconds": 1800}))
    timeouts = [
        r.k8s_objects("Certificate")[0]["metadata"]["annotations"]["pulumi.com/timeoutSeconds"]
        for r in (default, longer)
    ]
    assert timeouts == ["600", "1800"]
    assert "waitSeconds" in problems(raw("gcp", certManager={"waitSeconds": 5}))["certManager.waitSeconds"]


def test_cert_manager_waits_for_the_gateway_api_crds_in_gateway_api_mode() -> None:
    run = cached_run(
        raw("metallb", routing="gateway-api", metallb={"nodes": ["w1"]}, certManager={"install": True})
    )
    [release] = [
        r for r in run.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "cert-manager"
    ]
    assert any("gateway-api-crds" in urn for urn in release.dependencies)


def test_the_rate_limit_keys_ipv6_clients_by_the_prefix_the_stack_names() -> None:
    run = cached_run(raw("gcp", gateway={"rateLimit": {"requestsPerMinute": 60, "ipv6Prefix": 56}}))
    [envoy_filter] = run.k8s_objects("EnvoyFilter")
    config = envoy_filter["spec"]["configPatches"][0]["patch"]["value"]["typed_config"]
    [action] = config["rate_limits"][0]["actions"]
    assert action == {"masked_remote_address": {"v4_prefix_mask_len": 32, "v6_prefix_mask_len": 56}}


def test_a_rate_limit_on_a_reused_istio_older_than_its_fields_is_refused() -> None:
    old = raw(
        "gcp", istio={"install": False, "version": "1.25.4"}, gateway={"rateLimit": {"requestsPerMinute": 60}}
    )
    assert "needs Istio 1.26 or newer" in problems(old)["gateway.rateLimit"]
    parse_config(
        raw(
            "gcp",
            istio={"install": False, "version": "1.26.0"},
            gateway={"rateLimit": {"requestsPerMinute": 60}},
        )
    )


def test_a_quoted_number_with_a_point_is_refused_and_quoted_digits_are_read_as_a_number() -> None:
    assert "must be a whole number" in problems(raw("gcp", gateway={"replicas": "2.0"}))["gateway.replicas"]
    assert parse_config(raw("gcp", gateway={"replicas": "3"})).gateway.replicas == 3  # config set --path


def test_an_allowlist_of_no_family_an_ipv6_only_gateway_serves_is_refused() -> None:
    metallb = {"nodes": ["w1"], "addresses": ["fd00:10::240/124"]}
    gateway = {"ipFamilies": ["IPv6"]}
    found = problems(raw("metallb", metallb=metallb, gateway=gateway, allowlist=["203.0.113.0/24"]))
    assert "would refuse every one (403)" in found["allowlist"]
    parse_config(raw("metallb", metallb=metallb, gateway=gateway, allowlist=["2001:db8::/32"]))


def test_a_custom_front_proxy_of_no_family_the_gateway_serves_is_refused() -> None:
    gateway = {"ipFamilies": ["IPv6"], "frontProxy": {"profile": "custom", "cidrs": ["198.51.100.0/24"]}}
    found = problems(raw("metallb", metallb={"nodes": ["w1"]}, gateway=gateway))
    assert "the guard would refuse it" in found["gateway.frontProxy.cidrs"]


def test_a_rate_limit_bucket_smaller_than_one_refill_is_refused() -> None:
    found = problems(raw("gcp", gateway={"rateLimit": {"requestsPerMinute": 60000, "burst": 10}}))
    assert "allowed: at least 50" in found["gateway.rateLimit.burst"]
    parse_config(raw("gcp", gateway={"rateLimit": {"requestsPerMinute": 60000, "burst": 50}}))
