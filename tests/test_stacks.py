"""Every shipped stack, loaded from its real Pulumi.<stack>.yaml and run through __main__.py."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS, annotation_json, stack_run
from tools.program import HELM_RELEASE, ProgramRun

ADDRESS = "203.0.113.50"


def stack(name: str) -> ProgramRun:
    return stack_run(name, service_address=ADDRESS)


def gateway_releases(run: ProgramRun) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"}


def gateway_api(run: ProgramRun) -> bool:
    return run.outputs["routing"] == "gateway-api"


def istio_kind(run: ProgramRun, kind: str) -> list[dict]:
    return [o for o in run.k8s_objects(kind) if o["apiVersion"].startswith("networking.istio.io/")]


def gateway_values(run: ProgramRun) -> dict:
    [release] = gateway_releases(run).values()
    return release["values"]


def pod_labels(release_name: str) -> dict[str, str]:
    """What the istio/gateway chart puts on its pods: app=<release>, istio=<release minus 'istio-'>."""
    return {"app": release_name, "istio": release_name.removeprefix("istio-")}


def test_the_required_stacks_ship() -> None:
    assert {
        "dev",
        "vngcloud",
        "metallb",
        "aws",
        "aws-nlb",
        "gcp",
        "aws-nlb-two-gateways",
        "existing-istio",
    } <= set(STACKS)


ISTIO_ROUTING = [s for s in STACKS if "gateway-api" not in s]
GATEWAY_API_ROUTING = [s for s in STACKS if "gateway-api" in s]


@pytest.mark.parametrize("name", ISTIO_ROUTING)
def test_each_gateway_has_an_istio_gateway_selecting_exactly_its_pods(name: str) -> None:
    run = stack(name)
    assert not gateway_api(run)
    selectors = {
        str(g["spec"]["selector"]) for g in istio_kind(run, "Gateway")
    }  # the echo app's and the routes'
    assert selectors == {str(pod_labels(release)) for release in gateway_releases(run)}


@pytest.mark.parametrize("name", GATEWAY_API_ROUTING)
def test_each_gateway_api_gateway_names_its_parameters_and_the_route_attaches_to_it(name: str) -> None:
    run = stack(name)
    assert gateway_api(run) and gateway_releases(run) == {}
    gateways = run.k8s_objects("Gateway")
    configmaps = {c["metadata"]["name"]: c for c in run.k8s_objects("ConfigMap")}
    # the echo route has backends; a TLS gateway's `http` listener gets the redirect route (no backends)
    [route] = [
        r
        for r in run.k8s_objects("HTTPRoute")
        if "backendRefs" in r["spec"]["rules"][0] and r["metadata"]["name"] == "echo"
    ]
    [service] = run.k8s_objects("Service")
    assert gateways
    for gateway in gateways:
        assert gateway["spec"]["gatewayClassName"] == "istio"
        ref = gateway["spec"]["infrastructure"]["parametersRef"]
        assert configmaps[ref["name"]]["metadata"]["namespace"] == gateway["metadata"]["namespace"]
        for listener in gateway["spec"]["listeners"]:
            admitted = listener["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"][0]["values"]
            assert route["metadata"]["namespace"] in admitted
    assert sorted({(p["name"], p["namespace"]) for p in route["spec"]["parentRefs"]}) == sorted(
        (g["metadata"]["name"], g["metadata"]["namespace"]) for g in gateways
    )
    assert route["spec"]["rules"] == [{"backendRefs": [{"name": service["metadata"]["name"], "port": 80}]}]


@pytest.mark.parametrize("name", ISTIO_ROUTING)
def test_virtual_service_routes_to_the_echo_service(name: str) -> None:
    run = stack(name)
    [vs] = [v for v in run.k8s_objects("VirtualService") if v["metadata"]["name"] == "echo"]
    [service] = run.k8s_objects("Service")
    [destination] = [route["destination"] for http in vs["spec"]["http"] for route in http.get("route", [])]
    meta = service["metadata"]
    assert destination["host"] == f"{meta['name']}.{meta['namespace']}.svc.cluster.local"
    assert destination["port"]["number"] == service["spec"]["ports"][0]["port"]


@pytest.mark.parametrize("name", STACKS)
def test_outputs_give_each_gateways_address_and_a_curl_command(name: str) -> None:
    run = stack(name)
    outputs = run.outputs
    names = list(gateway_releases(run)) or [g["metadata"]["name"] for g in run.k8s_objects("Gateway")]
    curl = f"curl -s -H 'Host: {outputs['echoHost']}' http://{ADDRESS}/headers"
    assert outputs["gatewayAddress"] == ADDRESS and outputs["curlCommand"] == curl
    assert outputs["gatewayAddresses"] == dict.fromkeys(names, ADDRESS)
    assert outputs["curlCommands"] == dict.fromkeys(names, curl)
    assert set(outputs["gateways"]) == set(names)


@pytest.mark.parametrize("name", STACKS)
def test_istio_charts_share_the_stack_version(name: str) -> None:
    run = stack(name)
    istio = [
        r.inputs for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] in ("base", "istiod", "gateway")
    ]
    assert istio
    assert {r["version"] for r in istio} == {"1.30.3"} == {run.outputs["istioVersion"]}


def test_two_gateways_public_proxy_protocol_and_internal_passthrough() -> None:
    run = stack("aws-nlb-two-gateways")
    releases = gateway_releases(run)
    public, internal = releases["public"]["values"], releases["internal"]["values"]
    assert {r["namespace"] for r in releases.values()} == {"istio-ingress"}
    assert (
        public["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"] == "*"
    )
    assert (
        public["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"]
        == "internet-facing"
    )
    assert annotation_json(public) == {"gatewayTopology": {"proxyProtocol": {}}}
    assert (
        "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"
        not in internal["service"]["annotations"]
    )
    assert (
        internal["service"]["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"]
        == "internal"
    )
    assert internal["service"]["externalTrafficPolicy"] == "Local" and "podAnnotations" not in internal
    assert sorted(n["metadata"]["name"] for n in run.k8s_objects("Namespace")) == [
        "istio-ingress",
        "istio-system",
    ]
    telemetry = {t["metadata"]["name"]: t["spec"]["selector"] for t in run.k8s_objects("Telemetry")}
    assert telemetry == {
        "public-access-logs": {"matchLabels": pod_labels("public")},
        "internal-access-logs": {"matchLabels": pod_labels("internal")},
    }
    assert run.outputs["gateways"] == {
        "internal": {"namespace": "istio-ingress", "sourceIpMode": "local", "clientAddressSource": "packet"},
        "public": {
            "namespace": "istio-ingress",
            "sourceIpMode": "proxy-protocol",
            "clientAddressSource": "proxy-protocol",
        },
    }


def test_existing_istio_installs_no_control_plane_and_reads_istiod() -> None:
    run = stack("existing-istio")
    assert sorted(r.inputs["chart"] for r in run.of_type(HELM_RELEASE)) == ["gateway"]
    assert "istio-system" not in [n["metadata"]["name"] for n in run.k8s_objects("Namespace")]
    assert [r.read_id for r in run.resources if r.type == "kubernetes:apps/v1:Deployment" and r.read_id] == [
        "istio-system/istiod"
    ]
    assert gateway_values(run)["service"]["externalTrafficPolicy"] == "Local"


def test_vngcloud_sends_and_parses_proxy_protocol_as_the_proxy_protocol_recipe_does() -> None:
    values = gateway_values(stack("vngcloud"))
    assert values["service"]["annotations"] == {"vks.vngcloud.vn/enable-proxy-protocol": "*"}
    assert annotation_json(values) == {"gatewayTopology": {"proxyProtocol": {}}}
    assert "externalTrafficPolicy" not in values["service"]
    # The Gateway API CRDs, as the recipe installs them.
    assert stack("vngcloud").of_type("kubernetes:yaml/v2:ConfigFile")


def test_metallb_nodes_selector_and_announcements_agree_as_in_the_daocloud_recipe() -> None:
    run = stack("metallb")
    values = gateway_values(run)
    labelled = {
        p.inputs["metadata"]["name"]: p.inputs["metadata"]["labels"]
        for p in run.of_type("kubernetes:core/v1:NodePatch")
    }
    assert labelled == {
        "demo-dev-worker-03": {"loadbalancerIPs.metallb.io": "arp"},
        "demo-dev-worker-04": {"loadbalancerIPs.metallb.io": "arp"},
    }
    assert values["nodeSelector"] == {"loadbalancerIPs.metallb.io": "arp"}
    [l2] = run.of_type("kubernetes:metallb.io/v1beta1:L2AdvertisementPatch")
    assert l2.inputs["metadata"]["name"] == "default-l2advertisement"
    assert l2.inputs["spec"]["ipAddressPools"] == ["default-pool"]
    assert l2.inputs["spec"]["nodeSelectors"] == [{"matchLabels": values["nodeSelector"]}]
    assert values["service"]["externalTrafficPolicy"] == "Local"
    assert values["service"]["annotations"]["metallb.io/address-pool"] == "default-pool"
    assert "podAnnotations" not in values  # no PROXY protocol on a passthrough path
    assert run.of_type(HELM_RELEASE) and "metallb" not in [
        r.inputs["chart"] for r in run.of_type(HELM_RELEASE)
    ]


def test_metallb_gateway_waits_for_the_announcements_which_wait_for_the_labels() -> None:
    run = stack("metallb")
    [gateway] = [r for r in run.of_type(HELM_RELEASE) if r.inputs["chart"] == "gateway"]
    [l2] = run.of_type("kubernetes:metallb.io/v1beta1:L2AdvertisementPatch")
    labels = {r.urn for r in run.of_type("kubernetes:core/v1:NodePatch")}
    assert l2.urn in gateway.dependencies  # one dependency, however many nodes are pinned
    assert labels and labels <= set(l2.dependencies)


def test_dev_installs_metallb_and_a_dedicated_pool_on_kind_workers() -> None:
    run = stack("dev")
    assert "metallb" in [r.inputs["chart"] for r in run.of_type(HELM_RELEASE)]
    [pool] = run.k8s_objects("IPAddressPool")
    [l2] = run.k8s_objects("L2Advertisement")
    values = gateway_values(run)
    assert l2["spec"]["ipAddressPools"] == [pool["metadata"]["name"]]
    assert values["service"]["annotations"]["metallb.io/address-pool"] == pool["metadata"]["name"]
    assert values["service"]["externalTrafficPolicy"] == "Local"
    nodes = sorted(p.inputs["metadata"]["name"] for p in run.of_type("kubernetes:core/v1:NodePatch"))
    assert nodes == ["istio-source-ip-worker", "istio-source-ip-worker2"]  # hack/kind.yaml's workers
    assert run.k8s_objects("Telemetry")


def test_aws_classic_lb_proxy_protocol_and_autoscaling_floor() -> None:
    values = gateway_values(stack("aws"))
    assert values["service"]["annotations"] == {
        "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*"
    }
    assert annotation_json(values) == {"gatewayTopology": {"proxyProtocol": {}}}
    assert values["autoscaling"] == {"enabled": True, "minReplicas": 2, "maxReplicas": 6}


def test_aws_nlb_health_checks_with_proxy_protocol_and_internet_facing() -> None:
    run = stack("aws-nlb")
    values = gateway_values(run)
    annotations = values["service"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"] == "*"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert values["env"] == {"ENVOY_STATUS_PORT_ENABLE_PROXY_PROTOCOL": "true"}
    [policy] = run.k8s_objects("AuthorizationPolicy")
    assert set(policy["spec"]["rules"][0]["from"][0]["source"]) == {"remoteIpBlocks"}


def test_gcp_passthrough_is_etp_local_and_allowlists_the_packet_source() -> None:
    run = stack("gcp")
    values = gateway_values(run)
    assert values["service"] == {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
    assert "podAnnotations" not in values
    [policy] = run.k8s_objects("AuthorizationPolicy")
    assert set(policy["spec"]["rules"][0]["from"][0]["source"]) == {"ipBlocks"}


def test_hetzner_publishes_a_hostname_against_hairpin_failures() -> None:
    annotations = gateway_values(stack("hetzner"))["service"]["annotations"]
    assert annotations["load-balancer.hetzner.cloud/uses-proxyprotocol"] == "true"
    assert annotations["load-balancer.hetzner.cloud/hostname"] == "gateway.example.com"
