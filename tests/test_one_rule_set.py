"""One rule set: the component package refuses exactly what a stack file refuses, with the same rules.

A stack file is refused by `parse_config` (every problem keyed by the stack's key); a component's args by
`GatewaySettings.of`, before the component registers any child. Both run the rules of
`source_ip/config/gateway_rules.py`; the property test draws gateway inputs and holds the two paths to the
same verdict, and the examples below build the components directly with inputs a stack file refuses.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import GatewayApiGateway, IngressGateway
from source_ip.config import ConfigError, parse_config
from source_ip.config.gateway_rules import COMPONENT_ONLY_RULES, GATEWAY_RULES, RULE_EXAMPLES
from source_ip.config.models import VALUE_EXAMPLES
from source_ip.config.rules import STACK_RULE_EXAMPLES
from source_ip.config.settings import GatewayInputError, GatewaySettings
from source_ip.facts import ISTIO_VERSION, PLATFORMS, SourceIpMode
from source_ip.plan import proxy_protocol_listener
from tests.conftest import GATEWAY_ARGS, ROOT, raw
from tools.program import ProgramRun, run_body

BASE_ARGS = GATEWAY_ARGS


def registered_by(build: Any) -> tuple[list[Any], BaseException | None]:
    """Run `build` under the recording mocks: what it registered, and what it raised."""
    run = ProgramRun()
    try:
        run_body(build, record=run)
    except Exception as error:  # the refusal under test
        return run.resources, error
    return run.resources, None


WHY_EXAMPLES = [
    ({"replicas": 5, "max_replicas": 2}, "max_replicas: is below replicas (5)"),
    ({"num_trusted_proxies": 3, "trusted_hops": "l4"}, "num_trusted_proxies: behind an L4 load balancer"),
]


@pytest.mark.parametrize(("inputs", "message"), WHY_EXAMPLES, ids=["min-above-max", "forgeable-xff"])
def test_the_ingress_gateway_component_refuses_before_registering_anything(
    inputs: dict[str, Any], message: str
) -> None:
    resources, error = registered_by(lambda: IngressGateway("edge", {**BASE_ARGS, **inputs}))  # type: ignore[typeddict-item]
    assert isinstance(error, GatewayInputError)
    assert f"IngressGateway edge: {message}" in str(error)
    assert resources == []


@pytest.mark.parametrize(("inputs", "message"), WHY_EXAMPLES, ids=["min-above-max", "forgeable-xff"])
def test_the_gateway_api_component_refuses_the_same_inputs_before_registering_anything(
    inputs: dict[str, Any], message: str
) -> None:
    args = {"gateway": {**BASE_ARGS, **inputs}, "route_namespaces": []}
    resources, error = registered_by(lambda: GatewayApiGateway("edge", args))  # type: ignore[arg-type]
    assert isinstance(error, GatewayInputError)
    assert f"GatewayApiGateway edge: {message}" in str(error)
    assert resources == []


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"replicas": 0}, "replicas"),
        ({"name": "istiod"}, "name"),
        ({"namespace": "Edge"}, "namespace"),
        ({"service_annotations": {"bad key!": "x"}}, "service_annotations['bad key!']"),
        ({"rate_limit": {"burst": 60}}, "rate_limit.requests_per_minute"),
        ({"front_proxy": {"profile": "akamai"}}, "front_proxy.profile"),
        ({"mode": "proxy-protocol", "listener": "strict"}, "mode"),
        ({"https": {"hosts": ["a.example.com"]}}, "https"),
        ({"hairpin_hostname": "gw.example.com"}, "hairpin_hostname"),
        ({"replicas": 2, "unknown_input": 1}, "unknown_input"),
    ],
)
def test_a_component_input_a_stack_file_refuses_is_refused_by_its_field_name(
    inputs: dict[str, Any], field: str
) -> None:
    name = inputs.get("name", "edge")
    with pytest.raises(GatewayInputError) as refused:
        GatewaySettings.of({**BASE_ARGS, **inputs})
    assert any(str(p).startswith(f"IngressGateway {name}: {field}:") for p in refused.value.problems), str(
        refused.value
    )


def test_every_problem_of_the_args_is_reported_at_once() -> None:
    with pytest.raises(GatewayInputError) as refused:
        GatewaySettings.of(
            {
                **BASE_ARGS,
                "replicas": 5,
                "max_replicas": 2,
                "num_trusted_proxies": 1,
                "hairpin_hostname": "a.b",
            }
        )
    fields = sorted(str(p).split(": ")[1] for p in refused.value.problems)
    assert fields == ["hairpin_hostname", "max_replicas", "num_trusted_proxies"]


ALL_EXAMPLES = [
    *((name, example) for name, examples in RULE_EXAMPLES.items() for example in examples),
    *((name, example) for name, examples in STACK_RULE_EXAMPLES.items() for example in examples),
    *(("value", example) for example in VALUE_EXAMPLES),
]


@pytest.mark.parametrize(("rule_name", "example"), ALL_EXAMPLES, ids=[e[1][0] for e in ALL_EXAMPLES])
def test_each_example_a_rule_carries_is_refused_by_a_stack_file(rule_name: str, example: Any) -> None:
    _, config = example
    with pytest.raises(ConfigError):
        parse_config(raw(**config))


def test_the_refusals_doc_has_a_row_for_every_example_a_rule_carries_and_no_other() -> None:
    doc = (ROOT / "docs" / "refusals.md").read_text()
    rows = [line.split(" | ")[0].removeprefix("| ") for line in doc.splitlines() if line.startswith("| ")]
    titles = [title for _, (title, _) in ALL_EXAMPLES]
    assert len(set(titles)) == len(titles)
    assert sorted(rows[1:]) == sorted(titles)  # after the header row


def test_every_gateway_rule_carries_an_example() -> None:
    assert {rule.__name__ for rule in GATEWAY_RULES} == set(RULE_EXAMPLES) | COMPONENT_ONLY_RULES
    assert COMPONENT_ONLY_RULES == {"namespace_output_with_routes"}
    assert all(RULE_EXAMPLES.values()) and all(STACK_RULE_EXAMPLES.values())
    assert len(GATEWAY_RULES) >= 10


# --- the property: both paths give the same verdict -------------------------------------------------------

PLATFORM_IDS = sorted(
    p for p in PLATFORMS if not PLATFORMS[p].pins_nodes and not PLATFORMS[p].required_one_of
)

gateway_inputs = st.fixed_dictionaries(
    {},
    optional={
        "replicas": st.integers(min_value=-1, max_value=6),
        "maxReplicas": st.integers(min_value=0, max_value=6),
        "numTrustedProxies": st.integers(min_value=0, max_value=3),
        "trustedHops": st.sampled_from(["l4", "l7", "l9"]),
        "hairpinHostname": st.sampled_from(["gw.example.com", "Not A Host"]),
        "proxyProtocolMigration": st.booleans(),
        "name": st.sampled_from(["edge", "istiod", "istio-ingressgateway", "9lives"]),
        "frontProxy": st.sampled_from(
            [
                {"profile": "cloudflare"},
                {"profile": "custom"},
                {"profile": "custom", "cidrs": ["198.51.100.0/24"]},
                {"profile": "cloudflare", "header": "CF-Connecting-IP"},
            ]
        ),
        "rateLimit": st.sampled_from(
            [{"requestsPerMinute": 600, "burst": 20}, {"requestsPerMinute": 0, "burst": 1}, {"burst": 5}]
        ),
        "ipFamilies": st.sampled_from([["IPv4"], ["IPv6"], ["IPv4", "IPv6"], ["IPv6", "IPv6"], []]),
        "routes": st.lists(
            st.fixed_dictionaries(
                {
                    # not echo.host: the probe's host is the stack's to guard (the component has no probe)
                    "hosts": st.sampled_from([["shop.example.com"], ["api.example.com"], []]),
                    "service": st.sampled_from(["shop", "1shop"]),
                    "namespace": st.just("apps"),
                    "port": st.sampled_from([80, 0]),
                },
                optional={"pathPrefix": st.sampled_from(["/", "/v1", "/v1/", "v1"])},
            ),
            max_size=3,
        ),
        "attachNamespaces": st.sampled_from([["team-a"], ["Team A"]]),
        "tls": st.sampled_from(
            [
                {"secretName": "echo-tls"},
                {"secretName": "echo-tls", "redirectHttp": False},
                {},
                {"secretName": "echo-tls", "certManager": {"issuer": "le"}},
                {"certManager": {"issuer": "le", "challenge": "dns01"}},
            ]
        ),
    },
)


def component_args(platform: str, source_ip: str, gateway: dict[str, Any]) -> dict[str, Any]:
    """The same gateway as a component's args: snake_case, the mode and listener decided as a stack does."""
    mode = PLATFORMS[platform].default_mode if source_ip == "auto" else SourceIpMode(source_ip)
    args: dict[str, Any] = {
        "namespace": "edge",
        "istio_version": ISTIO_VERSION,
        "platform": platform,
        "mode": mode,
        "listener": proxy_protocol_listener(mode, gateway.get("proxyProtocolMigration") is True),
    }
    names = {
        "replicas": "replicas",
        "maxReplicas": "max_replicas",
        "numTrustedProxies": "num_trusted_proxies",
        "trustedHops": "trusted_hops",
        "hairpinHostname": "hairpin_hostname",
        "name": "name",
        "ipFamilies": "ip_families",
        "attachNamespaces": "attach_namespaces",
    }
    for key, field in names.items():
        if key in gateway:
            args[field] = gateway[key]
    if "frontProxy" in gateway:
        args["front_proxy"] = dict(gateway["frontProxy"])
    if "rateLimit" in gateway:
        limit = gateway["rateLimit"]
        args["rate_limit"] = {
            {"requestsPerMinute": "requests_per_minute"}.get(k, k): v for k, v in limit.items()
        }
    if "routes" in gateway:
        args["routes"] = [
            {{"pathPrefix": "path_prefix"}.get(k, k): v for k, v in route.items()}
            for route in gateway["routes"]
        ]
    if "tls" in gateway:
        tls = gateway["tls"]
        routed = [h for route in gateway.get("routes", []) for h in route["hosts"]]
        https: dict[str, Any] = {"hosts": list(dict.fromkeys(["echo.example.com", *routed]))}
        if "secretName" in tls:
            https["secret_name"] = tls["secretName"]
        if "redirectHttp" in tls:
            https["redirect_http"] = tls["redirectHttp"]
        if "certManager" in tls:
            https["cert_manager"] = dict(tls["certManager"])
        args["https"] = https
    return args


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    platform=st.sampled_from(PLATFORM_IDS),
    source_ip=st.sampled_from(["auto", "local", "proxy-protocol"]),
    gateway=gateway_inputs,
)
def test_a_stack_file_and_the_component_give_the_same_verdict_on_any_gateway(
    platform: str, source_ip: str, gateway: dict[str, Any]
) -> None:
    gateway = {"namespace": "edge", **gateway}
    try:
        parse_config(raw(platform, sourceIp=source_ip, gateway=gateway))
        stack_refuses = False
    except ConfigError as error:
        stack_refuses = True
        stack_problems = [str(p) for p in error.problems]
    try:
        GatewaySettings.of(component_args(platform, source_ip, gateway))
        component_refuses = False
    except GatewayInputError as error:
        component_refuses = True
        component_problems = [str(p) for p in error.problems]
    assert stack_refuses == component_refuses, (
        stack_problems if stack_refuses else component_problems  # what the other path let through
    )


def test_settings_built_directly_are_held_to_the_rules_too() -> None:
    with pytest.raises(ValueError, match=r"max_replicas: is below replicas \(5\)"):
        GatewaySettings(**{**BASE_ARGS, "replicas": 5, "max_replicas": 2})
    assert GatewaySettings(**BASE_ARGS).name == "edge"


def test_a_namespace_output_is_refused_where_objects_are_named_after_it() -> None:
    def build() -> None:
        namespace = pulumi.Output.from_input("edge")
        IngressGateway("edge", {**BASE_ARGS, "namespace": namespace, "routes": [ROUTE]})  # type: ignore[typeddict-item]

    resources, error = registered_by(build)
    assert isinstance(error, GatewayInputError) and "namespace: is a Pulumi Output" in str(error)
    assert resources == []
    run_body(lambda: IngressGateway("edge", {**BASE_ARGS, "namespace": pulumi.Output.from_input("edge")}))  # type: ignore[typeddict-item]


ROUTE = {"hosts": ["a.example.com"], "service": "a", "namespace": "apps", "port": 80}
