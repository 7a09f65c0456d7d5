"""Facts about ingress-nginx the importer reads, as data, each with the file it was read in.

Read in kubernetes/ingress-nginx at the tag controller-v1.15.1 (commit 0a5901f3, the last release in the
snapshot read here; the project was retired in March 2026). Nothing here was observed on a running
controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

NGINX_TAG = "kubernetes/ingress-nginx controller-v1.15.1 (0a5901f3)"


@dataclass(frozen=True)
class Fact(Generic[T]):
    """A value read in ingress-nginx, and the file (at NGINX_TAG) it was read in."""

    value: T
    source: str


ANNOTATION_PREFIX = Fact(
    "nginx.ingress.kubernetes.io/",
    "internal/ingress/annotations/parser/main.go (DefaultAnnotationsPrefix; --annotations-prefix changes it)",
)
CONTROLLER_NAME = Fact(
    "k8s.io/ingress-nginx",
    "internal/ingress/controller/ingressclass/ingressclass.go (DefaultControllerName, the IngressClass "
    "spec.controller the controller serves; flag --controller-class)",
)
CLASS_ANNOTATION = Fact(
    "kubernetes.io/ingress.class",
    "internal/ingress/controller/ingressclass/ingressclass.go (IngressKey)",
)
CLASS_ANNOTATION_VALUE = Fact(
    "nginx",
    "internal/ingress/controller/ingressclass/ingressclass.go (DefaultAnnotationValue; flag --ingress-class)",
)
CLASS_RULE = Fact(
    "spec.ingressClassName first (an IngressClass whose controller is the controller's), else the "
    "kubernetes.io/ingress.class annotation equal to --ingress-class, else only with "
    "--watch-ingress-without-class",
    "internal/ingress/controller/store/store.go (GetIngressClass)",
)
ALLOWLIST_ANNOTATIONS = Fact(
    ("allowlist-source-range", "whitelist-source-range"),
    "internal/ingress/annotations/ipallowlist/main.go (allowlist-source-range, alias "
    "whitelist-source-range); "
    "parser/validators.go checkAnnotation reads the alias only when the first is empty",
)
ALLOWLIST_DEFAULT_KEY = Fact(
    "whitelist-source-range",
    "internal/ingress/controller/template/configmap.go (the ConfigMap key, comma-separated) and "
    "internal/ingress/annotations/ipallowlist/main.go (the default of every Ingress without the annotation)",
)
RATE_LIMIT_ANNOTATIONS = Fact(
    ("limit-rpm", "limit-rps", "limit-burst-multiplier"),
    "internal/ingress/annotations/ratelimit/main.go",
)
BURST_MULTIPLIER_DEFAULT = Fact(
    5,
    "internal/ingress/annotations/ratelimit/main.go (defBurst = 5: burst = rate x multiplier, per zone, "
    "limit_req ... burst=N nodelay in template.go buildRateLimit)",
)
LIMIT_STATUS_DEFAULT = Fact(
    503,
    "internal/ingress/controller/config/config.go (LimitReqStatusCode: 503; ConfigMap key "
    "limit-req-status-code)",
)
PROXY_REAL_IP_CIDR_DEFAULT = Fact(
    ("0.0.0.0/0",),
    "internal/ingress/controller/config/config.go (NewDefault: ProxyRealIPCIDR = [0.0.0.0/0])",
)
REAL_IP_TEMPLATE = Fact(
    "real_ip_header is proxy_protocol with use-proxy-protocol alone, X-Forwarded-For-Proxy-Protocol (the "
    "forwarded header when the PROXY address is in proxy-real-ip-cidr, else the PROXY address) with both "
    "use-proxy-protocol and use-forwarded-headers, and forwarded-for-header otherwise; real_ip_recursive on; "
    "set_real_ip_from each proxy-real-ip-cidr",
    "rootfs/etc/nginx/template/nginx.tmpl (the real_ip block and the geo $proxy_protocol_addr_trusted map)",
)
CONFIGMAP_KEYS = Fact(
    (
        "use-proxy-protocol",
        "use-forwarded-headers",
        "enable-real-ip",
        "forwarded-for-header",
        "compute-full-forwarded-for",
        "proxy-real-ip-cidr",
        "whitelist-source-range",
        "ssl-redirect",
        "limit-req-status-code",
    ),
    "internal/ingress/controller/config/config.go, internal/ingress/defaults/main.go (json names)",
)
NOT_A_CONFIGMAP_KEY = Fact(
    ("real-ip-header",),
    "no such json key in internal/ingress/controller/config/config.go or internal/ingress/defaults/main.go: "
    "the template decides real_ip_header itself (rootfs/etc/nginx/template/nginx.tmpl)",
)
SSL_REDIRECT_DEFAULT = Fact(
    True,
    "internal/ingress/controller/config/config.go (SSLRedirect: true: hosts with TLS redirect HTTP to HTTPS)",
)
REGEX_ANNOTATION = Fact(
    "use-regex",
    "internal/ingress/annotations/rewrite/main.go (useRegexAnnotation; rewrite-target implies it)",
)

NOT_CARRIED: dict[str, str] = {
    "use-regex": "the paths are regular expressions; routes are path prefixes",
    "rewrite-target": "nginx rewrites the path before the backend; routes pass the path unchanged",
    "app-root": "nginx redirects / to this path; routes have no redirect",
    "configuration-snippet": "raw nginx configuration has no counterpart in Envoy",
    "server-snippet": "raw nginx configuration has no counterpart in Envoy",
    "backend-protocol": "routes speak plain HTTP to the Service; HTTPS, GRPC, GRPCS or FCGI backends are "
    "not carried",
    "ssl-passthrough": "the gateway terminates TLS; passthrough to the backend is not carried",
    "limit-connections": "a connection limit per client has no counterpart (the rate limit counts requests)",
    "limit-rate": "bandwidth limits are not carried",
    "limit-rate-after": "bandwidth limits are not carried",
    "limit-allowlist": "the gateway's rate limit exempts no address",
    "limit-whitelist": "the gateway's rate limit exempts no address",
    "denylist-source-range": "the program has no denylist",
    "canary": "canary routing by weight or header is not carried",
    "auth-url": "external authentication is not carried",
    "auth-type": "basic/digest authentication is not carried",
    "auth-tls-secret": "client certificate authentication is not carried",
    "affinity": "session affinity is not carried",
    "permanent-redirect": "redirects are not carried",
    "temporal-redirect": "redirects are not carried",
    "enable-cors": "CORS is not carried",
    "default-backend": "a per-Ingress default backend is not carried",
    "custom-http-errors": "custom error pages are not carried",
    "proxy-body-size": "request size limits are not carried (Envoy's defaults apply)",
    "proxy-read-timeout": "timeouts are not carried (Envoy's defaults apply)",
    "proxy-send-timeout": "timeouts are not carried (Envoy's defaults apply)",
    "proxy-connect-timeout": "timeouts are not carried (Envoy's defaults apply)",
    "service-upstream": "routes always go to the Service's cluster address",
    "upstream-hash-by": "consistent hashing is not carried",
    "mirror-target": "request mirroring is not carried",
    "enable-modsecurity": "ModSecurity is not carried",
}
"""Per-Ingress annotations (without the prefix) this importer cannot carry, with why. Any other annotation
under the prefix that the importer does not read is listed too, as having no counterpart: nothing is
dropped silently. Names from internal/ingress/annotations/*/main.go."""

PREFIX_ONLY_PATH = Fact(
    "ImplementationSpecific paths are nginx location prefixes (string prefixes) unless use-regex is on",
    "internal/ingress/annotations/rewrite/main.go and rootfs/etc/nginx/template/nginx.tmpl (location blocks)",
)
