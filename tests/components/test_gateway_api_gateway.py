"""GatewayApiGateway alone: the Gateway, its parameters ConfigMap (the client-IP path), and several
instances."""

from __future__ import annotations

import json
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components import GatewayApiGateway, IngressGatewayArgs, MetalLBPlacement
from components.gateway_api_gateway import gateway_parameters, parameters_problems
from components.ingress_gateway import GatewaySettings
from source_ip.facts import SourceIpMode
from source_ip.plan import ProxyProtocolListener
from tools.program import ProgramRun, run_body

PROXY, LOCAL = SourceIpMode.PROXY_PROTOCOL, SourceIpMode.LOCAL
STRICT, BOTH, OFF = ProxyProtocolListener.STRICT, ProxyProtocolListener.ACCEPT_BOTH, ProxyProtocolListener.OFF
GATEWAY_TYPE = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


def args(**overrides: Any) -> IngressGatewayArgs:
    fields: dict[str, Any] = {
        "name": "public",
        "namespace": "istio-ingress",
        "istio_version": "1.30.3",
        "platform": "vngcloud",
        "mode": PROXY,
        "listener": STRICT,
        **overrides,
    }
    return cast(IngressGatewayArgs, fields)


def gateway(
    service_address: str | None = None, routes_from: tuple[str, ...] = ("apps",), **overrides: Any
) -> ProgramRun:
    def body() -> None:
        gw = GatewayApiGateway("gw", {"gateway": args(**overrides), "route_namespaces": list(routes_from)})
        pulumi.export("address", gw.address)
        pulumi.export("labels", gw.labels)
        pulumi.export("allowlistField", gw.allowlist_field)

    return run_body(body, service_address=service_address)


def parameters(run: ProgramRun) -> dict[str, Any]:
    [configmap] = run.k8s_objects("ConfigMap")
    return {key: yaml.safe_load(text) for key, text in configmap["data"].items()}


