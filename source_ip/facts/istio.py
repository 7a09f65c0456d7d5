"""Istio's and the Gateway API's names the program relies on: annotations, labels, filters, and
istiod's gateway deployment."""

from __future__ import annotations

# --- Gateway API mode (istio/istio at tag 1.30.3, gateway-api v1.5.1; ../shared/docs/gateway-api-mode.md) ---
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
ISTIO_GATEWAY_CLASS = "istio"
"""Created by istiod when absent (pilot/pkg/config/kube/gateway/gatewayclass.go): never by the program."""
GATEWAY_NAME_POD_LABEL = "gateway.networking.k8s.io/gateway-name"
"""The label istiod puts on the pods (and the Deployment selector) of the gateway it deploys
(manifests/charts/istio-control/istio-discovery/files/kube-gateway.yaml at 1.30.3)."""
GATEWAY_DEPLOYMENT_CONTROLLER = "pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go"
"""istiod's gateway deployment controller at 1.30.3 (up to 1.28 in pilot/pkg/config/kube/gateway/)."""
GATEWAY_PARAMETERS_KEYS = frozenset(
    {"deployment", "service", "serviceAccount", "horizontalPodAutoscaler", "podDisruptionBudget"}
)
"""Data keys istiod reads from the ConfigMap of spec.infrastructure.parametersRef (`supportedOverlays` in
GATEWAY_DEPLOYMENT_CONTROLLER at 1.30.3). Each value is a YAML strategic-merge patch of the generated object
(`strategicMergePatchYAML`: strategicpatch.StrategicMergeMapPatchUsingLookupPatchMeta with the typed
Deployment/Service/... schema, so lists such as containers and env merge by `name`), applied after the
per-class defaults ConfigMap. Any other key fails `applyOverlay` for every object of the Gateway, so the
program checks its own ConfigMaps against this."""
GATEWAY_PARAMETERS_REQUIRED_KEYS = frozenset({"horizontalPodAutoscaler", "podDisruptionBudget"})
"""`requiredOverlays` in GATEWAY_DEPLOYMENT_CONTROLLER at 1.30.3: istiod renders the HPA and the PDB of
kube-gateway.yaml only when a ConfigMap carries these keys. It applies with server-side apply (force) and
never deletes: once rendered, an HPA or PDB whose key goes away stays as it was, owned by the Gateway.
So the program keeps both keys for the Gateway's whole lifetime."""
GATEWAY_PARAMETERS_WHILE_MISSING = (
    "while it is missing, istiod applies nothing for the Gateway that names it (its Deployment and Service "
    "stay as they are) and renders again once the ConfigMap is back"
)
"""`render` in GATEWAY_DEPLOYMENT_CONTROLLER at 1.30.3 fails with "parametersRef targeting configmap %q, but
configmap does not exist", which `configureIstioGateway` only logs, applying nothing; the ConfigMap event
handler queues every Gateway whose parametersRef names it (the `gatewaysByParamsRef` index). So the
delete-then-create pulumi-kubernetes makes of a changed parameters ConfigMap (its name is fixed) leaves
the running gateway alone: read in the code, not observed on a cluster."""
GATEWAY_API_MIN_ISTIO = (1, 26)
"""spec.infrastructure.parametersRef is read since Istio 1.26.0 (`fetchParameters` in
pilot/pkg/config/kube/gateway/deploymentcontroller.go at 1.26.0; absent at 1.25.0). An older istiod
deploys the Gateway without the ConfigMap's patches: no client-IP path at all."""
RATE_LIMIT_MIN_ISTIO = (1, 26)
"""The per-client rate limit needs the local rate limit's dynamic descriptors: a descriptor entry without a
value (one bucket per client) and `max_dynamic_descriptors` (the LRU's size). Envoy 1.32, in Istio 1.24,
has neither field (an istioctl 1.24.3 calls max_dynamic_descriptors unknown, seen in a public project's
notes), and the round-4 review found istiod 1.25 dropping max_dynamic_descriptors (20 buckets) and 1.24's
Envoy refusing the empty descriptor value; 1.26 is the first release where both hold. Not re-read here
at each release: Envoy's local_rate_limit.proto at the Istio 1.30.3 proxy has both (tests/envoy_api.py)."""
HTTP_ROUTE_MAX_HOSTNAMES = 16
"""An HTTPRoute holds at most 16 hostnames (`spec.hostnames` maxItems in the v1.5.1 CRD,
../shared/upstream/gateway-api/crds/httproutes.gateway.networking.k8s.io.yaml): the API server refuses
more."""
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"
"""pulumi-kubernetes (4.18+, CHANGELOG) waits for this condition before it reports the object created."""
CERTIFICATE_WAIT_SECONDS = 600
"""The default wait for a gateway's Certificate to be Ready (certManager.waitSeconds): 10 minutes."""
TIMEOUT_ANNOTATION = "pulumi.com/timeoutSeconds"
"""How long pulumi-kubernetes awaits the object before it fails the step: the resource's customTimeouts
first, then this annotation (pulumi/pulumi-kubernetes provider/pkg/metadata, `TimeoutDuration`); in the
object itself, so `pulumi preview --diff` shows it."""
CERTIFICATE_READY = "condition=Ready"
"""A cert-manager Certificate is Ready once its Secret holds a valid certificate for the spec
(../shared/upstream/cert-manager/crds/cert-manager.io_certificates.yaml at v1.21.1: "Known condition
types are `Ready` and `Issuing`", the Ready printer column). The gateway Certificate carries it as its
waitFor, and the port-80 redirect waits for that Certificate."""

