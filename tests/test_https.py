"""HTTPS per gateway (`tls`): the server or listener on 443, the certificate from a Secret or cert-manager,
the port-80 redirect that leaves ACME HTTP-01 challenges reachable, the hairpin fix per platform, and each
refusal. The program runs under the Pulumi mocks; what it declares is read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from policy import validators
from source_ip.config import parse_config
from source_ip.config.gateway_rules import hairpin_fix
from source_ip.facts import PLATFORMS
from tests.conftest import cached_run, problems_of, raw, stack_run
from tools import compare, https_table, render
from tools.program import ProgramRun
from tools.readme import with_table
from tools.verify.readers import stack_target

HOST = "echo.example.com"
METALLB = {"nodes": ["worker-1"]}


def tls_run(routing: str, tls: dict[str, Any], **gateway: Any) -> ProgramRun:
    gateway = {"name": "edge", "namespace": "edge-ns", **gateway, "tls": tls}
    return cached_run(
        raw(
            "metallb",
            metallb=METALLB,
            routing=routing,
            gateway=gateway,
            certManager={"install": True, "quickstartIssuer": True},
        )
    )


def certificates(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in run.k8s_objects("Certificate")}


SOURCES: dict[str, dict[str, Any]] = {
    "secret": {"secretName": "my-tls"},
    "cert-manager": {"certManager": {"issuer": "letsencrypt", "challenge": "dns01"}},
}


@pytest.mark.parametrize("source", SOURCES)
def test_istio_routing_gets_an_https_server_reading_the_secret_in_the_gateways_namespace(source: str) -> None:
    run = tls_run("istio", SOURCES[source])
    [gateway] = run.k8s_objects("Gateway")
    http, https = gateway["spec"]["servers"]
    assert http["port"] == {"number": 80, "name": "http", "protocol": "HTTP"} and "tls" not in http
    secret = "my-tls" if source == "secret" else "edge-tls"
    assert https == {
        "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
        "hosts": [HOST],
        "tls": {"mode": "SIMPLE", "credentialName": secret},
    }
    [vs] = run.k8s_objects("VirtualService")
    assert vs["spec"]["gateways"] == [f"default/{gateway['metadata']['name']}"]
    if source == "secret":
        assert "edge-tls" not in certificates(run)
    else:
        certificate = certificates(run)["edge-tls"]
        assert certificate["metadata"]["namespace"] == "edge-ns"  # where the gateway pods read it
        assert certificate["spec"] == {
            "secretName": "edge-tls",
            "dnsNames": [HOST],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"},
        }


@pytest.mark.parametrize("source", SOURCES)
def test_gateway_api_routing_gets_an_https_listener_and_the_route_on_it(source: str) -> None:
    run = tls_run("gateway-api", SOURCES[source])
    [gateway] = run.k8s_objects("Gateway")
    http, https = gateway["spec"]["listeners"]
    secret = "my-tls" if source == "secret" else "edge-tls"
    assert (https["name"], https["port"], https["protocol"]) == ("https", 443, "HTTPS")
    assert https["tls"] == {
        "mode": "Terminate",
        "certificateRefs": [{"group": "", "kind": "Secret", "name": secret}],
    }
    admitted = http["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"][0]["values"]
    assert admitted == ["default"]  # a Secret, or dns01: no solver route needs the gateway's namespace
    routes = {r["metadata"]["name"]: r for r in run.k8s_objects("HTTPRoute")}
    assert [p["sectionName"] for p in routes["echo"]["spec"]["parentRefs"]] == ["https"]
    assert [p["sectionName"] for p in routes["echo-https-redirect"]["spec"]["parentRefs"]] == ["http"]
    if source == "cert-manager":
        assert certificates(run)["edge-tls"]["metadata"]["namespace"] == "edge-ns"


def test_without_redirect_the_app_answers_on_both_listeners_and_port_80_has_no_redirect() -> None:
    for routing in ("istio", "gateway-api"):
        run = tls_run(routing, {"secretName": "my-tls", "redirectHttp": False})
        if routing == "istio":
            [vs] = run.k8s_objects("VirtualService")
            assert [list(route) for route in vs["spec"]["http"]] == [["route"]]
        else:
            routes = {r["metadata"]["name"]: r for r in run.k8s_objects("HTTPRoute")}
            assert [p["sectionName"] for p in routes["echo"]["spec"]["parentRefs"]] == ["http", "https"]
            assert routes["echo-https-redirect"]["spec"]["parentRefs"] == []  # attached to nothing


def test_the_istio_redirect_is_a_catch_all_route_on_port_80_and_never_the_servers_https_redirect() -> None:
    """istiod sorts catch-all routes behind the more specific routes of the same host (SortVHostRoutes),
    so the exact `/.well-known/acme-challenge/<token>` route of cert-manager's solver Ingress still wins;
    `httpsRedirect` on the server would instead require TLS on the whole virtual host."""
    run = tls_run("istio", SOURCES["cert-manager"])
    [gateway] = run.k8s_objects("Gateway")
    assert all("tls" not in s or "httpsRedirect" not in s["tls"] for s in gateway["spec"]["servers"])
    [vs] = run.k8s_objects("VirtualService")
    redirect, app = vs["spec"]["http"]
    assert redirect["redirect"] == {"scheme": "https", "redirectCode": 301}
    [match] = redirect["match"]
    assert match == {"port": 80, "gateways": [f"default/{gateway['metadata']['name']}"]}  # no uri match
    assert "match" not in app
    assert (
        validators.https_redirect_keeps_acme_challenges("kubernetes:networking.istio.io/v1:Gateway", gateway)
        == []
    )


def test_the_gateway_api_redirect_matches_every_path_so_an_exact_challenge_path_wins() -> None:
    """An HTTPRoute rule without matches is `PathPrefix /`; Gateway API gives an Exact path match (the
    solver's) precedence over any prefix on the same listener and hostname."""
    run = tls_run("gateway-api", SOURCES["cert-manager"])
    [redirect] = [r for r in run.k8s_objects("HTTPRoute") if r["metadata"]["name"] == "echo-https-redirect"]
    assert redirect["spec"]["hostnames"] == [HOST]
    [rule] = redirect["spec"]["rules"]
    assert "matches" not in rule and "backendRefs" not in rule
    assert rule["filters"] == [
        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}
    ]