def test_a_gateway_of_class_istio_that_names_its_configmap_and_admits_the_app_namespace() -> None:
    run = gateway()
    [gw] = run.k8s_objects("Gateway")
    [configmap] = run.k8s_objects("ConfigMap")
    assert gw["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert gw["metadata"]["namespace"] == configmap["metadata"]["namespace"] == "istio-ingress"
    assert gw["spec"]["gatewayClassName"] == "istio"
    assert gw["spec"]["infrastructure"] == {
        "parametersRef": {"group": "", "kind": "ConfigMap", "name": configmap["metadata"]["name"]}
    }
    [listener] = gw["spec"]["listeners"]
    assert (listener["port"], listener["protocol"]) == (80, "HTTP")
    assert listener["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"][0]["values"] == ["apps"]
    assert run.k8s_objects("GatewayClass") == []  # istiod creates it
    assert gw["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Programmed"}


def test_the_gateway_waits_for_its_configmap() -> None:
    run = gateway()
    [configmap] = run.of_type("kubernetes:core/v1:ConfigMap")
    [gw] = run.of_type(GATEWAY_TYPE)
    assert configmap.urn in gw.dependencies


def test_proxy_protocol_lb_annotation_and_gateway_topology_together() -> None:
    params = parameters(gateway())
    assert params["service"] == {"metadata": {"annotations": {"vks.vngcloud.vn/enable-proxy-protocol": "*"}}}
    pod_annotations = params["deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert json.loads(pod_annotations["proxy.istio.io/config"]) == {"gatewayTopology": {"proxyProtocol": {}}}


def test_passthrough_cloud_is_etp_local_and_no_proxy_protocol() -> None:
    run = gateway(platform="gcp", mode=LOCAL, listener=OFF)
    params = parameters(run)
    assert params["service"] == {"spec": {"externalTrafficPolicy": "Local"}}
    assert "template" not in params["deployment"]["spec"]
    assert run.outputs["allowlistField"] == "ipBlocks"


def test_metallb_pinned_pool_etp_node_selector_and_spread() -> None:
    params = parameters(
        gateway(
            platform="metallb",
            mode=LOCAL,
            listener=OFF,
            metallb=MetalLBPlacement(node_label={"pin": "yes"}, pool="gw-pool"),
        )
    )
    assert params["service"] == {
        "metadata": {"annotations": {"metallb.io/address-pool": "gw-pool"}},
        "spec": {"externalTrafficPolicy": "Local"},
    }
    pod_spec = params["deployment"]["spec"]["template"]["spec"]
    assert pod_spec["nodeSelector"] == {"pin": "yes"}
    [spread] = pod_spec["topologySpreadConstraints"]
    assert spread["labelSelector"] == {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "public"}}


def test_fixed_replicas_are_an_hpa_with_min_equal_to_max_and_the_deployment_never_sets_replicas() -> None:
    fixed = parameters(gateway(replicas=3))
    assert fixed["horizontalPodAutoscaler"] == {"spec": {"minReplicas": 3, "maxReplicas": 3}}
    assert "replicas" not in fixed["deployment"]["spec"]
    scaled = parameters(gateway(replicas=2, max_replicas=6))
    assert scaled["horizontalPodAutoscaler"] == {"spec": {"minReplicas": 2, "maxReplicas": 6}}
    assert "replicas" not in scaled["deployment"]["spec"]


def test_the_pdb_always_lets_one_pod_go_even_with_one_replica() -> None:
    steps: list[dict[str, Any]] = [{"replicas": 1}, {"replicas": 2}, {"replicas": 3, "max_replicas": 9}]
    for step in steps:
        assert parameters(gateway(**step))["podDisruptionBudget"] == {"spec": {"maxUnavailable": 1}}, step


SCALING_LIFETIME = [
    pytest.param([{"replicas": 2, "max_replicas": 6}, {"replicas": 2}], id="hpa-on-to-off"),
    pytest.param([{"replicas": 2}, {"replicas": 1}], id="two-to-one-replica"),
    pytest.param(
        [{"replicas": 3, "max_replicas": 6}, {"replicas": 1}, {"replicas": 2, "max_replicas": 4}],
        id="on-one-on",
    ),
]


@pytest.mark.parametrize("steps", SCALING_LIFETIME)
def test_a_scaling_change_keeps_the_hpa_and_pdb_keys_so_istiod_never_leaves_a_stale_one(
    steps: list[dict[str, Any]],
) -> None:
    """istiod renders the HPA/PDB only from their keys and never deletes: each step must still carry both,
    with an HPA that holds exactly the new replica range and a PDB that allows an eviction."""
    for step in steps:
        params = parameters(gateway(**step))
        assert set(params) >= {"horizontalPodAutoscaler", "podDisruptionBudget"}, step
        hpa = params["horizontalPodAutoscaler"]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (
            step["replicas"],
            step.get("max_replicas", step["replicas"]),
        )
        assert "replicas" not in params["deployment"]["spec"]
        assert params["podDisruptionBudget"]["spec"] == {"maxUnavailable": 1}
        assert parameters_problems(params) == []


def test_status_port_env_on_the_proxy_container_for_nlb_health_checks() -> None:
    containers = parameters(gateway(platform="aws-nlb"))["deployment"]["spec"]["template"]["spec"][
        "containers"
    ]
    assert containers == [
        {"name": "istio-proxy", "env": [{"name": "ENVOY_STATUS_PORT_ENABLE_PROXY_PROTOCOL", "value": "true"}]}
    ]


def test_migration_labels_the_pods_and_the_permissive_filter_selects_exactly_them() -> None:
    run = gateway(mode=LOCAL, listener=BOTH)
    labels = parameters(run)["deployment"]["spec"]["template"]["metadata"]["labels"]
    [envoy_filter] = run.k8s_objects("EnvoyFilter")
    assert envoy_filter["spec"]["workloadSelector"]["labels"] == {
        "gateway.networking.k8s.io/gateway-name": "public",
        **labels,
    }
    assert "annotations" not in parameters(run)["deployment"]["spec"]["template"]["metadata"]


def test_address_comes_from_the_gateway_status() -> None:
    assert gateway(service_address="198.51.100.30").outputs["address"] == "198.51.100.30"
    assert gateway().outputs["address"] is None


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        ({"deploymnet": {}}, "unknown key 'deploymnet'"),
        ({"service": ["x"]}, "service: a patch is a mapping"),
        ({"service": {"annotations": {}}}, "service: unknown top-level field(s) annotations"),
        (
            {"deployment": {"spec": {"replicas": 2}}, "horizontalPodAutoscaler": {"spec": {}}},
            "deployment.spec.replicas together with horizontalPodAutoscaler",
        ),
        (
            {"deployment": {}},
            "no 'horizontalPodAutoscaler' key: istiod never deletes the one it rendered before",
        ),
        ({"deployment": {}}, "no 'podDisruptionBudget' key"),
        (
            {"podDisruptionBudget": {"spec": {"minAvailable": 1}}},
            "podDisruptionBudget.spec.minAvailable forbids every eviction",
        ),
        ({"podDisruptionBudget": {"spec": {"maxUnavailable": 0}}}, "maxUnavailable 0 forbids every eviction"),
    ],
)
def test_parameters_istiod_would_only_log_are_refused(broken: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in parameters_problems(broken))


def test_generated_parameters_pass_the_check_for_every_path() -> None:
    for overrides in (
        {},
        {"platform": "gcp", "mode": LOCAL, "listener": OFF},
        {"mode": LOCAL, "listener": BOTH},
        {"max_replicas": 5},
        {"platform": "aws-nlb", "num_trusted_proxies": 1, "trusted_hops": "l7"},
    ):
        assert parameters_problems(gateway_parameters(GatewaySettings.of(args(**overrides)))) == [], overrides


def test_no_admitted_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="route_namespaces is empty"):
        gateway(routes_from=())


def test_two_gateways_in_one_program_and_they_wait_for_what_they_are_given() -> None:
    def body() -> None:
        istiod = k8s.core.v1.ConfigMap("istiod")
        GatewayApiGateway(
            "public",
            {"gateway": args(name="public", platform="aws-nlb"), "route_namespaces": ["apps"]},
            opts=pulumi.ResourceOptions(depends_on=[istiod]),
        )
        GatewayApiGateway(
            "internal",
            {
                "gateway": args(name="internal", platform="aws-nlb", mode=LOCAL, listener=OFF),
                "route_namespaces": ["apps"],
            },
        )

    run = run_body(body)
    assert sorted(g.inputs["metadata"]["name"] for g in run.of_type(GATEWAY_TYPE)) == ["internal", "public"]
    assert len({r.urn for r in run.resources}) == len(run.resources)
    istiod = run.named("kubernetes:core/v1:ConfigMap", "istiod").urn
    assert istiod in run.named(GATEWAY_TYPE, "public-gateway").dependencies
