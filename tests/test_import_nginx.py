"""tools.import_nginx: ingress-nginx installs to stack files that keep the client IP."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from source_ip.config import parse_config
from source_ip.front_proxies import trusted_ranges
from tests.conftest import ROOT, cached_run
from tools.import_nginx import facts
from tools.import_nginx.cli import build, main
from tools.import_nginx.convert import Imported, Options, import_objects
from tools.import_nginx.reader import InputError, Objects, read_files
from tools.stackfile import read_stack_file

FIXTURES = ROOT / "tests" / "fixtures" / "ingress-nginx"
INSTALLS = {
    "aws-nlb-proxy": (("controller.yaml", "ingresses.yaml"), Options()),
    "gke-passthrough": (("install.yaml",), Options()),
    "metallb": (("install.yaml",), Options(metallb_nodes=("node-a", "node-b"))),
}
PREFIX = "nginx.ingress.kubernetes.io/"
LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}


def controller(annotations: dict[str, str] | None = None, etp: str = "Local") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "ingress-nginx-controller",
            "namespace": "ingress-nginx",
            "labels": LABELS,
            "annotations": annotations or {},
        },
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": etp},
    }


def configmap(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx", "labels": LABELS},
        "data": {k.replace("_", "-"): v for k, v in data.items()},
    }


def ingress(
    name: str,
    host: str = "shop.example.com",
    path: str = "/",
    path_type: str = "Prefix",
    annotations: dict[str, str] | None = None,
    namespace: str = "shop",
    tls: bool = False,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ingressClassName": "nginx",
        "rules": [
            {
                "host": host,
                "http": {
                    "paths": [
                        {
                            "path": path,
                            "pathType": path_type,
                            "backend": {"service": {"name": name, "port": {"number": 80}}},
                        }
                    ]
                },
            }
        ],
        **spec,
    }
    if tls:
        body["tls"] = [{"hosts": [host], "secretName": f"{name}-tls"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": body,
    }


def imported(*objs: dict[str, Any], **options: Any) -> Imported:
    found = Objects()
    for obj in objs:
        found.add(copy.deepcopy(obj))
    return import_objects(found, Options(**{"platform": "gcp", **options}))


def texts(result: Imported, kind: str) -> str:
    return "\n".join(f.text for f in result.findings if f.kind == kind)


# --- the shipped installs: golden stack files, rendered --------------------------------------------------


@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_each_real_shaped_install_imports_to_its_golden_stack_file(install: str) -> None:
    names, options = INSTALLS[install]
    objects = read_files([FIXTURES / install / n for n in names])
    _, text, raw = build(objects, options, list(names))
    golden = FIXTURES / install / f"Pulumi.{install}.yaml"
    assert text == golden.read_text(), f"regenerate {golden} with python -m tools.import_nginx ... --force"
    assert read_stack_file(golden) == raw
    parse_config(raw)


@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_each_golden_stack_renders_its_gateway_with_the_platforms_client_ip_path(install: str) -> None:
    raw = read_stack_file(FIXTURES / install / f"Pulumi.{install}.yaml")
    run = cached_run(raw, stack=install)
    values = run.release("istio-ingressgateway")["values"]
    hosts = {h for vs in run.k8s_objects("VirtualService") for h in vs["spec"]["hosts"]}
    if install == "aws-nlb-proxy":
        assert (
            values["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"]
            == "*"
        )
        assert values["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == (
            "internet-facing"
        )
        assert "proxyProtocol" in values["podAnnotations"]["proxy.istio.io/config"]
        assert {"shop.example.com", "www.example.com"} <= hosts
        [policy] = run.k8s_objects("AuthorizationPolicy")
        source = policy["spec"]["rules"][0]["from"][0]["source"]
        assert sorted(source["remoteIpBlocks"]) == [
            "198.51.100.7",
            "203.0.113.0/24",
        ]  # the PROXY header's address
        [limit] = run.k8s_objects("EnvoyFilter")
        assert limit["metadata"]["name"].endswith("rate-limit")
        [certificate] = run.k8s_objects("Certificate")
        assert certificate["spec"]["issuerRef"]["name"] == "letsencrypt-prod"
    elif install == "gke-passthrough":
        assert values["service"]["externalTrafficPolicy"] == "Local"
        assert "blog.example.org" in hosts
        [guard] = run.k8s_objects("AuthorizationPolicy")
        assert guard["spec"]["action"] == "DENY"
        assert guard["spec"]["rules"][0]["from"][0]["source"]["notIpBlocks"] == list(
            trusted_ranges("cloudflare").cidrs
        )
    else:
        assert values["service"]["externalTrafficPolicy"] == "Local"
        assert values["service"]["annotations"]["metallb.io/address-pool"] == "public"
        assert "metallb.universe.tf/loadBalancerIPs" not in values["service"]["annotations"]
        assert {"wiki.corp.example.net", "grafana.corp.example.net"} <= hosts


def test_the_command_writes_the_stack_and_says_the_first_up_gives_a_new_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "Pulumi.moved.yaml"
    sources = [str(FIXTURES / "aws-nlb-proxy" / n) for n in ("controller.yaml", "ingresses.yaml")]
    assert main(["--from", *sources, "--out", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())  # the paragraphs are wrapped
    assert out.read_text() == (FIXTURES / "aws-nlb-proxy" / "Pulumi.aws-nlb-proxy.yaml").read_text()
    assert "What changes at cut-over" in printed
    assert "NEW ADDRESS" in printed
    assert "gateway istio-system/istio-ingressgateway (istio routing): a new LoadBalancer Service" in printed
    assert "its load balancer sends the PROXY header" in printed
    assert "NOT CARRIED OVER" in printed


# --- platform and mode, from the platform table ---------------------------------------------------------


def test_the_aws_load_balancer_controllers_annotations_pick_aws_nlb_with_proxy_protocol() -> None:
    result = imported(
        controller(
            {
                "service.beta.kubernetes.io/aws-load-balancer-type": "external",
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*",
            },
            etp="Cluster",
        ),
        configmap(use_proxy_protocol="true"),
        platform=None,
    )
    assert (result.platform, result.mode) == ("aws-nlb", "proxy-protocol")


def test_a_digitalocean_install_as_the_static_manifest_ships_it_imports_with_proxy_protocol() -> None:
    result = imported(
        controller({"service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol": "true"}),
        configmap(use_proxy_protocol="true"),
        ingress("shop"),
        platform=None,
    )
    assert (result.platform, result.mode) == ("digitalocean", "proxy-protocol")


def test_an_annotation_family_alone_picks_its_platform() -> None:
    result = imported(
        controller({"service.beta.kubernetes.io/oci-load-balancer-shape": "flexible"}), platform=None
    )
    assert result.platform == "oci"


def test_annotations_two_platforms_share_ask_for_platform_naming_both() -> None:
    service = controller(
        {"service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true"}
    )
    with pytest.raises(InputError, match=r"several platforms \(aws, aws-nlb\); name yours with --platform"):
        imported(service, platform=None)


def test_a_service_without_platform_annotations_asks_for_platform() -> None:
    with pytest.raises(InputError, match=r"carries no annotation of a known platform.*--platform"):
        imported(controller(), platform=None)


def test_platform_overrides_the_annotations_and_says_so() -> None:
    result = imported(controller({"cloud.google.com/neg": '{"ingress":true}'}), platform="azure")
    assert result.platform == "azure"
    assert "--platform azure overrides" in texts(result, "note")


def test_an_unknown_platform_is_refused_naming_the_flag_and_the_platforms() -> None:
    with pytest.raises(InputError, match=r"--platform nope: unknown platform; allowed: alibaba, aws"):
        imported(controller(), platform="nope")


def test_the_proxy_annotation_without_use_proxy_protocol_is_named_as_a_trap() -> None:
    result = imported(
        controller({"load-balancer.hetzner.cloud/uses-proxyprotocol": "true"}), configmap(), platform=None
    )
    assert result.platform == "hetzner"
    assert "does not set use-proxy-protocol" in texts(result, "trap")


def test_a_tcp_terminating_balancer_without_proxy_protocol_is_named_as_hiding_every_client() -> None:
    result = imported(
        controller({"service.beta.kubernetes.io/oci-load-balancer-shape": "flexible"}),
        configmap(),
        platform=None,
    )
    assert (result.platform, result.mode) == ("oci", "proxy-protocol")
    assert "sent nginx no PROXY header: nginx saw the load balancer's address" in texts(result, "trap")


def test_an_in_tree_nlb_type_is_replaced_by_the_platforms_own_and_said_so() -> None:
    result = imported(controller({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}), platform=None)
    assert result.platform == "aws-nlb"
    assert "aws-load-balancer-type ('nlb'; the program: 'external')" in texts(result, "note")


def test_a_hetzner_install_keeps_its_location_and_its_hostname_becomes_the_hairpin_hostname() -> None:
    result = imported(
        controller(
            {
                "load-balancer.hetzner.cloud/uses-proxyprotocol": "true",
                "load-balancer.hetzner.cloud/location": "fsn1",
                "load-balancer.hetzner.cloud/hostname": "lb.example.com",
            }
        ),
        configmap(use_proxy_protocol="true"),
        ingress("shop"),
        platform=None,
    )
    gateway = result.config["gateway"]
    assert gateway["serviceAnnotations"] == {"load-balancer.hetzner.cloud/location": "fsn1"}
    assert gateway["hairpinHostname"] == "lb.example.com"
    raw = {
        f"istio-source-ip:{k}": json.dumps(v) if not isinstance(v, str) else v
        for k, v in result.config.items()
    }
    parse_config(raw)


def test_load_balancer_source_ranges_on_the_nginx_service_are_listed() -> None:
    service = controller()
    service["spec"]["loadBalancerSourceRanges"] = ["203.0.113.0/24"]
    assert "loadBalancerSourceRanges (203.0.113.0/24)" in texts(imported(service), "not carried")


def test_a_tls_entry_without_a_secret_is_listed() -> None:
    bare = ingress("a")
    bare["spec"]["tls"] = [{"hosts": ["shop.example.com"]}]
    assert "without a secretName" in texts(imported(controller(), bare), "not carried")


def test_the_programs_own_annotations_are_not_copied_and_the_others_are() -> None:
    result = imported(
        controller(
            {
                "service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol": "true",
                "service.beta.kubernetes.io/do-loadbalancer-size-unit": "3",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
            }
        ),
        configmap(use_proxy_protocol="true"),
        platform=None,
    )
    assert result.config["gateway"]["serviceAnnotations"] == {
        "service.beta.kubernetes.io/do-loadbalancer-size-unit": "3"
    }


# --- routes ------------------------------------------------------------------------------------------------


def test_only_ingresses_of_an_nginx_class_are_imported() -> None:
    legacy = ingress("legacy", host="old.example.com")
    del legacy["spec"]["ingressClassName"]
    legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "nginx"}
    other = ingress("other", host="other.example.com", ingressClassName="traefik")
    classless = ingress("bare", host="bare.example.com")
    del classless["spec"]["ingressClassName"]
    result = imported(controller(), ingress("shop"), legacy, other, classless)
    assert result.ingresses == ["shop/legacy", "shop/shop"]
    assert "another class" in texts(result, "note") and "shop/other" in texts(result, "note")
    assert "--watch-ingress-without-class" in texts(result, "note")


def test_an_ingress_class_of_the_nginx_controller_is_served_whatever_its_name() -> None:
    klass = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "public"},
        "spec": {"controller": facts.CONTROLLER_NAME.value},
    }
    result = imported(controller(), klass, ingress("shop", ingressClassName="public"))
    assert result.ingresses == ["shop/shop"]


def test_the_controllers_own_flags_choose_the_class_when_its_deployment_is_in_the_input() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "controller",
                            "args": [
                                "/nginx-ingress-controller",
                                "--ingress-class=internal",
                                "--watch-ingress-without-class=true",
                            ],
                        }
                    ]
                }
            }
        },
    }
    legacy = ingress("legacy", host="old.example.com")
    del legacy["spec"]["ingressClassName"]
    legacy["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "internal"}
    classless = ingress("bare", host="bare.example.com")
    del classless["spec"]["ingressClassName"]
    result = imported(
        controller(), deployment, ingress("shop", ingressClassName="internal"), legacy, classless
    )
    assert result.ingresses == ["shop/bare", "shop/legacy", "shop/shop"]


def test_a_named_backend_port_is_resolved_from_the_services_in_the_input() -> None:
    named = ingress("app")
    named["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {"name": "web"}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "app", "namespace": "shop"},
        "spec": {"type": "ClusterIP", "ports": [{"name": "web", "port": 8081}]},
    }
    assert imported(controller(), named, service).config["gateway"]["routes"][0]["port"] == 8081
    missing = imported(controller(), named)
    assert "routes" not in missing.config["gateway"]
    assert "port is named (web)" in texts(missing, "not carried")


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ({"annotations": {PREFIX + "use-regex": "true"}, "path": "/api/v[0-9]+"}, "a regular expression"),
        ({"annotations": {PREFIX + "rewrite-target": "/$2"}, "path": "/app(/|$)(.*)"}, "rewrite-target"),
        ({"path_type": "Exact", "path": "/feed.xml"}, "an exact path"),
        ({"path_type": "ImplementationSpecific", "path": "/img/.*\\.png"}, "not a plain path prefix"),
        ({"annotations": {PREFIX + "configuration-snippet": "deny all;"}}, "configuration-snippet"),
        ({"annotations": {PREFIX + "server-snippet": "location /x {}"}}, "server-snippet"),
        ({"annotations": {PREFIX + "backend-protocol": "HTTPS"}}, "backend-protocol HTTPS"),
        ({"annotations": {PREFIX + "backend-protocol": "GRPC"}}, "backend-protocol GRPC"),
        ({"annotations": {PREFIX + "auth-url": "http://auth/"}}, "external authentication"),
        ({"annotations": {PREFIX + "some-new-annotation": "x"}}, "no counterpart in this program"),
        ({"host": "*.example.com"}, "no wildcard"),
        ({"defaultBackend": {"service": {"name": "x", "port": {"number": 80}}}}, "spec.defaultBackend"),
    ],
)
def test_what_cannot_be_carried_over_is_listed_never_dropped(case: dict[str, Any], phrase: str) -> None:
    result = imported(controller(), ingress("shop", **case))
    assert phrase in texts(result, "not carried")


def test_a_plain_implementation_specific_path_is_carried_as_a_prefix_with_a_note() -> None:
    result = imported(controller(), ingress("shop", path="/static", path_type="ImplementationSpecific"))
    assert result.config["gateway"]["routes"][0]["pathPrefix"] == "/static"
    assert "whole segments" in texts(result, "note")


def test_a_rule_without_a_host_is_listed() -> None:
    catch_all = ingress("shop")
    del catch_all["spec"]["rules"][0]["host"]
    assert "without a host" in texts(imported(controller(), catch_all), "not carried")


def test_the_same_host_and_prefix_to_two_services_keeps_the_first_and_lists_the_second() -> None:
    result = imported(controller(), ingress("alpha"), ingress("beta"))
    assert [r["service"] for r in result.config["gateway"]["routes"]] == ["alpha"]
    assert "also routed by Ingress shop/alpha" in texts(result, "not carried")


# --- allowlist, rate limit, HTTPS, front proxy ----------------------------------------------------------


def test_one_allowlist_on_every_ingress_is_carried_and_the_newer_annotation_wins() -> None:
    both = {
        PREFIX + "allowlist-source-range": "203.0.113.0/24",
        PREFIX + "whitelist-source-range": "192.0.2.0/24",
    }
    result = imported(
        controller(),
        ingress("a", annotations=both),
        ingress("b", host="b.example.com", annotations={PREFIX + "whitelist-source-range": "203.0.113.0/24"}),
    )
    assert result.config["allowlist"] == ["203.0.113.0/24"]


def test_a_different_allowlist_per_ingress_writes_none_and_says_every_route_is_open() -> None:
    result = imported(
        controller(),
        ingress("a", annotations={PREFIX + "whitelist-source-range": "203.0.113.0/24"}),
        ingress("b", host="b.example.com"),
    )
    assert "allowlist" not in result.config
    assert "every route is open to everyone" in texts(result, "not carried")


def test_an_allowlist_that_saw_node_addresses_is_named_as_a_trap() -> None:
    result = imported(controller(etp="Cluster"), configmap(whitelist_source_range="10.0.0.0/8"), ingress("a"))
    assert result.config["allowlist"] == ["10.0.0.0/8"]
    assert "never saw the client address" in texts(result, "trap")


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"limit-rps": "10"}, {"requestsPerMinute": 600, "burst": 50}),
        ({"limit-rpm": "120"}, {"requestsPerMinute": 120, "burst": 600}),
        ({"limit-rpm": "120", "limit-burst-multiplier": "2"}, {"requestsPerMinute": 120, "burst": 240}),
    ],
)
def test_a_rate_limit_on_every_ingress_is_carried_with_nginxs_burst_multiplier_default_five(
    annotations: dict[str, str], expected: dict[str, int]
) -> None:
    assert facts.BURST_MULTIPLIER_DEFAULT.value == 5
    ann = {PREFIX + k: v for k, v in annotations.items()}
    result = imported(
        controller(), ingress("a", annotations=ann), ingress("b", host="b.example.com", annotations=ann)
    )
    assert result.config["gateway"]["rateLimit"] == expected
    assert "answered 503" in texts(result, "note")


def test_a_rate_limit_on_some_ingresses_only_is_listed_not_spread() -> None:
    result = imported(
        controller(),
        ingress("a", annotations={PREFIX + "limit-rps": "5"}),
        ingress("b", host="b.example.com"),
    )
    assert "rateLimit" not in result.config["gateway"]
    assert "some Ingresses only" in texts(result, "not carried")


def test_a_cluster_issuer_becomes_the_gateways_cert_manager_issuer() -> None:
    result = imported(
        controller(), ingress("a", tls=True, annotations={"cert-manager.io/cluster-issuer": "letsencrypt"})
    )
    assert result.config["gateway"]["tls"] == {"certManager": {"issuer": "letsencrypt"}, "redirectHttp": True}
    assert "HTTP-01 solver" in texts(result, "trap")


def test_two_issuers_on_one_gateway_are_listed_and_no_tls_is_written() -> None:
    result = imported(
        controller(),
        ingress("a", tls=True, annotations={"cert-manager.io/cluster-issuer": "one"}),
        ingress("b", host="b.example.com", tls=True, annotations={"cert-manager.io/issuer": "two"}),
    )
    assert "tls" not in result.config["gateway"]
    assert "several certificate sources" in texts(result, "not carried")


def test_http01_the_program_refuses_beside_an_allowlist_becomes_dns01_and_says_why() -> None:
    objects = Objects()
    ann = {"cert-manager.io/cluster-issuer": "le", PREFIX + "whitelist-source-range": "203.0.113.0/24"}
    for obj in (controller(), ingress("a", tls=True, annotations=ann)):
        objects.add(obj)
    result, _, raw = build(objects, Options(platform="gcp"), ["x.yaml"])
    assert result.config["gateway"]["tls"]["certManager"]["challenge"] == "dns01"
    assert "refuses http01" in texts(result, "note")
    parse_config(raw)


def test_forwarded_headers_from_a_proxys_own_ranges_become_a_custom_front_proxy() -> None:
    result = imported(
        controller(),
        configmap(use_forwarded_headers="true", proxy_real_ip_cidr="198.51.100.0/24"),
        ingress("a"),
    )
    assert result.config["gateway"]["frontProxy"] == {"profile": "custom", "cidrs": ["198.51.100.0/24"]}


def test_a_proxy_real_ip_cidr_that_is_not_a_cidr_is_listed() -> None:
    result = imported(
        controller(),
        configmap(use_forwarded_headers="true", proxy_real_ip_cidr="XXX.XXX.XXX/XX"),
        ingress("a"),
    )
    assert "frontProxy" not in result.config["gateway"]
    assert "not a CIDR: XXX.XXX.XXX/XX" in texts(result, "not carried")


def test_forwarded_headers_trusted_from_everyone_are_a_trap_and_not_carried() -> None:
    result = imported(controller(), configmap(use_forwarded_headers="true"), ingress("a"))
    assert "frontProxy" not in result.config["gateway"]
    assert "any client could choose its address" in texts(result, "trap")


def test_forwarded_headers_behind_proxy_protocol_cannot_be_carried() -> None:
    result = imported(
        controller({"service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol": "true"}),
        configmap(use_proxy_protocol="true", use_forwarded_headers="true", proxy_real_ip_cidr="10.0.0.0/8"),
        platform=None,
    )
    assert "frontProxy" not in result.config["gateway"]
    assert "use-forwarded-headers with use-proxy-protocol" in texts(result, "not carried")


def test_real_ip_header_is_named_as_a_key_nginx_never_read() -> None:
    result = imported(controller(), configmap(real_ip_header="X-Real-IP"))
    assert "does not read" in texts(result, "trap")
    assert "real-ip-header" in facts.NOT_A_CONFIGMAP_KEY.value


def test_forwarded_for_header_beside_proxy_protocol_is_named_as_ignored() -> None:
    result = imported(
        controller({"service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol": "true"}),
        configmap(use_proxy_protocol="true", forwarded_for_header="CF-Connecting-IP"),
        platform=None,
    )
    assert "forces real_ip_header proxy_protocol" in texts(result, "trap")


def test_configmap_keys_without_a_counterpart_and_snippets_are_listed() -> None:
    result = imported(controller(), configmap(http_snippet="server {}", proxy_body_size="8m"))
    assert "ConfigMap http-snippet" in texts(result, "not carried")
    assert "proxy-body-size" in texts(result, "not carried")


def test_metallb_without_its_nodes_asks_for_the_flag() -> None:
    with pytest.raises(InputError, match="--metallb-nodes: platform metallb needs the nodes"):
        imported(controller({"metallb.io/address-pool": "lan"}), platform=None)


# --- bad input: exit 2, one sentence, nothing written ----------------------------------------------------


def run_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    out = tmp_path / "Pulumi.x.yaml"
    assert main([*args, "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


def test_a_file_that_is_not_yaml_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n  - : :\n")
    assert "is not YAML" in run_bad(tmp_path, capsys, "--from", str(bad))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    assert "is not UTF-8" in run_bad(tmp_path, capsys, "--from", str(binary))


def test_yaml_without_kubernetes_objects_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("hello: world\n")
    assert "holds no Kubernetes object" in run_bad(tmp_path, capsys, "--from", str(plain))


def test_input_without_ingress_nginx_objects_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: y}\ndata: {a: b}\n")
    assert "holds no ingress-nginx object" in run_bad(tmp_path, capsys, "--from", str(other))


def test_an_unknown_platform_flag_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = str(FIXTURES / "gke-passthrough" / "install.yaml")
    assert "--platform mars: unknown platform" in run_bad(
        tmp_path, capsys, "--from", source, "--platform", "mars"
    )


def test_an_existing_stack_file_is_kept_unless_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "Pulumi.x.yaml"
    out.write_text("config: {}\n")
    source = str(FIXTURES / "gke-passthrough" / "install.yaml")
    assert main(["--from", source, "--out", str(out), "--no-review"]) == 2
    assert "exists; allowed: a new file, or --force" in capsys.readouterr().err
    assert out.read_text() == "config: {}\n"
    assert main(["--from", source, "--out", str(out), "--no-review", "--force"]) == 0
    assert out.read_text().startswith("# Imported from ingress-nginx")
