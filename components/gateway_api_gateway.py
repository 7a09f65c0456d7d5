"""GatewayApiGateway: a Kubernetes Gateway API Gateway that istiod deploys, with the client-IP path in
the ConfigMap its `spec.infrastructure.parametersRef` names (Istio 1.26+)."""

from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.base import kubernetes_object
from components.gateway import GatewayComponent
from components.service_routes import gateway_api_routes
from source_ip.facts import (
    GATEWAY_API_GROUP,
    GATEWAY_PARAMETERS_KEYS,
    GATEWAY_PARAMETERS_REQUIRED_KEYS,
    ISTIO_GATEWAY_CLASS,
    STATUS_PORT_PROXY_PROTOCOL_ENV,
    WAIT_FOR_ANNOTATION,
)
from source_ip.gateway import Deployer, GatewayDecisions, GatewaySettings, IngressGatewayArgs, Scaling, decide
from source_ip.routes import listener_namespaces

PROXY_CONTAINER = "istio-proxy"
"""The container of the gateway pods istiod generates (istio-discovery files/kube-gateway.yaml)."""
PATCH_FIELDS = {
    "service": {"metadata", "spec"},
    "deployment": {"metadata", "spec"},
    "serviceAccount": {"metadata"},
    "horizontalPodAutoscaler": {"metadata", "spec"},
    "podDisruptionBudget": {"metadata", "spec"},
}


def gateway_parameters(settings: GatewaySettings) -> dict[str, dict[str, Any]]:
    """The patches istiod applies to the objects it generates for this Gateway."""
    return parameters_of(decide(settings, Deployer.ISTIOD))


def parameters_of(gateway: GatewayDecisions) -> dict[str, dict[str, Any]]:
    """The decisions in the shape of the Service, Deployment, HPA and PDB istiod generates.
    ConfigMap-only shaping: the status-port env is a container patch of `istio-proxy`, and the
    HPA and PDB keys are always there (scaling_parameters)."""
    service: dict[str, Any] = {}
    if gateway.service_annotations:
        service["metadata"] = {"annotations": gateway.service_annotations}
    if gateway.external_traffic_policy:
        service["spec"] = {"externalTrafficPolicy": gateway.external_traffic_policy}
    if gateway.ip_families:
        # replaces istiod's `ipFamilyPolicy: PreferDualStack` (istio-discovery files/kube-gateway.yaml);
        # ipFamilies is an atomic list in the Service type, so the patch sets it whole
        service.setdefault("spec", {}).update(
            {"ipFamilyPolicy": gateway.ip_family_policy, "ipFamilies": list(gateway.ip_families)}
        )

    template_metadata: dict[str, Any] = {}
    if gateway.pod_annotations:
        template_metadata["annotations"] = dict(gateway.pod_annotations)
    if gateway.migration_labels:
        template_metadata["labels"] = dict(gateway.migration_labels)
    pod_spec: dict[str, Any] = {}
    if gateway.status_port_proxy_protocol:
        pod_spec["containers"] = [
            {"name": PROXY_CONTAINER, "env": [{"name": STATUS_PORT_PROXY_PROTOCOL_ENV, "value": "true"}]}
        ]
    if gateway.node_selector is not None:
        pod_spec["nodeSelector"] = dict(gateway.node_selector)
    if gateway.topology_spread is not None:
        pod_spec["topologySpreadConstraints"] = gateway.topology_spread
    template: dict[str, Any] = {}
    if template_metadata:
        template["metadata"] = template_metadata
    if pod_spec:
        template["spec"] = pod_spec
    deployment_spec: dict[str, Any] = {"strategy": gateway.rollout_strategy}
    if template:
        deployment_spec["template"] = template

    parameters: dict[str, dict[str, Any]] = {"deployment": {"spec": deployment_spec}}
    if service:
        parameters["service"] = service
    parameters.update(scaling_parameters(gateway.scaling))
    return parameters


