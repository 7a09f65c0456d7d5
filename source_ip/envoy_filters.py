"""The EnvoyFilter shape every HTTP filter the program adds to a gateway shares: one patch of the HTTP
filters of each HTTP connection manager (port 80, port 443) of the gateway's pods, in istiod's GATEWAY
context. Envoy's and Istio's names here; the filters themselves are their modules' (rate_limit.py,
observability.py)."""

from typing import Any

HCM_FILTER = "envoy.filters.network.http_connection_manager"
ROUTER_FILTER = "envoy.filters.http.router"


def http_filter_spec(
    pod_labels: dict[str, str], operation: str, value: dict[str, Any], *, at_router: bool
) -> dict[str, Any]:
    """EnvoyFilter spec: `operation` (INSERT_FIRST, INSERT_BEFORE, MERGE) with `value` on the HTTP filters
    of every connection manager of the pods with `pod_labels`; `at_router`: relative to the router (the
    last filter), else to the connection manager's filter list."""
    chain_filter: dict[str, Any] = {"name": HCM_FILTER}
    if at_router:
        chain_filter["subFilter"] = {"name": ROUTER_FILTER}
    return {
        "workloadSelector": {"labels": dict(pod_labels)},
        "configPatches": [
            {
                "applyTo": "HTTP_FILTER",
                "match": {"context": "GATEWAY", "listener": {"filterChain": {"filter": chain_filter}}},
                "patch": {"operation": operation, "value": value},
            }
        ],
    }
