"""The releases the program installs and their support calendar: charts, versions, repositories."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any


@dataclass(frozen=True)
class Chart:
    """A Helm chart from its official repository."""

    chart: str
    repository: str
    source: str


ISTIO_REPOSITORY = "https://istio-release.storage.googleapis.com/charts"
ISTIO_NAMESPACE = "istio-system"
ISTIOD_DEPLOYMENT = "istiod"
"""istiod's Deployment (default revision):
manifests/charts/istio-control/istio-discovery/templates/deployment.yaml names it `istiod`
(`istiod-<revision>` for a revision)."""
ISTIOD_CONTAINER = "discovery"
"""istiod's container; its image is `<hub>/pilot:<tag>[-<variant>]` (same template at 1.30.3), so the
tag starts with the Istio release it runs."""
# --- Istio releases and their support (../shared/upstream/SOURCES.md "Releases": istio/istio, 2026-08-22) ---
ISTIO_VERSION = "1.30.3"
"""What every shipped stack installs and the default of istio.version: the newest stable release whose
sources were read here (istio/istio tag 1.30.3, 2026-07-13; charts in ../shared/upstream/charts/*-1.30.3)."""
ISTIO_SUPPORT_RULE = "Istio supports a minor release until about six weeks after the second one following it"
ISTIO_SUPPORT_WEEKS = 6
ISTIO_SUPPORTED_MINORS = ((1, 29), (1, 30))
"""The minors in support as of 2026-08-22: 1.28 is end of life (1.28.10, 2026-06-29, was its last patch);
1.29 (1.29.6) and 1.30 (1.30.3) are supported; 1.31 was a release candidate (1.31.0-rc.0, 2026-08-19)."""
ISTIO_RELEASE_PATTERN = re.compile(r"(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})")
"""An exact Istio release X.Y.Z as its tags and Helm chart versions spell it (semver: no leading zeros).
ASCII digits only: Python's `\\d` also matches other scripts' digits (e.g. ARABIC-INDIC DIGIT ONE),
which int() reads but no Istio tag or chart version is spelt with. At most 9 digits a part, so reading
one as a number is cheap and never hits int()'s limit on digits."""


def istio_release(text: str, *, prefix: bool = False) -> tuple[int, int, int] | None:
    """The release X.Y.Z spelt by `text`, or None. With `prefix`, `text` may go on after a '-' (an image tag
    such as 1.30.3-distroless)."""
    match = ISTIO_RELEASE_PATTERN.match(text) if prefix else ISTIO_RELEASE_PATTERN.fullmatch(text)
    if match is None or (prefix and text[match.end() :] and not text[match.end() :].startswith("-")):
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


ISTIO_MINOR_RELEASED = {
    (1, 22): "2024-05-10",
    (1, 23): "2024-08-11",
    (1, 24): "2024-11-05",
    (1, 25): "2025-02-25",
    (1, 26): "2025-05-06",
    (1, 27): "2025-08-08",
    (1, 28): "2025-10-30",
    (1, 29): "2026-02-10",
    (1, 30): "2026-05-15",
}
"""The date of each X.Y.0 (commit date of the istio/istio tag X.Y.0): with ISTIO_SUPPORT_RULE, when a minor
left support."""


def istio_end_of_support(minor: tuple[int, int]) -> str:
    """When `minor` leaves (or left) support, in words, from ISTIO_SUPPORT_RULE and the release dates."""
    major, number = minor
    successor = (major, number + 2)
    released = ISTIO_MINOR_RELEASED.get(successor)
    if released is None:
        if successor < min(ISTIO_MINOR_RELEASED):
            oldest = min(ISTIO_MINOR_RELEASED)
            return f"before {istio_end_of_support((oldest[0], oldest[1] - 2))}"
        return f"about {ISTIO_SUPPORT_WEEKS} weeks after Istio {successor[0]}.{successor[1]}.0 is released"
    end = date.fromisoformat(released) + timedelta(weeks=ISTIO_SUPPORT_WEEKS)
    after = f"{successor[0]}.{successor[1]}.0"
    return f"about {end.isoformat()} ({ISTIO_SUPPORT_WEEKS} weeks after Istio {after}, {released})"


ISTIO_BASE = Chart("base", ISTIO_REPOSITORY, "istio/istio manifests/charts/base")
ISTIOD = Chart("istiod", ISTIO_REPOSITORY, "istio/istio manifests/charts/istio-control/istio-discovery")
ISTIO_GATEWAY = Chart(
    "gateway",
    ISTIO_REPOSITORY,
    "istio/istio manifests/charts/gateway, re-read at 1.30.3 (../shared/upstream/charts/gateway-1.30.3): "
    "the values the program sets are read as at 1.28 (templates/deployment.yaml: replicaCount only "
    "without autoscaling, strategy, podAnnotations, labels but app/istio, env on istio-proxy, nodeSelector, "
    "topologySpreadConstraints; hpa.yaml; poddisruptionbudget.yaml only with more than one replica; "
    "service.yaml: annotations, externalTrafficPolicy). New at 1.30: service.selectorLabels, "
    "networkGatewayPorts, no fixed runAsUser 1337",
)
METALLB = Chart("metallb", "https://metallb.github.io/metallb", "metallb/metallb charts/metallb")
METALLB_CHART_VERSION = "0.16.1"
"""metallb/metallb charts/metallb at tag v0.16.1 (../shared/upstream/charts/metallb-0.16.1): the program sets
no values; the chart's CRDs (charts/crds) still serve IPAddressPool and L2Advertisement as metallb.io/v1beta1
with the fields the pinning sets (addresses, autoAssign; ipAddressPools, nodeSelectors), and its speaker
still runs with hostNetwork and NET_RAW (templates/speaker.yaml), so its namespace stays privileged."""

CERT_MANAGER = Chart(
    "cert-manager",
    "https://charts.jetstack.io",
    "cert-manager/cert-manager deploy/charts/cert-manager at tag v1.21.1 (../shared/upstream/charts/"
    "cert-manager-v1.21.1): values.yaml `crds.enabled` (default false) renders the CRDs with the chart, "
    "`crds.keep` (default true) keeps them on uninstall",
)
CERT_MANAGER_VERSION = "v1.21.1"
"""The published chart's version carries the `v` (../shared/upstream/SOURCES.md)."""
CERT_MANAGER_RELEASE = "cert-manager"
CERT_MANAGER_NAMESPACE = "cert-manager"
QUICKSTART_ISSUER = "istio-source-ip-quickstart-ca"
"""The CA ClusterIssuer `certManager.quickstartIssuer` creates (a self-signed CA, for kind and tests)."""
CERT_MANAGER_VALUES: dict[str, Any] = {"crds": {"enabled": True}}
"""The chart's CRDs with the release (Certificate, Issuer, ClusterIssuer, ...: deploy/crds at v1.21.1)."""
CERT_MANAGER_GATEWAY_API_VALUES: dict[str, Any] = {
    "config": {
        "apiVersion": "controller.config.cert-manager.io/v1alpha1",
        "kind": "ControllerConfiguration",
        "gatewayAPI": {"enabled": True},
    }
}
"""With routing gateway-api: cert-manager's Gateway API support (its `gatewayHTTPRoute` HTTP-01 solver)
is off unless the controller's config enables it. The chart at v1.21.1 writes `config` verbatim into the
controller's config file (templates/controller-config.yaml, `--config` in templates/deployment.yaml; its
values.yaml shows this very `gatewayAPI: {enabled: true}`). At the v1.21.1 tag of cert-manager/cert-manager:
`GatewayAPIConfig.Enabled` (json `gatewayAPI.enabled`) of ControllerConfiguration
(pkg/apis/config/controller/v1alpha1/types.go) is what the controller reads (cmd/controller/app/controller.go:
`EnableGatewayAPI: opts.GatewayAPIConfig.Enabled`); the older top-level `enableGatewayAPI` is deprecated and
only copied into it when it is unset (internal/apis/config/controller/v1alpha1/defaults.go). The
ExperimentalGatewayAPISupport feature gate it also needs defaults to true (internal/controller/feature/
features.go: Beta, Default true)."""
CERT_MANAGER_GROUP = "cert-manager.io"
CERT_MANAGER_API = f"{CERT_MANAGER_GROUP}/v1"
ISTIO_INGRESS_CLASS = "istio"
"""cert-manager's Ingress solver (`http01.ingress.class: istio`) makes an Ingress istiod converts into a
Gateway whose selector is `istio: <meshConfig.ingressSelector>`, `istio: ingressgateway` by default
(istio/istio pilot/pkg/config/kube/ingress/conversion.go, getIngressGatewaySelector)."""
ISTIO_INGRESS_SELECTOR_DEFAULT = "ingressgateway"

# Release names this program gives its own Helm releases; a gateway may not take one of them.
ISTIO_BASE_RELEASE = "istio-base"
ISTIOD_RELEASE = "istiod"
METALLB_RELEASE = "metallb"
RESERVED_RELEASE_NAMES = frozenset({ISTIO_BASE_RELEASE, ISTIOD_RELEASE, METALLB_RELEASE})
HELM_RELEASE_NAME_MAX = 53
"""helm/helm pkg/chartutil/validate_name.go: `maxReleaseNameLen = 53` (names also go into labels)."""

ALWAYS_PRESENT_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
"""Namespaces every Kubernetes cluster has: never declared as created (AlreadyExists), never deleted."""

GATEWAY_API_VERSION = "v1.5.1"
"""The version Istio 1.30 is built against (istio/istio go.mod at tag 1.30.3: sigs.k8s.io/gateway-api v1.5.1;
its standard-channel schemas are ../shared/upstream/gateway-api/crds)."""
GATEWAY_API_CRDS_URL = f"https://github.com/kubernetes-sigs/gateway-api/releases/download/{GATEWAY_API_VERSION}/standard-install.yaml"
"""Standard-channel Gateway API CRDs (the PROXY-protocol recipe,
https://blog.annd.io.vn/blog/istio-preserve-source-ip/, applies the same with kustomize)."""
