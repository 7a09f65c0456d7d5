"""The stack config as typed models: each key, its type, default and meaning (the docstrings are the
configuration reference), with the validators of single values."""

import difflib
import ipaddress
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from source_ip import facts
from source_ip.config.messages import _clip
from source_ip.facts import (
    CERTIFICATE_WAIT_SECONDS,
    HELM_RELEASE_NAME_MAX,
    ISTIO_SUPPORT_RULE,
    ISTIO_SUPPORTED_MINORS,
    ISTIO_VERSION,
    PLATFORMS,
    QUICKSTART_ISSUER,
    RESERVED_LABEL_PREFIXES,
    RESERVED_RELEASE_NAMES,
    Platform,
    SourceIpMode,
    istio_end_of_support,
    istio_release,
)
from source_ip.plan import is_qualified_name
from source_ip.rate_limit import IPV6_PREFIX_DEFAULT, TRACKED_CLIENTS_DEFAULT

PROGRAM_COMPONENTS = {
    "istio": "the control plane (IstioInstall)",
    "echo": "the echo app (EchoApp)",
    "echo-routing": "the echo app's Istio routing (EchoRouting)",
    "echo-route": "the echo app's HTTPRoute (EchoHttpRoute)",
    "metallb-pinning": "the MetalLB pinning (MetalLBPinning)",
    "gateway-namespaces": "the gateway namespaces (Namespaces)",
}
"""The names `__main__.py` gives its own components. A gateway's component is named after the gateway and
each child after its component (`<name>-service`, ...): a gateway named like one of these would give its
resources the names of theirs (a gateway `echo` reads a Service `echo-service`, the echo app creates one)."""

# Patterns are applied with fullmatch: `$` would also accept a trailing newline.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


def _dns_subdomain(value: str) -> bool:
    """RFC 1123 subdomain, as Kubernetes object names and DNS hosts use."""
    return 0 < len(value) <= 253 and all(_DNS_LABEL.fullmatch(part) for part in value.split("."))


def _check_dns_label(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            "must be a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters"
        )
    return value


def _check_label_key(key: str) -> None:
    prefix = key.rpartition("/")[0]
    if not is_qualified_name(key):
        raise ValueError(f"label key {key!r} is not a valid Kubernetes label key ([prefix/]name)")
    if any(prefix == reserved or prefix.endswith(f".{reserved}") for reserved in RESERVED_LABEL_PREFIXES):
        raise ValueError(
            f"label key {key!r} uses a prefix reserved for Kubernetes itself (kubernetes.io, k8s.io and "
            "their subdomains); allowed: a prefix of your own, e.g. loadbalancerIPs.metallb.io"
        )


