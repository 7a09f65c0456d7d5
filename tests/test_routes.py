"""Your own Services through the gateway: routes in both routing modes, HTTPS for their hosts, the echo app
as the probe, the policies over them, and the refusals (docs/routes.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import GatewayApiGateway, IngressGateway
from source_ip.config import ConfigError, parse_config
from source_ip.config.settings import GatewayInputError
from tests.conftest import GATEWAY_ARGS, cached_run, fake_env, raw, verify_cli
from tools.program import run_body

SHOP = {"hosts": ["shop.example.com"], "service": "storefront", "namespace": "shop", "port": 8080}
API = {"hosts": ["shop.example.com"], "pathPrefix": "/api", "service": "api", "namespace": "api", "port": 80}
TWO_ROUTES = {"name": "edge", "namespace": "edge", "routes": [SHOP, API]}


def objects(run: Any, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in run.k8s_objects(kind)}


def admitted(listener: dict[str, Any]) -> list[str]:
    [expression] = listener["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"]
    assert expression["key"] == "kubernetes.io/metadata.name"
    return list(expression["values"])


def _matches(match: dict[str, Any], port: int, path: str) -> bool:
    if match.get("port", port) != port:
        return False
    uri = match.get("uri", {"prefix": "/"})
    return path == uri["exact"] if "exact" in uri else path.startswith(uri["prefix"])


def _catch_all(route: dict[str, Any]) -> bool:
    """istiod's view once the port is known: a route whose matches all admit every path."""
    matches = route.get("match") or [{}]
    return any(
        m.get("uri", {"prefix": "/"}) == {"prefix": "/"} and set(m) <= {"uri", "port"} for m in matches
    )


def first_route_on(service: dict[str, Any], port: int, path: str) -> dict[str, Any]:
    """The route a request to `path` on `port` takes after istiod's ordering: the routes of the port, the
    catch-alls moved behind the others, each group in its written order (SortVHostRoutes in
    pilot/pkg/networking/core/route/route.go, run on every gateway virtual host)."""
    on_port = [
        r for r in service["spec"]["http"] if any(m.get("port", port) == port for m in r.get("match") or [{}])
    ]
    ordered = [r for r in on_port if not _catch_all(r)] + [r for r in on_port if _catch_all(r)]
    return next(r for r in ordered if any(_matches(m, port, path) for m in r.get("match") or [{}]))


def test_istio_mode_routes_each_host_and_prefix_to_the_users_service_by_whole_segments() -> None:
    run = cached_run(raw("gcp", gateway=TWO_ROUTES))
    gateway = objects(run, "Gateway")[("edge", "edge-routes")]
    assert gateway["spec"]["selector"] == {"app": "edge", "istio": "edge"}
    assert gateway["spec"]["servers"] == [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["edge/shop.example.com"]}
    ]
    [service] = [vs for key, vs in objects(run, "VirtualService").items() if key != ("default", "echo")]
    assert service["metadata"] == {"name": "edge.shop.example.com", "namespace": "edge"}
    assert service["spec"]["gateways"] == ["edge/edge-routes"]
    assert [(r["match"], r["route"][0]["destination"]) for r in service["spec"]["http"]] == [
        (
            [{"uri": {"exact": "/api"}}, {"uri": {"prefix": "/api/"}}],
            {"host": "api.api.svc.cluster.local", "port": {"number": 80}},
        ),
        ([{"uri": {"prefix": "/"}}], {"host": "storefront.shop.svc.cluster.local", "port": {"number": 8080}}),
    ]