def test_the_policy_flags_an_https_redirect_on_a_plain_http_server() -> None:
    gateway = {
        "metadata": {"name": "web"},
        "spec": {
            "servers": [
                {
                    "port": {"number": 80, "protocol": "HTTP"},
                    "hosts": ["a.example.com"],
                    "tls": {"httpsRedirect": True},
                }
            ]
        },
    }
    [message] = validators.https_redirect_keeps_acme_challenges(
        "kubernetes:networking.istio.io/v1:Gateway", gateway
    )
    assert "Gateway web" in message and "a.example.com" in message and "VirtualService" in message
    odds: list[Any] = [None, [], "x", {"spec": {"servers": [None, 3, {"port": "80"}]}}]
    for odd in odds:
        assert (
            validators.https_redirect_keeps_acme_challenges("kubernetes:networking.istio.io/v1:Gateway", odd)
            == []
        )


def test_the_dev_stacks_render_cert_manager_its_issuer_and_the_certificate() -> None:
    for stack, namespace in (("dev", "istio-system"), ("dev-gateway-api", "istio-ingress")):
        run = stack_run(stack)
        [release] = [
            r.inputs
            for r in run.resources
            if r.inputs.get("chart") == "cert-manager" and "version" in r.inputs
        ]
        gateway_api = {
            "config": {
                "apiVersion": "controller.config.cert-manager.io/v1alpha1",
                "kind": "ControllerConfiguration",
                "gatewayAPI": {"enabled": True},
            }
        }
        assert (release["version"], release["namespace"], release["values"]) == (
            "v1.21.1",
            "cert-manager",
            {"crds": {"enabled": True}, **(gateway_api if stack == "dev-gateway-api" else {})},
        )
        issuers = {i["metadata"]["name"]: i["spec"] for i in run.k8s_objects("ClusterIssuer")}
        assert issuers == {
            "istio-source-ip-selfsigned": {"selfSigned": {}},
            "istio-source-ip-quickstart-ca": {"ca": {"secretName": "istio-source-ip-quickstart-ca"}},
        }
        certs = certificates(run)
        assert certs["istio-source-ip-quickstart-ca"]["metadata"]["namespace"] == "cert-manager"
        assert certs["istio-source-ip-quickstart-ca"]["spec"]["isCA"] is True
        [gateway_cert] = [c for name, c in certs.items() if name != "istio-source-ip-quickstart-ca"]
        assert gateway_cert["metadata"]["namespace"] == namespace
        assert gateway_cert["spec"]["issuerRef"]["name"] == "istio-source-ip-quickstart-ca"
        assert run.outputs["tls"]["hosts"] == [HOST]
        assert run.outputs["quickstartCaSecret"] == "cert-manager/istio-source-ip-quickstart-ca"


