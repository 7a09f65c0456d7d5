"""Kubernetes' own limits and names: int32 fields, namespaces every cluster has."""

from __future__ import annotations

# --- Limits and names the consumers of the config hold it to ---------------------------------------
INT32_MAX = 2**31 - 1
"""The most `replicas` and `maxReplicas` can be: Kubernetes reads them as int32 (kubernetes/api apps/v1
types.go `Replicas *int32`; autoscaling/v2 types.go `MinReplicas *int32`, `MaxReplicas int32`)."""
UINT32_MAX = 2**32 - 1
"""The most `numTrustedProxies` can be: istio/api mesh/v1alpha1/proxy.proto, message Topology,
`uint32 num_trusted_proxies = 1`."""

CHART_OBJECT_NAMES: dict[str, str] = {
    "istio-reader-service-account": "the ServiceAccount the base chart creates in istio-system "
    "(manifests/charts/base/templates/reader-serviceaccount.yaml)",
    "istiod": "the Deployment, Service, ServiceAccount, Role, RoleBinding and HorizontalPodAutoscaler the "
    "istiod chart creates in istio-system (manifests/charts/istio-control/istio-discovery/templates)",
}
"""Names of objects the base and istiod charts (1.30.3, rendered with `helm template` and the program's
values) create with a kind the gateway chart also creates for its release (Deployment, Service,
ServiceAccount, Role, RoleBinding, HorizontalPodAutoscaler, PodDisruptionBudget: manifests/charts/gateway/
templates, each named after the release). Their other objects (ConfigMaps `istio`, `istio-sidecar-injector`,
`values`; cluster-scoped roles and webhooks) are of kinds the gateway chart does not create."""

KUBERNETES_UPSERT_CONFIG = "kubernetes:upsertExistingObjects"
KUBERNETES_UPSERT_ENV = "PULUMI_K8S_UPSERT_EXISTING_OBJECTS"
"""pulumi-kubernetes 4.29+ creates objects client-side and stops at AlreadyExists, unless this provider
setting (stack config) or environment variable is true: then a create adopts an object that exists already
and `pulumi destroy` deletes it (pulumi_kubernetes/provider.py, `upsert_existing_objects`; CHANGELOG 4.29.0,
#2926). The program pins pulumi-kubernetes 4.34.2."""