def scaling_parameters(scaling: Scaling) -> dict[str, dict[str, Any]]:
    """The HPA and PDB keys, the same two for the Gateway's whole lifetime.

    istiod renders the HPA and PDB only while their keys are in the ConfigMap and never deletes them
    (GATEWAY_PARAMETERS_REQUIRED_KEYS): a key that went away would leave the last HPA or PDB in place. So both
    are always there. Fixed scaling is an HPA with minReplicas = maxReplicas = replicas (the HPA controller
    scales a Deployment outside [min, max] to the bound before it reads any metric:
    kubernetes pkg/controller/podautoscaler/horizontal.go), and the Deployment patch never sets `replicas`,
    which istiod would re-apply on every reconcile against the HPA. The PDB is `maxUnavailable: 1`: one pod
    may always be evicted, whatever the replica count (`minAvailable: 1` on one replica forbids every
    eviction and blocks node drains), and never more than one at a time."""
    return {
        "horizontalPodAutoscaler": {
            "spec": {"minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas}
        },
        "podDisruptionBudget": {"spec": {"maxUnavailable": 1}},
    }


def configmap_data(parameters: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The ConfigMap's data: each patch as YAML, checked first (istiod would only log a mistake)."""
    problems = parameters_problems(parameters)
    if problems:
        raise ValueError("gateway parameters istiod would ignore: " + "; ".join(problems))
    return {
        key: yaml.safe_dump(patch, sort_keys=True, default_flow_style=False)
        for key, patch in sorted(parameters.items())
    }


def parameters_problems(parameters: dict[str, Any]) -> list[str]:
    """What istiod would only log or silently keep: an unknown key, a patch that is not a mapping of known
    fields, `replicas` together with an HPA, a missing HPA or PDB key (the last ones rendered would stay),
    a PDB that forbids every eviction."""
    problems = [
        f"unknown key {key!r} (allowed: {', '.join(sorted(GATEWAY_PARAMETERS_KEYS))})"
        for key in parameters
        if key not in GATEWAY_PARAMETERS_KEYS
    ]
    problems += [
        f"no {key!r} key: istiod never deletes the one it rendered before, so it would stay as it was"
        for key in sorted(GATEWAY_PARAMETERS_REQUIRED_KEYS)
        if key not in parameters
    ]
    for key, patch in parameters.items():
        if key not in GATEWAY_PARAMETERS_KEYS:
            continue
        if not isinstance(patch, dict):
            problems.append(f"{key}: a patch is a mapping, got {type(patch).__name__}")
            continue
        unknown = sorted(set(patch) - PATCH_FIELDS[key])
        if unknown:
            problems.append(f"{key}: unknown top-level field(s) {', '.join(unknown)}")
        for field in ("metadata", "spec"):
            if field in patch and not isinstance(patch[field], dict):
                problems.append(f"{key}.{field}: must be a mapping")
    deployment_spec = (
        (parameters.get("deployment") or {}).get("spec")
        if isinstance(parameters.get("deployment"), dict)
        else None
    )
    if (
        "horizontalPodAutoscaler" in parameters
        and isinstance(deployment_spec, dict)
        and "replicas" in deployment_spec
    ):
        problems.append(
            "deployment.spec.replicas together with horizontalPodAutoscaler: istiod re-applies replicas"
        )
    pdb = parameters.get("podDisruptionBudget")
    pdb_spec = pdb.get("spec") if isinstance(pdb, dict) else None
    if (
        isinstance(pdb_spec, dict)
        and pdb_spec.get("maxUnavailable") in (0, "0%")
        and "minAvailable" not in pdb_spec
    ):
        problems.append("podDisruptionBudget.spec.maxUnavailable 0 forbids every eviction")
    if isinstance(pdb_spec, dict) and "minAvailable" in pdb_spec:
        problems.append(
            "podDisruptionBudget.spec.minAvailable forbids every eviction whenever only that many pods run "
            "(one replica, or an HPA at its floor); allowed: maxUnavailable"
        )
    return problems


def _admitting(namespaces: list[str]) -> dict[str, Any]:
    return {
        "namespaces": {
            "from": "Selector",
            "selector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": sorted(set(namespaces)),
                    }
                ]
            },
        }
    }