def test_a_stack_without_tls_publishes_no_tls_output() -> None:
    run = stack_run("gcp")
    assert run.outputs["tls"] is None and run.outputs["quickstartCaSecret"] is None


# --- refusals ---------------------------------------------------------------------------------------


def refusal(platform: str, tls: Any, **keys: Any) -> list[str]:
    gateway = {**keys.pop("gateway", {}), "tls": tls}
    extra = {"metallb": METALLB} if platform == "metallb" else {}
    if platform == "hetzner":
        gateway.setdefault("serviceAnnotations", {"load-balancer.hetzner.cloud/location": "fsn1"})
    return problems_of(raw(platform, gateway=gateway, **extra, **keys))


def test_both_certificate_sources_are_refused() -> None:
    [problem] = refusal("gcp", {"secretName": "a", "certManager": {"issuer": "b", "challenge": "dns01"}})
    assert problem.startswith(
        "istio-source-ip:gateway.tls.secretName: is set together with gateway.tls.certManager"
    )
    assert '(got "a")' in problem and "not both" in problem


def test_no_certificate_source_is_refused() -> None:
    [problem] = refusal("gcp", {"hosts": [HOST]})
    assert problem.startswith("istio-source-ip:gateway.tls: says where the certificate comes from nowhere")
    assert "secretName" in problem and "certManager" in problem


@pytest.mark.parametrize(
    "host", ["Echo.Example.com", "*.example.com", "192.0.2.1", "echo.example.com:443", ""]
)
def test_a_host_that_is_not_a_dns_name_is_refused(host: str) -> None:
    [problem] = refusal("gcp", {"hosts": [host], "secretName": "a"})
    assert problem.startswith("istio-source-ip:gateway.tls.hosts[0]: must be a DNS name")


def test_an_empty_host_list_is_refused() -> None:
    [problem] = refusal("gcp", {"hosts": [], "secretName": "a"})
    assert problem.startswith("istio-source-ip:gateway.tls.hosts: needs at least one host (got [])")


def test_hosts_without_the_routed_echo_host_are_refused() -> None:
    [problem] = refusal("gcp", {"hosts": ["other.example.com"], "secretName": "a"})
    assert problem.startswith("istio-source-ip:gateway.tls.hosts: does not name echo.host (echo.example.com)")


def test_http01_on_a_proxy_gateway_without_a_hairpin_fix_names_dns01_and_hairpin_hostname() -> None:
    [problem] = refusal("digitalocean", {"certManager": {"issuer": "le"}})
    assert problem.startswith("istio-source-ip:gateway.tls.certManager.challenge: cert-manager's HTTP-01")
    assert '(got "http01")' in problem and "dns01" in problem and "gateway.hairpinHostname" in problem
    # the ways out are accepted
    parse_config(
        raw("digitalocean", gateway={"tls": {"certManager": {"issuer": "le", "challenge": "dns01"}}})
    )
    parse_config(
        raw(
            "digitalocean",
            gateway={"hairpinHostname": "lb.example.com", "tls": {"certManager": {"issuer": "le"}}},
        )
    )