def test_gateway_api_mode_puts_each_route_beside_its_service_and_admits_exactly_those_namespaces() -> None:
    run = cached_run(raw("gcp", routing="gateway-api", gateway=TWO_ROUTES))
    routes = {key: r for key, r in objects(run, "HTTPRoute").items() if key[0] in ("shop", "api")}
    backends = {key[0]: r["spec"]["rules"][0]["backendRefs"] for key, r in routes.items()}
    assert backends == {"shop": [{"name": "storefront", "port": 8080}], "api": [{"name": "api", "port": 80}]}
    paths = {key[0]: r["spec"]["rules"][0]["matches"] for key, r in routes.items()}
    assert paths["api"] == [{"path": {"type": "PathPrefix", "value": "/api"}}]
    for route in routes.values():
        assert route["spec"]["hostnames"] == ["shop.example.com"]
        assert [(p["name"], p["namespace"], p["sectionName"]) for p in route["spec"]["parentRefs"]] == [
            ("edge", "edge", "http")
        ]
    assert run.k8s_objects("ReferenceGrant") == []  # a route never reaches into another namespace
    [gateway] = run.k8s_objects("Gateway")
    [http] = gateway["spec"]["listeners"]
    assert admitted(http) == ["api", "default", "shop"]  # the routes' and the echo app's, nothing wider


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_https_serves_every_routed_host_and_the_probe_with_one_certificate_and_redirects_them(
    routing: str,
) -> None:
    tls = {"certManager": {"issuer": "letsencrypt", "challenge": "dns01"}}
    run = cached_run(
        raw("gcp", routing=routing, gateway={**TWO_ROUTES, "tls": tls}, certManager={"install": True})
    )
    [certificate] = run.k8s_objects("Certificate")
    assert certificate["spec"]["dnsNames"] == ["echo.example.com", "shop.example.com"]
    if routing == "istio":
        gateway = objects(run, "Gateway")[("edge", "edge-routes")]
        [_, https] = gateway["spec"]["servers"]
        assert https["hosts"] == ["edge/shop.example.com"]
        assert https["tls"] == {"mode": "SIMPLE", "credentialName": "edge-tls"}
        echo = objects(run, "Gateway")[("default", "echo-edge")]
        assert echo["spec"]["servers"][1]["hosts"] == ["echo.example.com"]  # no SNI served twice
        service = objects(run, "VirtualService")[("edge", "edge.shop.example.com")]
        for path in ("/api", "/api/v1", "/", "/cart"):
            assert first_route_on(service, 80, path)["redirect"] == {"scheme": "https", "redirectCode": 301}
            assert "route" in first_route_on(service, 443, path)
    else:
        redirect = objects(run, "HTTPRoute")[("edge", "edge-routes-https-redirect")]
        assert redirect["spec"]["hostnames"] == ["shop.example.com"]
        assert redirect["spec"]["parentRefs"][0]["sectionName"] == "http"
        app = objects(run, "HTTPRoute")
        shop = next(r for (ns, _), r in app.items() if ns == "shop")
        assert [p["sectionName"] for p in shop["spec"]["parentRefs"]] == ["https"]
        [gateway] = run.k8s_objects("Gateway")
        http, https = gateway["spec"]["listeners"]
        # the routes' too: a gateway gaining tls keeps them on http until the redirect exists
        assert admitted(http) == ["api", "default", "edge", "shop"]
        assert admitted(https) == ["api", "default", "shop"]


def test_the_routes_redirect_waits_for_the_certificate_and_the_routing_itself_does_not() -> None:
    tls = {"certManager": {"issuer": "letsencrypt", "challenge": "dns01"}}
    run = cached_run(raw("gcp", gateway={**TWO_ROUTES, "tls": tls}, certManager={"install": True}))
    service = run.named("kubernetes:networking.istio.io/v1:VirtualService", "edge-route-shop.example.com")
    gateway = run.named("kubernetes:networking.istio.io/v1:Gateway", "edge-routes-gateway")
    assert any("edge-certificate" in d for d in service.dependencies)
    assert not any("certificate" in d for d in gateway.dependencies)


def test_app_teams_attach_their_own_routes_through_the_namespaces_the_gateway_names() -> None:
    gateway = {"name": "edge", "namespace": "edge", "attachNamespaces": ["team-a"]}
    istio = cached_run(raw("gcp", gateway=gateway, echo={"enabled": False}))
    [routes_gateway] = istio.k8s_objects("Gateway")
    assert routes_gateway["spec"]["servers"][0]["hosts"] == ["team-a/*"]
    api = cached_run(raw("gcp", routing="gateway-api", gateway=gateway, echo={"enabled": False}))
    [listener] = api.k8s_objects("Gateway")[0]["spec"]["listeners"]
    assert admitted(listener) == ["team-a"]