ECHO_IMAGE = "mccutchen/go-httpbin:v2.18.1"
"""go-httpbin listens on 8080 and answers /headers and /ip (the echo app of the PROXY-protocol recipe,
https://blog.annd.io.vn/blog/istio-preserve-source-ip/)."""
ECHO_PORT = 8080

# --- Istio (istio/api mesh/v1alpha1/proxy.proto; manifests/charts/gateway) -------------------
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
"""Pod annotation holding per-proxy ProxyConfig as JSON; gatewayTopology lives in it."""
STATUS_PORT_PROXY_PROTOCOL_ENV = "ENVOY_STATUS_PORT_ENABLE_PROXY_PROTOCOL"
"""pilot-agent reads it when it writes Envoy's bootstrap (pilot/pkg/features/experimental.go,
pkg/bootstrap/config.go at 1.30.3): the gateway chart's `env` values and a `deployment` patch of the
`istio-proxy` container both set it."""
SIDECAR_INJECT_POD_LABEL = {"sidecar.istio.io/inject": "true"}
"""Pod label that makes istiod's webhook inject the sidecar in a namespace without `istio-injection`
(manifests/charts/istio-control/istio-discovery/templates/mutatingwebhook.yaml, case "object."),
so no other workload of a shared namespace gets a sidecar."""
PROXY_PROTOCOL_LISTENER_FILTER = "envoy.filters.listener.proxy_protocol"
PROXY_PROTOCOL_FILTER_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol"
)


def gateway_selector_labels(release_name: str) -> dict[str, str]:
    """Labels the istio/gateway chart puts on its pods for a release name.

    istio/istio manifests/charts/gateway/templates/_helpers.tpl (unchanged at 1.30.3; the chart's new
    `service.selectorLabels` only adds to the Service's selector, and the program sets none):
    `app: <name>` and `istio: <name without the "istio-" prefix>`. A Gateway selecting anything else
    matches nothing.
    """
    return {"app": release_name, "istio": release_name.removeprefix("istio-")}


# --- Marks this program sets on the gateway (read back by the policy pack, policy/) ---------------
MIGRATION_POD_LABEL = {"istio-source-ip.io/proxy-protocol": "accept-both"}
"""Marks gateway pods started during a PROXY-protocol migration. The permissive listener
filter selects this label, so pods rolled out in the final (strict) step are not matched by it
while the old pods drain."""

TRUSTED_HOPS_ANNOTATION = "istio-source-ip.io/trusted-hops"
"""Pod annotation declaring that the hops counted by numTrustedProxies are L7 proxies/CDNs.
The policy pack refuses numTrustedProxies >= 1 without it (clients could forge X-Forwarded-For)."""