def test_http01_where_the_platform_has_no_hostname_annotation_names_only_dns01() -> None:
    [problem] = refusal("vngcloud", {"certManager": {"issuer": "le"}})
    assert "allowed: dns01 (vngcloud has neither ipMode Proxy nor a hostname annotation" in problem


def test_http01_with_routing_istio_needs_the_gateway_istiod_serves_ingresses_on() -> None:
    [problem] = refusal("gcp", {"certManager": {"issuer": "le"}}, gateway={"name": "edge"})
    assert problem.startswith("istio-source-ip:gateway.tls.certManager.challenge: with routing istio")
    assert (
        "istio: edge" in problem and "istio-ingressgateway" in problem and "routing: gateway-api" in problem
    )
    parse_config(
        raw("gcp", routing="gateway-api", gateway={"name": "edge", "tls": {"certManager": {"issuer": "le"}}})
    )


def test_several_gateways_are_refused_each_by_its_own_key() -> None:
    problems = problems_of(
        raw("gcp", gateways=[{"name": "a", "tls": {"secretName": "x"}}, {"name": "b", "tls": {"hosts": []}}])
    )
    assert any(
        p.startswith("istio-source-ip:gateways[1].tls.hosts: needs at least one host") for p in problems
    )
    assert not any(p.startswith("istio-source-ip:gateways[0]") for p in problems)


# --- hairpin per platform -----------------------------------------------------------------------------


def test_oci_asks_its_controller_for_ip_mode_proxy_with_proxy_protocol_only() -> None:
    annotations = {}
    for routing in ("istio", "gateway-api"):
        run = cached_run(raw("oci", routing=routing))
        if routing == "istio":
            [release] = [r.inputs for r in run.resources if r.inputs.get("chart") == "gateway"]
            annotations[routing] = release["values"]["service"]["annotations"]
        else:
            [configmap] = run.k8s_objects("ConfigMap")
            annotations[routing] = yaml.safe_load(configmap["data"]["service"])["metadata"]["annotations"]
    for found in annotations.values():
        assert found["oci.oraclecloud.com/ingress-ip-mode"] == "proxy"
    [release] = [r.inputs for r in cached_run(raw("oci-nlb")).resources if r.inputs.get("chart") == "gateway"]
    assert "oci.oraclecloud.com/ingress-ip-mode" not in release["values"]["service"]["annotations"]


@pytest.mark.parametrize(
    ("platform", "accepted"),
    [
        ("oci", True),  # annotation
        ("hetzner", True),  # the controller sets ipMode: Proxy
        ("scaleway", True),  # the controller sets ipMode: Proxy (and the program its use-hostname)
        ("aws", True),  # the status is a hostname
        ("aws-nlb", True),
        ("civo", True),
        ("ibm", True),
        ("digitalocean", False),  # only with hairpinHostname
        ("vultr", False),
        ("alibaba", False),
        ("linode", False),
        ("ovh", False),
        ("vngcloud", False),
        ("generic", False),
    ],
)
def test_http01_on_each_proxy_protocol_platform_follows_its_hairpin_fix(
    platform: str, accepted: bool
) -> None:
    config = raw(
        platform,
        sourceIp="proxy-protocol",
        routing="gateway-api",
        gateway={
            "tls": {"certManager": {"issuer": "le"}},
            **(
                {"serviceAnnotations": {"load-balancer.hetzner.cloud/location": "fsn1"}}
                if platform == "hetzner"
                else {}
            ),
        },
    )
    if accepted:
        parse_config(config)
        assert hairpin_fix(PLATFORMS[platform], None) is not None
    else:
        [problem] = [p for p in problems_of(config) if ".tls." in p]
        assert "dns01" in problem
        assert hairpin_fix(PLATFORMS[platform], None) is None


def test_http01_is_accepted_in_passthrough_and_while_migrating() -> None:
    parse_config(raw("gcp", routing="gateway-api", gateway={"tls": {"certManager": {"issuer": "le"}}}))
    parse_config(
        raw(
            "aws-nlb",
            sourceIp="local",
            routing="gateway-api",
            gateway={"proxyProtocolMigration": True, "tls": {"certManager": {"issuer": "le"}}},
        )
    )