def test_the_allowlist_and_rate_limit_act_on_the_pods_that_serve_the_routes() -> None:
    run = cached_run(
        raw(
            "gcp",
            gateway={**TWO_ROUTES, "rateLimit": {"requestsPerMinute": 600}},
            allowlist=["203.0.113.0/24"],
        )
    )
    routes_gateway = objects(run, "Gateway")[("edge", "edge-routes")]
    [policy] = run.k8s_objects("AuthorizationPolicy")
    [limit] = run.k8s_objects("EnvoyFilter")
    pods = routes_gateway["spec"]["selector"]
    assert policy["spec"]["selector"]["matchLabels"] == pods
    assert limit["spec"]["workloadSelector"]["labels"] == pods


def test_with_the_echo_app_off_routes_alone_serve_https_in_istio_mode() -> None:
    config = raw("gcp", gateway={**TWO_ROUTES, "tls": {"secretName": "edge-tls"}}, echo={"enabled": False})
    run = cached_run(config)
    assert run.k8s_objects("VirtualService")[0]["metadata"]["name"] == "edge.shop.example.com"
    assert not [o for o in run.k8s_objects("Deployment") if o["metadata"]["name"] == "echo"]


def test_the_component_package_routes_too() -> None:
    args = {
        **GATEWAY_ARGS,
        "routes": [{"hosts": ["a.example.com"], "service": "a", "namespace": "apps", "port": 80}],
    }
    run = run_body(lambda: IngressGateway("edge", args))  # type: ignore[arg-type]
    assert [o["metadata"]["name"] for o in run.k8s_objects("VirtualService")] == ["edge.a.example.com"]
    run = run_body(lambda: GatewayApiGateway("edge", {"gateway": args}))  # type: ignore[typeddict-item]
    [route] = run.k8s_objects("HTTPRoute")
    assert route["metadata"]["namespace"] == "apps"
    with pytest.raises(GatewayInputError, match=r"routes\[0\]\.port: .*\(got 0\)"):
        IngressGateway("bad", {**args, "routes": [{**args["routes"][0], "port": 0}]})  # type: ignore[typeddict-item]


REFUSALS: list[tuple[str, dict[str, Any], str, str]] = [
    ("a port outside 1-65535", {"routes": [{**SHOP, "port": 65536}]}, "gateway.routes[0].port", "65535"),
    (
        "a port of 0",
        {"routes": [{**SHOP, "port": 0}]},
        "gateway.routes[0].port",
        "greater than or equal to 1",
    ),
    (
        "a namespace Kubernetes refuses",
        {"routes": [{**SHOP, "namespace": "Shop_1"}]},
        "gateway.routes[0].namespace",
        "DNS-1123 label",
    ),
    (
        "a Service name Kubernetes refuses",
        {"routes": [{**SHOP, "service": "1shop"}]},
        "gateway.routes[0].service",
        "DNS-1035 label",
    ),
    (
        "the same host and prefix twice",
        {"routes": [SHOP, {**SHOP, "service": "old", "pathPrefix": "/"}]},
        "gateway.routes[1].hosts",
        "which gateway.routes[0] routes already",
    ),
    (
        "the same host and prefix twice, spelt with a trailing slash",
        {"routes": [API, {**API, "service": "v2", "pathPrefix": "/api/"}]},
        "gateway.routes[1].hosts",
        "routes shop.example.com/api again",
    ),
    (
        "a route host equal to the probe host",
        {"routes": [{**SHOP, "hosts": ["echo.example.com"]}]},
        "gateway.routes[0].hosts",
        "the probe's own host",
    ),
    (
        "a routed host that tls.hosts leaves out",
        {"routes": [SHOP], "tls": {"hosts": ["echo.example.com"], "secretName": "edge-tls"}},
        "gateway.tls.hosts",
        "leaves out shop.example.com",
    ),
    (
        "a path prefix that is not an absolute path",
        {"routes": [{**SHOP, "pathPrefix": "api"}]},
        "gateway.routes[0].pathPrefix",
        "absolute path",
    ),
    (
        "a path prefix with a dot segment",
        {"routes": [{**SHOP, "pathPrefix": "/a/../b"}]},
        "gateway.routes[0].pathPrefix",
        "no . or .. segment",
    ),
    ("a route without hosts", {"routes": [{**SHOP, "hosts": []}]}, "gateway.routes[0].hosts", "at least one"),
    (
        "an attach namespace Kubernetes refuses",
        {"attachNamespaces": ["Team A"]},
        "gateway.attachNamespaces[0]",
        "DNS-1123 label",
    ),
]