def listeners(gateway: GatewayDecisions, route_namespaces: list[str]) -> list[dict[str, Any]]:
    """`http` on 80 and, with TLS, `https` on 443 terminating with the Secret in the Gateway's own namespace
    (no ReferenceGrant). Each admits `route_namespaces` (the echo app's), the namespaces of the gateway's
    routes and those that attach their own, nothing wider.
    The `http` listener also admits the Gateway's namespace for the routes' redirect, and with a
    cert-manager Certificate: cert-manager's Gateway API HTTP-01 solver puts its HTTPRoute in the
    Certificate's namespace (pkg/issuer/acme/http/httproute.go at v1.21.1)."""
    tls = gateway.tls
    own = listener_namespaces(list(gateway.routes), list(gateway.attach_namespaces))
    http_namespaces = [*route_namespaces, *own]
    if (tls is not None and tls.solver_routes_here) or (gateway.routes and gateway.redirects_routes):
        http_namespaces.append(str(gateway.settings.namespace))
    https_namespaces = [*route_namespaces, *own]
    result: list[dict[str, Any]] = [
        {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": _admitting(http_namespaces)}
    ]
    if tls is not None:
        result.append(
            {
                "name": "https",
                "port": 443,
                "protocol": "HTTPS",
                "tls": {
                    "mode": "Terminate",
                    "certificateRefs": [{"group": "", "kind": "Secret", "name": tls.secret_name}],
                },
                "allowedRoutes": _admitting(https_namespaces),
            }
        )
    return result


class GatewayApiGatewayArgs(TypedDict):
    """Inputs of a Gateway API gateway: an ingress gateway's, and the namespaces its routes come from."""

    gateway: IngressGatewayArgs
    """The gateway: name, namespace, platform, source-IP mode and listener, HA and placement."""
    route_namespaces: NotRequired[list[str]]
    """More namespaces whose HTTPRoutes the Gateway's listeners admit (the program's: the echo app's);
    the gateway's own routes and attach_namespaces are admitted without being listed here."""


class GatewayApiGateway(GatewayComponent):
    """A `gateway.networking.k8s.io/v1` Gateway of class `istio` and the ConfigMap of its parameters.

    istiod deploys the gateway (a Deployment and a Service named `<name>-istio`) and applies the
    ConfigMap's patches to them: the LB annotations and `gatewayTopology` decided together,
    ETP `Local` for passthrough, replicas/PDB/HPA, MetalLB `nodeSelector` and spread — the same
    client-IP path as `IngressGateway`. The program never manages what istiod generates; the address
    comes from the Gateway's `status.addresses` (pulumi-kubernetes waits for `Programmed`).
    Give it `depends_on` istiod (and, on MetalLB, the pinning); nothing needs to depend on it.
    """

    address: pulumi.Output[str | None]
    """The Gateway's first address (status.addresses), once istiod and the LB have assigned it."""
    labels: pulumi.Output[dict[str, str]]
    """The label on the gateway's pods (gateway.networking.k8s.io/gateway-name)."""
    allowlist_field: pulumi.Output[str]
    """`ipBlocks` or `remoteIpBlocks`: which AuthorizationPolicy field matches the client here."""
    client_address_source: pulumi.Output[str]
    """Where the gateway learns the client address: packet, proxy-protocol or x-forwarded-for."""

    def __init__(
        self,
        name: str,
        args: GatewayApiGatewayArgs,
        opts: pulumi.ResourceOptions | None = None,
        redirect_after: Sequence[pulumi.Resource] = (),
    ) -> None:
        """`redirect_after`: what the routes' port-80 redirect waits for (the certificate: a Certificate
        Ready, or the read of the user's Secret). A Python argument, not an input of the package."""
        checked = GatewaySettings.of(args["gateway"], "GatewayApiGateway")  # before anything is registered
        route_namespaces = list(args.get("route_namespaces", []))
        if not route_namespaces and not checked.routes and not checked.attach_namespaces:
            raise ValueError(
                f"GatewayApiGateway {checked.name}: route_namespaces is empty and the gateway has no routes "
                "and no attach_namespaces, so no HTTPRoute could attach; allowed: the namespaces whose "
                "HTTPRoutes may attach, or routes"
            )
        super().__init__("GatewayApiGateway", name, opts)
        self._start(decide(checked, Deployer.ISTIOD))
        settings = self.settings
        params_name = f"{settings.name}-gateway-params"
        params = k8s.core.v1.ConfigMap(
            self.child_name("params"),
            metadata={"name": params_name, "namespace": settings.namespace},
            data=configmap_data(parameters_of(self.decisions)),
            opts=self.child(),
        )
        gateway = kubernetes_object(
            f"kubernetes:{GATEWAY_API_GROUP}/v1:Gateway",
            self.child_name("gateway"),
            {
                "apiVersion": f"{GATEWAY_API_GROUP}/v1",
                "kind": "Gateway",
                "metadata": {
                    "name": settings.name,
                    "namespace": settings.namespace,
                    "annotations": {WAIT_FOR_ANNOTATION: "condition=Programmed"},
                },
                "spec": {
                    "gatewayClassName": ISTIO_GATEWAY_CLASS,
                    "listeners": listeners(self.decisions, route_namespaces),
                    "infrastructure": {
                        "parametersRef": {"group": "", "kind": "ConfigMap", "name": params_name}
                    },
                },
            },
            opts=self.child(depends_on=[params]),
        )
        gateway_api_routes(self, self.decisions, redirect_after)
        self._finish(lambda: gateway.status.apply(_first_address))  # type: ignore[attr-defined]


def _first_address(status: Any) -> str | None:
    addresses = (status or {}).get("addresses") if isinstance(status, dict) else None
    return str(addresses[0].get("value")) if addresses and isinstance(addresses[0], dict) else None