def test_the_hairpin_table_in_docs_matches_the_registry() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "https.md").read_text()
    assert with_table(doc, https_table.START, https_table.END, https_table.table()) == doc
    assert '| `oci` | `oci.oraclecloud.com/ingress-ip-mode: "proxy"` (the program sets it) |' in doc


def test_verify_reads_the_dev_stacks_tls_output_as_https_on_the_gateway_address() -> None:
    outputs = {**stack_run("dev").outputs, "gatewayAddress": "172.18.255.200"}
    target = stack_target("dev", outputs)
    assert (target.url, target.host) == ("https://172.18.255.200", HOST)
    plain = stack_target("gcp", {**stack_run("gcp").outputs, "gatewayAddress": "203.0.113.10"})
    assert plain.url == "http://203.0.113.10"


def test_a_namespace_the_cert_manager_install_owns_is_refused_for_anything_else() -> None:
    problems = problems_of(
        raw(
            "gcp",
            certManager={"install": True},
            gateway={"namespace": "cert-manager"},
            echo={"namespace": "cert-manager"},
        )
    )
    owned = [p.split(":", 2)[1] for p in problems if "the cert-manager install (certManager.install)" in p]
    assert owned == ["gateway.namespace", "echo.namespace"]
    parse_config(raw("gcp", gateway={"namespace": "cert-manager"}))  # not installed: the cluster's own


def test_no_shipped_stack_sets_https_redirect_on_a_plain_http_server() -> None:
    seen = 0
    for stack in ("dev", "gcp", "aws-nlb-two-gateways", "vngcloud"):
        run = stack_run(stack)
        seen += sum(r.type in validators.ISTIO_GATEWAY_TYPES for r in run.resources)
        for resource in run.resources:
            found = validators.https_redirect_keeps_acme_challenges(resource.type, resource.inputs)
            assert found == [], (stack, found)
    assert seen >= 5  # the Istio Gateways of those stacks were read


@pytest.mark.parametrize("routing", ["istio", "gateway-api"])
def test_tls_leaves_the_proxy_and_etp_pairing_as_it_is(routing: str) -> None:
    """The PROXY listener filter istiod adds for gatewayTopology.proxyProtocol runs on every gateway listener,
    443 included (docs/https.md): TLS changes neither side of the pairing."""
    hetzner = {"serviceAnnotations": {"load-balancer.hetzner.cloud/location": "fsn1"}}
    migrating = {"proxyProtocolMigration": True}  # passthrough that accepts both: an accept-both EnvoyFilter
    cases: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
        ("hetzner", hetzner, {}),
        ("gcp", {}, {}),
        ("aws-nlb", migrating, {"sourceIp": "local"}),
    ]
    filters = 0
    for platform, gateway, keys in cases:
        plain = cached_run(raw(platform, routing=routing, gateway=gateway, **keys))
        tls = {"certManager": {"issuer": "le"}}
        secured = cached_run(raw(platform, routing=routing, gateway={**gateway, "tls": tls}, **keys))
        for kind in ("ConfigMap", "EnvoyFilter"):
            assert plain.k8s_objects(kind) == secured.k8s_objects(kind)
        filters += len(secured.k8s_objects("EnvoyFilter"))
        gateway_values = [
            [r.inputs["values"] for r in run.resources if r.inputs.get("chart") == "gateway"]
            for run in (plain, secured)
        ]
        assert gateway_values[0] == gateway_values[1]
        assert len(secured.k8s_objects("Certificate")) == 1
    assert filters == 1  # the migrating gateway's accept-both filter was compared


# --- the redirect waits for the certificate; removing tls -------------------------------------------

REDIRECTS = {"istio": "echo-routing-virtual-service", "gateway-api": "echo-route-https-redirect"}
"""Where each routing mode's port-80 redirect lives: the VirtualService's route, or its own HTTPRoute."""


def named(run: ProgramRun, name: str) -> Any:
    [resource] = [r for r in run.resources if r.name == name]
    return resource