class AddressSpan(NamedTuple):
    """A range of addresses of one IP family, as integers (so IPv4 and IPv6 never compare)."""

    version: int
    first: int
    last: int

    def overlaps(self, other: "AddressSpan") -> bool:
        return self.version == other.version and self.first <= other.last and other.first <= self.last

    def holds(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return self.version == address.version and self.first <= int(address) <= self.last


def parse_address_range(value: str) -> AddressSpan:
    """An IP, a CIDR or a range `first-last` (what MetalLB's IPAddressPool accepts)."""
    if "-" in value:
        first, last = (ipaddress.ip_address(part.strip()) for part in value.split("-", 1))
        if first.version != last.version or int(first) > int(last):
            raise ValueError("range ends must be the same IP family, first <= last")
        return AddressSpan(first.version, int(first), int(last))
    network = ipaddress.ip_network(value, strict=False)
    return AddressSpan(network.version, int(network.network_address), int(network.broadcast_address))


def _span(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> AddressSpan:
    return AddressSpan(network.version, int(network.network_address), int(network.broadcast_address))


def _release_name(value: str) -> str:
    _check_dns_label(value)
    if not _DNS_1035_LABEL.fullmatch(value):
        raise ValueError(
            "must start with a letter: the gateway chart names the gateway's Service after the release, "
            "and a Service name is a DNS-1035 label (lower-case letters, digits and '-', starting with a "
            "letter); allowed e.g. edge-1"
        )
    if len(value) > HELM_RELEASE_NAME_MAX:
        raise ValueError(f"is longer than Helm allows; allowed: at most {HELM_RELEASE_NAME_MAX} characters")
    taken = ", ".join(sorted({*RESERVED_RELEASE_NAMES, *facts.CHART_OBJECT_NAMES, *PROGRAM_COMPONENTS}))
    if value in RESERVED_RELEASE_NAMES:
        raise ValueError(f"is a release this program makes itself; allowed: any other name than {taken}")
    if value in facts.CHART_OBJECT_NAMES:
        raise ValueError(
            f"is the name of {facts.CHART_OBJECT_NAMES[value]}, and the gateway chart names its objects "
            f"of the same kinds after the release; allowed: any other name than {taken}"
        )
    if value in PROGRAM_COMPONENTS:
        raise ValueError(
            f"is the name of the program's own component for {PROGRAM_COMPONENTS[value]}, whose "
            f"resources would share their names with the gateway's; allowed: any other name than "
            f"{taken}"
        )
    return value


def _boolean(value: Any) -> Any:
    """Only what Pulumi itself takes as a boolean: true/false (config.get_bool). Pydantic's lax mode
    would also read "no", "off", "0", "n" as false — a stack file value the CLI passes as a string."""
    if isinstance(value, bool) or value in ("true", "false"):
        return value is True or value == "true"
    raise ValueError("must be true or false")


_MISUSED_NETWORKS = {
    "unspecified or 'this network' (0.0.0.0/8)": ipaddress.ip_network("0.0.0.0/8"),
    "loopback": ipaddress.ip_network("127.0.0.0/8"),
    "link-local": ipaddress.ip_network("169.254.0.0/16"),
    "multicast": ipaddress.ip_network("224.0.0.0/4"),
    "reserved or broadcast (240.0.0.0/4)": ipaddress.ip_network("240.0.0.0/4"),
    "unspecified (::)": ipaddress.ip_network("::/128"),
    "loopback (::1)": ipaddress.ip_network("::1/128"),
    "IPv6 link-local": ipaddress.ip_network("fe80::/10"),
    "IPv6 multicast": ipaddress.ip_network("ff00::/8"),
}
_WIDEST_POOL = {4: 2**24, 6: 2**96}
"""More addresses than a /8 (IPv4) or a /32 (IPv6) is not a pool of a network you own."""


def _address_item(address: str) -> str:
    try:
        span = parse_address_range(address)
    except ValueError:
        raise ValueError(
            "not an IP address, a CIDR or a range first-last; allowed e.g. 192.168.10.0/24 or "
            "192.168.10.240-192.168.10.250"
        ) from None
    for what, network in _MISUSED_NETWORKS.items():
        if span.overlaps(_span(network)):
            raise ValueError(
                f"reaches {what} addresses, which MetalLB would hand out and the network would not "
                "route; allowed: addresses of your nodes' own subnet, e.g. 192.168.10.240-192.168.10.250"
            )
    if span.last - span.first + 1 > _WIDEST_POOL[span.version]:
        raise ValueError(
            "is wider than a /8 (IPv4) or /32 (IPv6): not a range of one network; allowed: the slice of "
            "your nodes' subnet kept for load balancers"
        )
    if span.overlaps(_span(_IPV4_MAPPED)):
        raise ValueError(
            "reaches IPv4-mapped IPv6 addresses (::ffff:0:0/96, e.g. ::ffff:127.0.0.1), which name IPv4 "
            "addresses in another form and which the network would not route as IPv6; allowed: the IPv4 "
            "addresses themselves, or addresses of your nodes' IPv6 subnet"
        )
    return address


_NEVER_A_SOURCE = {
    "unspecified or 'this network' (0.0.0.0/8)": ipaddress.ip_network("0.0.0.0/8"),
    "multicast (224.0.0.0/4)": ipaddress.ip_network("224.0.0.0/4"),
    "the broadcast address (255.255.255.255)": ipaddress.ip_network("255.255.255.255/32"),
    "unspecified (::)": ipaddress.ip_network("::/128"),
    "IPv6 multicast (ff00::/8)": ipaddress.ip_network("ff00::/8"),
}
"""Addresses no TCP client connects from: an allowlist entry inside one of them admits no one."""
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _cidr_item(cidr: str) -> str:
    """An allowlist entry: one address or a network, written so that it means what it says."""
    address, slash, bits = cidr.partition("/")
    if "%" in address:
        raise ValueError(
            f"has a zone ID ({_clip(address[address.index('%') :], 40)}): a client address carries no "
            "interface scope, so the entry would not mean one network; allowed: the address or network "
            "without it, e.g. 2001:db8::/32"
        )
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ValueError("not an IP address or CIDR; allowed e.g. 203.0.113.0/24") from None
    width = network.max_prefixlen
    if slash and bits != str(int(bits)):
        raise ValueError(f"has a prefix length written with a leading zero or sign; allowed: {network}")
    if network.network_address != ipaddress.ip_address(address):
        one = f"{address}/{width}"
        alternative = f" or {network} (the network it means now)" if network.prefixlen else ""
        raise ValueError(
            f"has host bits set after /{network.prefixlen}, so it would mean {network}, "
            f"{network.num_addresses} addresses, not {address}; allowed: {one} (that one address)"
            f"{alternative}"
        )
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_IPV4_MAPPED):
        mapped = f"{network.network_address.ipv4_mapped}/{network.prefixlen - 96}"
        raise ValueError(
            f"is the IPv4-mapped IPv6 form of {mapped}: IPv4 clients are matched by their IPv4 address, "
            f"so the entry may admit no one; allowed: {mapped}"
        )
    for what, never in _NEVER_A_SOURCE.items():
        if network.version == never.version and network.subnet_of(never):  # type: ignore[arg-type]
            raise ValueError(
                f"lies in {what}, which no client connects from, so the entry admits no one; allowed: your "
                "clients' addresses or networks, e.g. 203.0.113.0/24"
            )
    return cidr


def _int32(value: int) -> int:
    if value > facts.INT32_MAX:
        raise ValueError(
            f"is more than Kubernetes can hold (an int32: Deployment spec.replicas, HorizontalPodAutoscaler "
            f"min/maxReplicas); allowed: 1 to {facts.INT32_MAX}"
        )
    return value


def _uint32(value: int) -> int:
    most = facts.UINT32_MAX
    if value > most:
        raise ValueError(f"is more than istiod reads (numTrustedProxies is a uint32); allowed: 0 to {most}")
    return value


def _node_item(node: str) -> str:
    if not _dns_subdomain(node):
        raise ValueError("not a Kubernetes node name; allowed: a DNS-1123 subdomain, e.g. worker-03")
    return node


DnsLabel = Annotated[str, AfterValidator(_check_dns_label)]
ReleaseName = Annotated[str, AfterValidator(_release_name)]
Bool = Annotated[bool, BeforeValidator(_boolean)]


def _whole_number(value: Any) -> Any:
    """An integer key takes a whole number: true/false or 2.0 are not numbers of replicas (pydantic's lax
    mode would read true as 1 and 2.0 or "2.0" as 2). Digits in quotes stay a number: `pulumi config set
    --path` stores what it is given as a string unless told its type."""
    digits = isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit()
    if isinstance(value, bool | float) or (isinstance(value, str) and not digits):
        raise ValueError(f"must be a whole number, e.g. 3, not {value!r}")
    return value


Int = Annotated[int, BeforeValidator(_whole_number)]
AddressRange = Annotated[str, AfterValidator(_address_item)]
Cidr = Annotated[str, AfterValidator(_cidr_item)]
NodeName = Annotated[str, AfterValidator(_node_item)]


class _Section(BaseModel):
    """Config sections: camelCase keys, unknown keys rejected (they are typos)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True
    )


class IstioConfig(_Section):
    install: Bool = True
    """Install the control plane (base + istiod). `false` reuses the one the cluster runs."""
    version: str = ISTIO_VERSION
    """Exact Istio release of the base, istiod and gateway charts (with `install: false`: the version
    the cluster runs, which the gateway charts must match). Installing is refused outside the supported
    minors (facts.ISTIO_SUPPORTED_MINORS); a reused older Istio is warned about at `pulumi up`."""
    gateway_api_crds: Bool | None = None
    """Install the Gateway API CRDs (standard channel). Unset: yes with routing gateway-api, no otherwise;
    false with routing gateway-api means the cluster has them already (checked at `pulumi up`)."""

    @field_validator("version")
    @classmethod
    def _exact_supported_version(cls, value: str, info: ValidationInfo) -> str:
        release = istio_release(value)
        if release is None:
            raise ValueError(
                "must be an exact Istio release X.Y.Z in ASCII digits 0-9 (no leading zeros, at most 9 "
                f"digits a part), e.g. {ISTIO_VERSION}"
            )
        supported = " or ".join(f"{major}.{minor}.x" for major, minor in ISTIO_SUPPORTED_MINORS)
        if info.data.get("install", False) and release[:2] not in ISTIO_SUPPORTED_MINORS:
            minor = f"{release[0]}.{release[1]}"
            why = (
                f"is out of support since {istio_end_of_support(release[:2])}"
                if release[:2] < min(ISTIO_SUPPORTED_MINORS)
                else "is newer than the releases this program was checked against"
            )
            raise ValueError(
                f"Istio {minor} {why}, so the program does not install it; allowed with istio.install true: "
                f"{supported}, e.g. {ISTIO_VERSION} ({ISTIO_SUPPORT_RULE}), or istio.install: false to reuse "
                "the Istio a cluster runs"
            )
        return value

    @property
    def release(self) -> tuple[int, int, int]:
        """`version` as numbers (it was checked to be X.Y.Z)."""
        release = istio_release(self.version)
        assert release is not None
        return release


def _dns_host(value: str) -> str:
    """A host a gateway answers for. It has a dot: istiod reads a VirtualService host without one as a
    Service of the VirtualService's namespace (`intranet` becomes `intranet.<ns>.svc.cluster.local`,
    ResolveVirtualServiceShortnames in pilot/pkg/model/virtualservice.go), which no request names."""
    if not _dns_subdomain(value) or value.rsplit(".", 1)[-1].isdigit():
        raise ValueError(
            "must be a DNS name: lower-case labels of letters, digits and '-', e.g. echo.example.com "
            "(no wildcard, no IP address, no port)"
        )
    if "." not in value:
        raise ValueError(
            "must be a name with a dot, e.g. intranet.example.com: istiod reads a host without one as a "
            "Service of the namespace (intranet.<namespace>.svc.cluster.local), which no request names"
        )
    return value


DnsHost = Annotated[str, AfterValidator(_dns_host)]


def _object_name(value: str) -> str:
    if not _dns_subdomain(value):
        raise ValueError(
            "must be a Kubernetes object name: a DNS-1123 subdomain (lower-case letters, digits, '-' and "
            "'.', at most 253 characters), e.g. echo-tls"
        )
    return value


ObjectName = Annotated[str, AfterValidator(_object_name)]


class CertManagerTls(_Section):
    """A certificate cert-manager issues for a gateway (a cert-manager.io/v1 Certificate)."""

    issuer: ObjectName
    """The Issuer or ClusterIssuer that signs it (an Issuer must live in the gateway's namespace)."""
    issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"
    """`ClusterIssuer`, or `Issuer` (one in the gateway's namespace)."""
    challenge: Literal["http01", "dns01"] = "http01"
    """How the issuer's ACME solver proves the hosts: `http01` answers on port 80 through this gateway
    (needs a hairpin fix with PROXY protocol, docs/https.md), `dns01` through your DNS provider."""


def _hosts(unset: str = "") -> AfterValidator:
    """A list of host names: at least one, each once (`unset`: what leaving the key out gives instead)."""

    def check(value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError(f"needs at least one host; allowed: a list of DNS names{unset}")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("names a host twice; allowed: each host once")
        return value

    return AfterValidator(check)


class HttpsFields(_Section):
    """What HTTPS of a gateway declares alike in a stack file (`tls`) and in the component (`https`)."""

    secret_name: ObjectName | None = None
    """An existing kubernetes.io/tls Secret in the gateway's namespace (not with certManager)."""
    redirect_http: Bool = True
    """Plain HTTP on port 80 answers with a 301 to HTTPS (ACME HTTP-01 challenge paths still reach the
    solver)."""


class TlsConfig(HttpsFields):
    """HTTPS on port 443 of a gateway, with the certificate from a Secret or from cert-manager."""

    hosts: Annotated[list[DnsHost] | None, _hosts(", or unset for echo.host and every routed host")] = None
    """The names the certificate and the HTTPS server answer for; unset: [echo.host]."""
    cert_manager: CertManagerTls | None = None
    """cert-manager issues the Secret `<gateway name>-tls` in the gateway's namespace (not with
    secretName)."""


class FrontProxyConfig(_Section):
    """An L7 proxy or CDN in front of the gateway (docs/front-proxy.md): the gateway reads the last
    X-Forwarded-For entry (one trusted hop) and refuses every direct peer outside the proxy's ranges."""

    profile: Literal["cloudflare", "cloudfront", "fastly", "custom"]
    """Whose proxy: its egress ranges come from source_ip/front_proxy_ranges.json (`custom`: `cidrs`).
    `fastly` is refused: Fastly appends to X-Forwarded-For only on TLS connections, so a plain-HTTP
    client could forge its address (docs/front-proxy.md)."""
    cidrs: list[Cidr] = Field(default_factory=list)
    """`custom` only (required there): the proxy's egress ranges, the only direct peers served."""
    header: str | None = None
    """A header carrying the client address (e.g. CF-Connecting-IP): refused on Istio 1.30, see
    docs/front-proxy.md; the proxy must append the client to X-Forwarded-For instead."""


class RateLimitConfig(_Section):
    """Envoy's local rate limit on the gateway, one token bucket per client address, per replica."""

    requests_per_minute: Int = Field(ge=1, le=1_000_000)
    """Requests a minute each client address may send (refilled continuously)."""
    burst: Int | None = Field(default=None, ge=1, le=1_000_000)
    """Requests a client may send at once (the bucket's size); unset: ten seconds' worth of
    requestsPerMinute, at least 1 (600 a minute: 100)."""
    tracked_clients: Int = Field(default=TRACKED_CLIENTS_DEFAULT, ge=1, le=1_000_000)
    """Client buckets kept per replica (least recently used evicted: an evicted client starts full)."""
    ipv6_prefix: Int = Field(default=IPV6_PREFIX_DEFAULT, ge=0, le=128)
    """IPv6 clients share one bucket per prefix of this length (default 64: one host or site usually
    holds a whole /64, and rotates addresses inside it); IPv4 clients have one bucket per address."""


_PATH_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*")
"""RFC 3986 path characters, a `%` only as the start of an escape (the Gateway API CRD's CEL rule)."""


def _path_prefix(value: str) -> str:
    """A path prefix both routing modes read alike: Gateway API's PathPrefix (its CRD's rules: absolute, no
    `//`, `/./`, `/../`, `%2f`, `#`, `?`) made of RFC 3986 path characters."""
    bad = (
        not value.startswith("/")
        or len(value) > 1024
        or "//" in value
        or any(part in (".", "..") for part in value.split("/")[1:])
        or "%2f" in value.lower()
        or not all(_PATH_SEGMENT.fullmatch(part) for part in value.split("/")[1:])
    )
    if bad:
        raise ValueError(
            "must be an absolute path of URL path characters, e.g. /v1 (no //, no . or .. segment, no "
            "%2F, no ? or #)"
        )
    return value


def _service_name(value: str) -> str:
    if not _DNS_1035_LABEL.fullmatch(value):
        raise ValueError(
            "is not a Service name Kubernetes accepts; allowed: a DNS-1035 label (lower-case letters, digits "
            "and '-', starting with a letter, at most 63 characters), e.g. shop"
        )
    return value


class RouteConfig(_Section):
    """One of your Services behind the gateway: the hosts and path prefix it answers, and where it is."""

    hosts: Annotated[list[DnsHost], _hosts(", e.g. [shop.example.com]")]
    """The host names routed to the Service (each also served over HTTPS when the gateway has `tls`)."""
    path_prefix: Annotated[str, AfterValidator(_path_prefix)] = "/"
    """The path prefix routed, by whole segments: /v1 matches /v1 and /v1/x, not /v10."""
    service: Annotated[str, AfterValidator(_service_name)]
    """The name of your Service."""
    namespace: DnsLabel
    """The namespace of your Service (the program routes into it; it does not create it)."""
    port: Int = Field(ge=1, le=65535)
    """The Service's port."""


def _hostname(value: str | None) -> str | None:
    if value is not None and not _dns_subdomain(value):
        raise ValueError("must be a DNS name, e.g. gw.example.com")
    return value


IpFamily = Literal["IPv4", "IPv6"]


def _ip_families(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError(
            "names no family; allowed: [IPv4], [IPv6], [IPv4, IPv6] (dual-stack), or unset for the "
            "cluster's default"
        )
    if len(set(value)) != len(value):
        raise ValueError(
            "names a family twice (Kubernetes refuses it); allowed: [IPv4], [IPv6], [IPv4, IPv6] "
            "(dual-stack), or unset for the cluster's default"
        )
    return value


class GatewayFields(_Section):
    """The inputs of one gateway, declared once: a stack file's `gateway` (and each `gateways` item) and the
    components' args (`IngressGatewayArgs`, snake_case) are both validated by these fields."""

    name: ReleaseName = "istio-ingressgateway"
    """Helm release name; the chart derives the pod labels `app`/`istio` from it."""
    namespace: DnsLabel = "istio-system"
    """Namespace of the gateway (created by the program unless every cluster has it)."""
    replicas: Annotated[Int, AfterValidator(_int32)] = Field(default=2, ge=1)
    """Gateway pods; with 2 or more a PodDisruptionBudget keeps one through a node drain."""
    max_replicas: Annotated[Int, AfterValidator(_int32)] | None = Field(default=None, ge=1)
    """Set to enable the HorizontalPodAutoscaler between `replicas` and this."""
    num_trusted_proxies: Annotated[Int, AfterValidator(_uint32)] = Field(default=0, ge=0)
    """L7 proxies/CDNs in front that append X-Forwarded-For (gatewayTopology.numTrustedProxies)."""
    trusted_hops: Literal["l4", "l7"] = "l4"
    """What stands in front of the gateway: `l4` load balancers only, or `l7` proxies/CDNs."""
    service_annotations: dict[str, str] = Field(default_factory=dict)
    """Extra Service annotations; they win over the platform's for the same key."""
    hairpin_hostname: Annotated[str | None, AfterValidator(_hostname)] = None
    """Hostname published instead of the LB IP so in-cluster callers keep the PROXY header."""
    front_proxy: FrontProxyConfig | None = None
    """The CDN or L7 proxy in front (docs/front-proxy.md): client address from its one hop, others refused."""
    rate_limit: RateLimitConfig | None = None
    """A per-client rate limit (429 with retry-after), keyed on the client address the gateway trusts."""
    routes: list[RouteConfig] = Field(default_factory=list)
    """Your own Services behind this gateway (docs/routes.md): hosts and a path prefix to a Service."""
    attach_namespaces: list[DnsLabel] = Field(default_factory=list)
    """Namespaces whose own VirtualServices or HTTPRoutes may bind to this gateway (docs/routes.md)."""
    ip_families: Annotated[list[IpFamily] | None, AfterValidator(_ip_families)] = None
    """The Service's IP families: [IPv4], [IPv6], or [IPv4, IPv6] for a dual-stack gateway (ipFamilyPolicy
    RequireDualStack: a cluster without both families refuses the Service rather than quietly giving it
    one). Unset: no ipFamilies nor ipFamilyPolicy on the Service, the cluster's default (in gateway-api mode
    istiod's own PreferDualStack). With IPv6, istiod runs with ISTIO_DUAL_STACK (docs/platforms.md, IPv6)."""


class GatewayConfig(GatewayFields):
    """A gateway in a stack file: its inputs, and the keys that decide the component's `listener` and
    `https` (the stack's `sourceIp`, `echo.host` and `certManager` take part)."""

    proxy_protocol_migration: Bool = False
    """Accept connections with and without the PROXY header while the LB is switched."""
    tls: TlsConfig | None = None
    """HTTPS on port 443 (docs/https.md): hosts, and the certificate from secretName or certManager."""


SourceIpChoice = Literal["auto", "proxy-protocol", "local"]


class GatewayItem(GatewayConfig):
    """One entry of `gateways`: the keys of `gateway`, plus a `sourceIp` of its own."""

    source_ip: SourceIpChoice | None = None
    """Overrides the stack's `sourceIp` for this gateway."""


class EchoConfig(_Section):
    enabled: Bool = True
    """Deploy the echo app (an HTTP service that shows the address it received) behind the gateways."""
    host: DnsHost = "echo.example.com"
    """Host the Istio Gateway and VirtualService answer for (send it as the Host header)."""
    namespace: DnsLabel = "default"
    """Namespace of the echo app (created by the program unless every cluster has it)."""


def _node_label(value: dict[str, str]) -> dict[str, str]:
    if not value:
        raise ValueError("needs at least one label, e.g. {loadbalancerIPs.metallb.io: arp}")
    for key, label_value in value.items():
        _check_label_key(key)
        if not _LABEL_VALUE.fullmatch(label_value):
            raise ValueError(f"label value {label_value!r} is not a valid Kubernetes label value")
    return value


class MetalLBPlacementFields(_Section):
    """Where a gateway on MetalLB L2 runs: declared once for the stack file's `metallb` and the gateway
    component's `metallb` input."""

    node_label: Annotated[dict[str, str], AfterValidator(_node_label)] = Field(
        default_factory=lambda: {"loadbalancerIPs.metallb.io": "arp"}
    )
    """The label put on `nodes`; the gateway's nodeSelector and the L2Advertisement both select it."""
    pool: DnsLabel = "default-pool"
    """The IPAddressPool the gateway's Service takes its address from."""


class MetalLBConfig(MetalLBPlacementFields):
    install: Bool = False
    """Install MetalLB itself (kind, fresh clusters)."""
    namespace: DnsLabel = "metallb-system"
    """MetalLB's namespace: where its pools and advertisements live (and where it is installed)."""
    nodes: list[NodeName] = Field(default_factory=list)
    """Nodes that both run the gateway pods and announce its address."""
    addresses: list[AddressRange] = Field(default_factory=list)
    """When set, the program creates `pool` with these addresses (IP, CIDR or first-last)."""
    adopt_l2_advertisement: DnsLabel | None = None
    """Name of an existing L2Advertisement to patch instead of creating one (as the DaoCloud
    MetalLB recipe does: DaoCloud/DaoCloud-docs docs/zh/docs/network/modules/metallb/source_ip.md)."""

    @field_validator("addresses")
    @classmethod
    def _no_overlap(cls, value: list[str]) -> list[str]:
        spans = sorted((parse_address_range(a), a) for a in value)
        for (earlier_span, earlier), (later_span, later) in itertools.pairwise(spans):
            if earlier_span.overlaps(later_span):
                raise ValueError(f"{earlier} and {later} overlap; allowed: ranges that share no address")
        return value

    @field_validator("nodes")
    @classmethod
    def _unique_nodes(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("node names must be unique")
        return value


class CertManagerConfig(_Section):
    install: Bool = False
    """Install cert-manager (chart v1.21.1 with its CRDs) into namespace cert-manager."""
    quickstart_issuer: Bool = False
    """Create a self-signed CA and the ClusterIssuer `istio-source-ip-quickstart-ca` that signs with it
    (kind, tests: no browser trusts it; `make verify` passes its CA with --cacert). Needs `install`."""
    wait_seconds: Int = Field(default=CERTIFICATE_WAIT_SECONDS, ge=60, le=86_400)
    """How long `pulumi up` waits for each gateway's Certificate to be Ready (an ACME order can take
    minutes) before it stops with an error (docs/https.md: what then)."""


def _prometheus_duration(value: str) -> str:
    if not value or not _PROMETHEUS_DURATION.fullmatch(value):
        raise ValueError(
            "is not a Prometheus duration: numbers with units from largest to smallest, e.g. 15m or 1h30m "
            "(units y, w, d, h, m, s, ms)"
        )
    return value


_PROMETHEUS_DURATION = re.compile(r"(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?")
PrometheusDuration = Annotated[str, AfterValidator(_prometheus_duration)]


class ObservabilityConfig(_Section):
    """Counters of client addresses that cannot be a real client on every gateway (Envoy's ip_tagging
    filter), the alerts and the dashboard built on them (docs/observability.md)."""

    alerts: Bool = False
    """A PrometheusRule per gateway: ClientAddressLost when the share of requests from an address that
    cannot be a client stays above `threshold` for `for`, and ProxyProtocolErrors on gateways that read
    PROXY headers. Turns the counters on."""
    dashboard: Bool = False
    """A Grafana dashboard of those counters (a ConfigMap labelled grafana_dashboard: "1" in
    `dashboardNamespace`). Turns the counters on."""
    pod_monitor: Bool = True
    """A PodMonitor per gateway that scrapes Envoy's metrics (port http-envoy-prom) and labels each series
    source_ip_gateway: <gateway name>, which the alerts and the dashboard select on; false: your own
    scrape config adds that label (docs/observability.md)."""
    threshold: float = Field(default=0.05, gt=0, lt=1)
    """The share of tagged requests (0 to 1, exclusive) above which ClientAddressLost fires."""
    for_: PrometheusDuration = Field(default="15m", alias="for")
    """How long the share (or PROXY errors) must last before the alert fires (a Prometheus duration)."""
    node_cidrs: list[Cidr] = Field(default_factory=list)
    """The cluster's node addresses (tag `node`): a node arriving as the client means kube-proxy SNAT."""
    pod_cidrs: list[Cidr] = Field(default_factory=list)
    """The cluster's pod ranges (tag `pod`): in-cluster callers, or a hop that forwarded without the
    client's address."""
    load_balancer_addresses: list[Cidr] = Field(default_factory=list)
    """The load balancers' own addresses (tag `load_balancer`): the LB arriving as the client means the
    PROXY header or the passthrough was lost."""
    internal_gateways: list[str] = Field(default_factory=list)
    """Gateways (by name) whose real clients are on private networks, e.g. an internal LB's: they get no
    ClientAddressLost alert (every request would count); they are still counted, drawn and get
    ProxyProtocolErrors."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels on the PrometheusRules and PodMonitors, for your Prometheus' ruleSelector and
    podMonitorSelector (e.g. release: kube-prometheus-stack)."""
    dashboard_namespace: DnsLabel = "istio-system"
    """Where the dashboard ConfigMap goes: a namespace that exists and that Grafana's sidecar searches."""
    runbook_url: str = "docs/observability.md"
    """Where the alerts' runbook_url points (the alert's name is appended as #anchor): this file, or its
    address in your own copy of the repository."""

    @property
    def counts(self) -> bool:
        """The gateways count tagged client addresses (the alerts or the dashboard need it)."""
        return self.alerts or self.dashboard

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label_value in value.items():
            _check_label_key(key)
            if not _LABEL_VALUE.fullmatch(label_value):
                raise ValueError(
                    f"label value {label_value!r} is not a valid Kubernetes label value (at most 63 "
                    "letters, digits, '-', '_' or '.', starting and ending with a letter or digit)"
                )
        return value

    @field_validator("threshold", mode="before")
    @classmethod
    def _share(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, int | float) and not 0 < value < 1):
            raise ValueError(
                "is not a share between 0 and 1 (both excluded); allowed e.g. 0.05 for 5 % of the requests"
            )
        return value

    @field_validator("runbook_url")
    @classmethod
    def _runbook(cls, value: str) -> str:
        if not value or any(ch.isspace() for ch in value) or "#" in value:
            raise ValueError(
                "must be a path or URL without spaces or '#' (the alert's anchor is appended), e.g. "
                "https://github.com/you/istio-source-ip/blob/main/docs/observability.md"
            )
        return value


class StackConfig(_Section):
    """Everything under `istio-source-ip:` in Pulumi.<stack>.yaml."""

    platform: str
    """Your load balancer: one of the platforms in docs/platforms.md (decides the Service annotations)."""
    routing: Literal["istio", "gateway-api"] = "istio"
    """istio: Istio Gateway + VirtualService on istio/gateway releases; gateway-api: Kubernetes Gateway API
    Gateways that istiod deploys, customised through a ConfigMap."""
    source_ip: SourceIpChoice = "auto"
    """How the client address survives the LB: proxy-protocol, local (passthrough), or auto (the platform's
    recommended one)."""
    istio: IstioConfig = Field(default_factory=IstioConfig)
    """The Istio release and whether the program installs it (see istio.*)."""
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    """The one-gateway form; `gateways` is the several-gateway form (not both)."""
    gateways: list[GatewayItem] | None = None
    echo: EchoConfig = Field(default_factory=EchoConfig)
    """The echo app that shows which client address arrived (see echo.*)."""
    metallb: MetalLBConfig = Field(default_factory=MetalLBConfig)
    """MetalLB L2 pinning, with platform metallb only (see metallb.*)."""
    allowlist: list[Cidr] = Field(default_factory=list)
    """Client CIDRs allowed through the gateway (an AuthorizationPolicy); empty = everyone."""
    access_logs: Bool = False
    """Envoy access logs on the gateway pods: a JSON line per request with the client address the gateway
    trusts, the direct peer (the LB, a node, a proxy) and X-Forwarded-For (an EnvoyFilter, so a reused
    Istio's mesh config is not needed)."""
    cert_manager: CertManagerConfig = Field(default_factory=lambda: CertManagerConfig())
    """cert-manager itself (install, the quickstart issuer); a gateway's `tls.certManager` uses it."""
    observability: ObservabilityConfig = Field(default_factory=lambda: ObservabilityConfig())
    """Watch the client address after the deploy: counters, alerts and a dashboard (see observability.*)."""

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        if value not in PLATFORMS:
            close = (
                difflib.get_close_matches(value.lower(), sorted(PLATFORMS), n=1) if len(value) < 100 else []
            )
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown platform{hint}; allowed: {', '.join(sorted(PLATFORMS))}")
        return value

    @property
    def platform_entry(self) -> Platform:
        return PLATFORMS[self.platform]

    @property
    def installs_gateway_api_crds(self) -> bool:
        if self.istio.gateway_api_crds is None:
            return self.routing == "gateway-api"
        return self.istio.gateway_api_crds

    def is_quickstart_ca(self, manager: CertManagerTls) -> bool:
        """The issuer is the quickstart's CA ClusterIssuer, which signs without any ACME challenge."""
        return (
            self.cert_manager.quickstart_issuer
            and manager.issuer == QUICKSTART_ISSUER
            and manager.issuer_kind == "ClusterIssuer"
        )

    def gateway_entries(self) -> Iterator["GatewayEntry"]:
        """Every ingress gateway of the stack, with the config keys that set it."""
        if self.gateways is None:
            yield GatewayEntry(
                "gateway", self.gateway, self.source_ip, "sourceIp", self._mode(self.source_ip)
            )
            return
        for index, item in enumerate(self.gateways):
            key = f"gateways[{index}]"
            if item.source_ip is None:
                yield GatewayEntry(key, item, self.source_ip, "sourceIp", self._mode(self.source_ip))
            else:
                yield GatewayEntry(key, item, item.source_ip, f"{key}.sourceIp", self._mode(item.source_ip))

    def _mode(self, choice: str) -> SourceIpMode:
        """The source-IP mode in effect: the choice, or the platform's recommended one for auto."""
        return self.platform_entry.default_mode if choice == "auto" else SourceIpMode(choice)


@dataclass(frozen=True)
class GatewayEntry:
    """One ingress gateway as configured: `key` is `gateway` or `gateways[i]`."""

    key: str
    gateway: GatewayConfig
    source_ip: str
    """What was asked for: auto, proxy-protocol or local."""
    source_ip_key: str
    """The key that asked for it: `sourceIp` or `gateways[i].sourceIp`."""
    mode: SourceIpMode


VALUE_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    ("a release name the program uses", {"platform": "gcp", "gateway": {"name": "istiod"}}),
    (
        "a release name Helm cannot take",
        {"platform": "gcp", "gateway": {"name": "gggggggggggggggggggggggggggggggggggggggggggggggggggggg"}},
    ),
    ("a name with a trailing newline", {"platform": "gcp", "gateway": {"name": "edge\n"}}),
    (
        "a pin label in a reserved prefix",
        {"platform": "metallb", "metallb": {"nodes": ["w1"], "nodeLabel": {"node.kubernetes.io/lb": "yes"}}},
    ),
    (
        "a pool MetalLB would misuse",
        {"platform": "metallb", "metallb": {"nodes": ["w1"], "install": True, "addresses": ["127.0.0.0/24"]}},
    ),
    (
        "overlapping pool ranges",
        {
            "platform": "metallb",
            "metallb": {
                "nodes": ["w1"],
                "install": True,
                "addresses": ["10.0.0.0/24", "10.0.0.200-10.0.0.210"],
            },
        },
    ),
    ("an allowlist entry with host bits set", {"platform": "gcp", "allowlist": ["203.0.113.7/0"]}),
    ("an allowlist entry with a zone ID", {"platform": "gcp", "allowlist": ["fe80::1%eth0"]}),
    ("an allowlist entry no client connects from", {"platform": "gcp", "allowlist": ["224.0.0.1"]}),
    ("a release name a Service cannot take", {"platform": "gcp", "gateway": {"name": "1edge"}}),
    (
        "a release name the Istio charts give their objects",
        {"platform": "gcp", "gateway": {"name": "istio-reader-service-account"}},
    ),
    ("a gateway named like the program's own component", {"platform": "gcp", "gateway": {"name": "echo"}}),
    ("replicas over what Kubernetes holds", {"platform": "gcp", "gateway": {"replicas": 2147483648}}),
    (
        "numTrustedProxies over what istiod reads",
        {"platform": "aws", "gateway": {"numTrustedProxies": 4294967296, "trustedHops": "l7"}},
    ),
    (
        "a JSON value nested too deep",
        {"platform": "gcp", "gateway": "[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]"},
    ),
    ("a typo", {"platform": "gcp", "gateway": {"replcas": 3}}),
    ("a YAML 1.1 boolean word", {"platform": "gcp", "accessLogs": "off"}),
    (
        "a TLS host that is not a DNS name",
        {"platform": "gcp", "gateway": {"tls": {"hosts": ["*.example.com"]}}},
    ),
]
"""What the single-value checks above refuse, as stack files' configs: docs/refusals.md shows them."""