@pytest.mark.parametrize(("inputs", "key", "phrase"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_a_bad_route_is_refused_naming_its_key(inputs: dict[str, Any], key: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(raw("gcp", gateway=inputs))
    problems = [p for p in refused.value.problems if p.key == f"istio-source-ip:{key}"]
    assert problems, str(refused.value)
    assert phrase in str(problems[0])


def test_a_route_on_one_gateway_does_not_clash_with_the_same_route_on_another() -> None:
    gateways = [{"name": "public", "routes": [SHOP]}, {"name": "internal", "routes": [SHOP]}]
    parse_config(raw("gcp", gateways=gateways))


def test_verify_of_a_stack_without_the_echo_app_asks_for_a_host_of_yours(tmp_path: Path) -> None:
    outputs = {"gatewayAddress": "127.0.0.1:9", "echoHost": None, "numTrustedProxies": 0}
    env = fake_env(tmp_path, FAKE_PULUMI_OUTPUTS=json.dumps(outputs))
    result = verify_cli("--stack", "prod", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "stack prod runs no echo app (echo.enabled: false)" in result.stderr
    assert "--host NAME" in result.stderr and "Traceback" not in result.stderr


def test_a_route_with_more_hosts_than_an_httproute_holds_is_refused() -> None:
    hosts = [f"h{i}.example.com" for i in range(17)]
    with pytest.raises(ConfigError) as refused:
        parse_config(raw("gcp", gateway={"routes": [{**SHOP, "hosts": hosts}]}))
    [problem] = refused.value.problems
    assert problem.key == "istio-source-ip:gateway.routes[0].hosts" and "at most 16" in str(problem)


def test_the_redirect_of_many_routed_hosts_is_split_into_httproutes_of_at_most_16() -> None:
    routes = [
        {**SHOP, "hosts": [f"h{i}-{j}.example.com" for j in range(10)], "pathPrefix": f"/p{i}"}
        for i in range(2)
    ]
    gateway = {**TWO_ROUTES, "routes": routes, "tls": {"secretName": "edge-tls"}}
    run = cached_run(raw("gcp", routing="gateway-api", gateway=gateway, echo={"enabled": False}))
    redirects = {
        name: r["spec"]["hostnames"]
        for (ns, name), r in objects(run, "HTTPRoute").items()
        if "redirect" in name
    }
    # by name: the mocks record registrations in the order their inputs resolve, not the order written
    assert {name: len(hosts) for name, hosts in redirects.items()} == {
        "edge-routes-https-redirect": 16,
        "edge-routes-https-redirect-2": 4,
    }


def test_in_gateway_api_mode_the_app_routes_wait_for_the_redirect_which_waits_for_the_certificate() -> None:
    tls = {"certManager": {"issuer": "letsencrypt", "challenge": "dns01"}}
    run = cached_run(
        raw("gcp", routing="gateway-api", gateway={**TWO_ROUTES, "tls": tls}, certManager={"install": True})
    )
    kind = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
    redirect = run.named(kind, "edge-routes-https-redirect")
    apps = [r for r in run.of_type(kind) if r.inputs["metadata"]["namespace"] in ("shop", "api")]
    assert any("edge-certificate" in urn for urn in redirect.dependencies)
    assert apps and all(redirect.urn in app.dependencies for app in apps)