@pytest.mark.parametrize("routing", REDIRECTS)
def test_port_80_redirects_only_once_the_certificate_is_ready(routing: str) -> None:
    run = tls_run(routing, SOURCES["cert-manager"])
    certificate = named(run, "edge-certificate-certificate")
    assert certificate.inputs["metadata"]["annotations"] == {
        "pulumi.com/waitFor": "condition=Ready",
        "pulumi.com/timeoutSeconds": "600",  # certManager.waitSeconds
    }
    assert certificate.urn in named(run, REDIRECTS[routing]).dependencies
    # without the redirect nothing on port 80 depends on the certificate
    quiet = tls_run(routing, {**SOURCES["cert-manager"], "redirectHttp": False})
    assert (
        named(quiet, "edge-certificate-certificate").urn not in named(quiet, REDIRECTS[routing]).dependencies
    )


@pytest.mark.parametrize("routing", REDIRECTS)
def test_with_a_secret_of_the_users_the_redirect_waits_for_its_read_so_up_stops_when_it_is_missing(
    routing: str,
) -> None:
    run = tls_run(routing, SOURCES["secret"])
    [read] = [r for r in run.resources if r.read_id and r.type == "kubernetes:core/v1:Secret"]
    assert read.read_id == "edge-ns/my-tls"
    assert read.urn in named(run, REDIRECTS[routing]).dependencies


def without_tls(routing: str) -> ProgramRun:
    return cached_run(
        raw(
            "metallb",
            metallb=METALLB,
            routing=routing,
            gateway={"name": "edge", "namespace": "edge-ns"},
            certManager={"install": True, "quickstartIssuer": True},
        )
    )


def test_removing_tls_in_gateway_api_mode_updates_the_redirect_route_in_place_never_deletes_it() -> None:
    """Pulumi deletes after every update: a deleted redirect would keep sending port 80 to the https
    listener the same update removes. The route stays, attached to nothing."""
    before, after = tls_run("gateway-api", SOURCES["secret"]), without_tls("gateway-api")
    was, now = named(before, "echo-route-https-redirect"), named(after, "echo-route-https-redirect")
    assert was.urn == now.urn and now.inputs["metadata"]["name"] == "echo-https-redirect"
    assert [p["sectionName"] for p in was.inputs["spec"]["parentRefs"]] == ["http"]
    assert now.inputs["spec"]["parentRefs"] == []


@pytest.mark.parametrize(
    "routing, entry", [("istio", "server https (443)"), ("gateway-api", "listener https (443)")]
)
def test_the_change_review_flags_a_removed_https_server_or_listener(routing: str, entry: str) -> None:
    old = render.render(tls_run(routing, SOURCES["secret"]))
    removed = [f.text for f in compare.review(old, render.render(without_tls(routing))).risks]
    assert any(f"the HTTPS {entry} is removed" in text for text in removed), removed
    assert not any("HTTPS" in f.text for f in compare.review(old, old).findings)


# --- what a certificate needs: refusals and cert-manager's Gateway API support -----------------------

ACME_HTTP01: dict[str, Any] = {"certManager": {"issuer": "letsencrypt", "challenge": "http01"}}


@pytest.mark.parametrize("front", [False, True])
def test_http01_behind_an_allowlist_that_admits_only_some_clients_is_refused_naming_dns01(
    front: bool,
) -> None:
    keys: dict[str, Any] = {"routing": "gateway-api", "allowlist": ["203.0.113.0/24"]}
    if front:
        keys.update(sourceIp="local", gateway={"frontProxy": {"profile": "cloudflare"}})
    tls: dict[str, Any] = {**ACME_HTTP01, "redirectHttp": True} if front else ACME_HTTP01
    [problem] = refusal("aws-nlb" if front else "gcp", tls, **keys)
    assert problem.startswith("istio-source-ip:gateway.tls.certManager.challenge: the allowlist admits only")
    assert "403" in problem and "allowed: dns01" in problem
    assert ("X-Forwarded-For" in problem) is front


