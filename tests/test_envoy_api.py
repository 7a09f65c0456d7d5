"""Every EnvoyFilter the program makes, parsed strictly with Envoy's API (the xds-protos package): a
misspelt field would be dropped by istiod without a word and never reach Envoy."""

from __future__ import annotations

from typing import Any

import pytest

from tests import envoy_api
from tests.conftest import STACKS, cached_run, raw, stack_run

RATE_LIMIT = {"rateLimit": {"requestsPerMinute": 600, "burst": 100}}


def envoy_filters(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == "EnvoyFilter"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_envoy_filter_patch_of_a_shipped_stack_parses_strictly(stack: str) -> None:
    for envoy_filter in envoy_filters(stack_run(stack).k8s_objects("EnvoyFilter")):
        assert envoy_api.parse_envoy_filter(envoy_filter), envoy_filter["metadata"]


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_the_migration_and_rate_limit_filters_parse_strictly_in_both_routing_modes(routing: str) -> None:
    # Two runs: a rate limit during the migration is refused (its key would be a forgeable header).
    migrating = cached_run(raw("aws-nlb", routing=routing, gateway={"proxyProtocolMigration": True}))
    limited = cached_run(raw("aws-nlb", routing=routing, gateway=RATE_LIMIT))
    found = envoy_filters([*migrating.k8s_objects("EnvoyFilter"), *limited.k8s_objects("EnvoyFilter")])
    assert sorted(f["metadata"]["name"] for f in found) == [
        "istio-ingressgateway-proxy-protocol-accept-both",
        "istio-ingressgateway-rate-limit",
    ]
    parsed = {f["metadata"]["name"]: envoy_api.parse_envoy_filter(f) for f in found}
    [listener] = parsed["istio-ingressgateway-proxy-protocol-accept-both"]
    assert envoy_api.typed_config(listener).allow_requests_without_proxy_protocol is True
    [http] = parsed["istio-ingressgateway-rate-limit"]
    assert envoy_api.typed_config(http).descriptors[0].entries[0].key == "masked_remote_address"


def test_a_patch_with_a_field_envoy_does_not_have_is_refused_naming_it() -> None:
    bad = {
        "spec": {
            "configPatches": [
                {
                    "applyTo": "LISTENER_FILTER",
                    "patch": {
                        "value": {
                            "name": "envoy.filters.listener.proxy_protocol",
                            "typed_config": {
                                "@type": "type.googleapis.com/"
                                "envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol",
                                "allow_requests_without_proxy": True,
                            },
                        }
                    },
                }
            ]
        }
    }
    with pytest.raises(envoy_api.EnvoyApiError, match='no field named "allow_requests_without_proxy"'):
        envoy_api.parse_envoy_filter(bad)


def test_the_pinned_api_holds_the_ip_tagging_filter_and_the_fields_used_elsewhere() -> None:
    """What the project's Envoy fragments name: present in the pinned xds-protos."""
    tagging = envoy_api.message_class("envoy.extensions.filters.http.ip_tagging.v3.ip_tagging_pb2.IPTagging")
    assert {"request_type", "ip_tags"} <= set(tagging.DESCRIPTOR.fields_by_name)
    masked = envoy_api.message_class("envoy.config.route.v3.route_components_pb2.RateLimit").DESCRIPTOR
    action = masked.nested_types_by_name["Action"].nested_types_by_name["MaskedRemoteAddress"]
    assert set(action.fields_by_name) == {"v4_prefix_mask_len", "v6_prefix_mask_len"}