def test_http01_with_an_allowlist_is_accepted_with_dns01_the_quickstart_ca_or_an_allowlist_of_everyone() -> (
    None
):
    base = {"routing": "gateway-api", "allowlist": ["203.0.113.0/24"]}
    parse_config(raw("gcp", **base, gateway={"tls": {"certManager": {"issuer": "le", "challenge": "dns01"}}}))
    parse_config(
        raw(
            "gcp",
            **base,
            certManager={"install": True, "quickstartIssuer": True},
            gateway={
                "tls": {"certManager": {"issuer": "istio-source-ip-quickstart-ca"}, "redirectHttp": False}
            },
        )
    )
    parse_config(
        raw("gcp", routing="gateway-api", allowlist=["0.0.0.0/0", "::/0"], gateway={"tls": ACME_HTTP01})
    )
    # IPv4 only still turns away validators that call over IPv6
    assert refusal("gcp", ACME_HTTP01, routing="gateway-api", allowlist=["0.0.0.0/0"])


def test_tls_with_istio_routing_and_no_echo_app_is_refused_since_nothing_would_serve_443() -> None:
    [problem] = refusal("gcp", {"hosts": [HOST], "secretName": "a"}, echo={"enabled": False})
    assert problem.startswith("istio-source-ip:gateway.tls: with routing istio")
    assert "echo.enabled: true" in problem and "routing: gateway-api" in problem
    parse_config(
        raw(
            "gcp",
            routing="gateway-api",
            echo={"enabled": False},
            gateway={"tls": {"hosts": [HOST], "secretName": "a"}},
        )
    )


def test_behind_a_front_proxy_redirect_http_must_be_set_explicitly_naming_the_cdns_https_only_origin() -> (
    None
):
    front: dict[str, Any] = {"sourceIp": "local", "gateway": {"frontProxy": {"profile": "cloudflare"}}}
    [problem] = refusal("aws-nlb", {"secretName": "a"}, **front)
    assert problem.startswith("istio-source-ip:gateway.tls.redirectHttp: must be set with gateway.frontProxy")
    assert "Full (strict)" in problem and "HTTPS only" in problem and "loops" in problem
    for explicit in (True, False):
        parse_config(
            raw(
                "aws-nlb",
                sourceIp="local",
                gateway={**front["gateway"], "tls": {"secretName": "a", "redirectHttp": explicit}},
            )
        )


def test_cert_manager_gets_its_gateway_api_support_only_with_gateway_api_routing() -> None:
    """The chart writes `config` into the controller's config file; GatewayAPIConfig.Enabled (json
    gatewayAPI.enabled) turns the gatewayHTTPRoute solver on. chart-render expands it with the real chart."""
    for routing, expected in (("istio", None), ("gateway-api", True)):
        run = tls_run(routing, SOURCES["secret"])
        [release] = [r.inputs for r in run.resources if r.inputs.get("chart") == "cert-manager"]
        config = release["values"].get("config")
        assert ((config or {}).get("gatewayAPI") or {}).get("enabled") is expected
        assert "enableGatewayAPI" not in (config or {})  # deprecated at v1.21.1
        if config:
            assert (config["apiVersion"], config["kind"]) == (
                "controller.config.cert-manager.io/v1alpha1",
                "ControllerConfiguration",
            )


def http_admits(run: ProgramRun) -> list[str]:
    [gateway] = run.k8s_objects("Gateway")
    http = gateway["spec"]["listeners"][0]
    assert http["name"] == "http"
    values: list[str] = http["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"][0]["values"]
    return values


def test_the_http_listener_admits_the_gateways_namespace_only_for_an_acme_http01_solver() -> None:
    """Admitted, any HTTPRoute of that namespace could claim echo.host on port 80: only the solver's
    route (http01 with an ACME issuer) needs it."""
    assert http_admits(tls_run("gateway-api", ACME_HTTP01)) == ["default", "edge-ns"]
    assert http_admits(tls_run("gateway-api", SOURCES["cert-manager"])) == ["default"]  # dns01
    quickstart = {"certManager": {"issuer": "istio-source-ip-quickstart-ca", "challenge": "http01"}}
    assert http_admits(tls_run("gateway-api", quickstart)) == ["default"]  # a CA: no challenge
    assert http_admits(stack_run("dev-gateway-api")) == ["default"]
