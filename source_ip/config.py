"""Typed stack config, validated before any resource is registered.

The config contract lives in namespace `istio-source-ip`. `parse_config` takes the raw
key/value strings exactly as the Pulumi CLI hands them to the program (objects and lists as
JSON strings) and returns a `StackConfig`, or raises `ConfigError` listing every problem as
`istio-source-ip:<key path>: <what is wrong> (got <value>); <what is allowed>`.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NamedTuple

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel

from source_ip import facts
from source_ip.facts import (
    GATEWAY_API_MIN_ISTIO,
    HELM_RELEASE_NAME_MAX,
    ISTIO_NAMESPACE,
    ISTIO_SUPPORT_RULE,
    ISTIO_SUPPORTED_MINORS,
    ISTIO_VERSION,
    METALLB_IPS_ANNOTATIONS,
    PLATFORMS,
    RESERVED_LABEL_PREFIXES,
    RESERVED_RELEASE_NAMES,
    Platform,
    SourceIpMode,
    istio_end_of_support,
    istio_release,
)
from source_ip.plan import program_service_annotations, service_annotation_problems

NAMESPACE = "istio-source-ip"

# Patterns are applied with fullmatch: `$` would also accept a trailing newline.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")

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


def _dns_subdomain(value: str) -> bool:
    """RFC 1123 subdomain, as Kubernetes object names and DNS hosts use."""
    return 0 < len(value) <= 253 and all(_DNS_LABEL.fullmatch(part) for part in value.split("."))


def _check_dns_label(value: str) -> str:
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError("must be a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters")
    return value


def _check_label_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (prefix and not _dns_subdomain(prefix)) or not _QUALIFIED_NAME.fullmatch(name):
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

    def overlaps(self, other: AddressSpan) -> bool:
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
            "not an IP address, a CIDR or a range first-last; allowed e.g. 192.168.10.0/24 or 192.168.10.240-192.168.10.250"
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
AddressRange = Annotated[str, AfterValidator(_address_item)]
Cidr = Annotated[str, AfterValidator(_cidr_item)]
NodeName = Annotated[str, AfterValidator(_node_item)]


class _Section(BaseModel):
    """Config sections: camelCase keys, unknown keys rejected (they are typos)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


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


class GatewayConfig(_Section):
    name: ReleaseName = "istio-ingressgateway"
    """Helm release name; the chart derives the pod labels `app`/`istio` from it."""
    namespace: DnsLabel = "istio-system"
    replicas: Annotated[int, AfterValidator(_int32)] = Field(default=2, ge=1)
    max_replicas: Annotated[int, AfterValidator(_int32)] | None = Field(default=None, ge=1)
    """Set to enable the HorizontalPodAutoscaler between `replicas` and this."""
    num_trusted_proxies: Annotated[int, AfterValidator(_uint32)] = Field(default=0, ge=0)
    """L7 proxies/CDNs in front that append X-Forwarded-For (gatewayTopology.numTrustedProxies)."""
    trusted_hops: Literal["l4", "l7"] = "l4"
    """What stands in front of the gateway: `l4` load balancers only, or `l7` proxies/CDNs."""
    service_annotations: dict[str, str] = Field(default_factory=dict)
    """Extra Service annotations; they win over the platform's for the same key."""
    hairpin_hostname: str | None = None
    """Hostname published instead of the LB IP so in-cluster callers keep the PROXY header."""
    proxy_protocol_migration: Bool = False
    """Accept connections with and without the PROXY header while the LB is switched."""

    @field_validator("hairpin_hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        if value is not None and not _dns_subdomain(value):
            raise ValueError("must be a DNS name, e.g. gw.example.com")
        return value


SourceIpChoice = Literal["auto", "proxy-protocol", "local"]


class GatewayItem(GatewayConfig):
    """One entry of `gateways`: the keys of `gateway`, plus a `sourceIp` of its own."""

    source_ip: SourceIpChoice | None = None
    """Overrides the stack's `sourceIp` for this gateway."""


class EchoConfig(_Section):
    enabled: Bool = True
    host: str = "echo.example.com"
    """Host the Istio Gateway and VirtualService answer for (send it as the Host header)."""
    namespace: DnsLabel = "default"

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _dns_subdomain(value):
            raise ValueError("must be a DNS name: lower-case labels of letters, digits and '-', e.g. echo.example.com")
        return value


class MetalLBConfig(_Section):
    install: Bool = False
    """Install MetalLB itself (kind, fresh clusters)."""
    namespace: DnsLabel = "metallb-system"
    nodes: list[NodeName] = Field(default_factory=list)
    """Nodes that both run the gateway pods and announce its address."""
    node_label: dict[str, str] = Field(default_factory=lambda: {"loadbalancerIPs.metallb.io": "arp"})
    pool: DnsLabel = "default-pool"
    addresses: list[AddressRange] = Field(default_factory=list)
    """When set, the program creates `pool` with these addresses (IP, CIDR or first-last)."""
    adopt_l2_advertisement: DnsLabel | None = None
    """Name of an existing L2Advertisement to patch instead of creating one (seed 002)."""

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

    @field_validator("node_label")
    @classmethod
    def _node_label(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("needs at least one label, e.g. {loadbalancerIPs.metallb.io: arp}")
        for key, label_value in value.items():
            _check_label_key(key)
            if not _LABEL_VALUE.fullmatch(label_value):
                raise ValueError(f"label value {label_value!r} is not a valid Kubernetes label value")
        return value


class StackConfig(_Section):
    """Everything under `istio-source-ip:` in Pulumi.<stack>.yaml."""

    platform: str
    routing: Literal["istio", "gateway-api"] = "istio"
    """istio: Istio Gateway + VirtualService on istio/gateway releases; gateway-api: Kubernetes Gateway API
    Gateways that istiod deploys, customised through a ConfigMap."""
    source_ip: SourceIpChoice = "auto"
    istio: IstioConfig = Field(default_factory=IstioConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    """The one-gateway form; `gateways` is the several-gateway form (not both)."""
    gateways: list[GatewayItem] | None = None
    echo: EchoConfig = Field(default_factory=EchoConfig)
    metallb: MetalLBConfig = Field(default_factory=MetalLBConfig)
    allowlist: list[Cidr] = Field(default_factory=list)
    """Client CIDRs allowed through the gateway (an AuthorizationPolicy); empty = everyone."""
    access_logs: Bool = False
    """Envoy access logs on the gateway, showing the client address (Istio Telemetry)."""

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        if value not in PLATFORMS:
            raise ValueError(f"unknown platform; allowed: {', '.join(sorted(PLATFORMS))}")
        return value

    @property
    def platform_entry(self) -> Platform:
        return PLATFORMS[self.platform]

    @property
    def installs_gateway_api_crds(self) -> bool:
        if self.istio.gateway_api_crds is None:
            return self.routing == "gateway-api"
        return self.istio.gateway_api_crds

    def gateway_entries(self) -> Iterator[GatewayEntry]:
        """Every ingress gateway of the stack, with the config keys that set it."""
        if self.gateways is None:
            yield GatewayEntry("gateway", self.gateway, self.source_ip, "sourceIp", self._mode(self.source_ip))
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


@dataclass(frozen=True)
class Problem:
    key: str
    """Full config key, e.g. `istio-source-ip:gateway.replicas`."""
    value: Any
    message: str

    def __str__(self) -> str:
        got = "" if self.value is _MISSING else f" (got {_shown(self.value)})"
        message = _clip(self.message, _MESSAGE_MAX)
        return f"{_clip(self.key, _SHOWN_MAX)}: {message.split(';', 1)[0]}{got}{_tail(message)}"


_SHOWN_MAX = 200
"""How much of a value or key a message repeats; the rest is cut, with a marker saying how long it was."""
_MESSAGE_MAX = 2000


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [cut: {len(text)} characters in all]"


def _shown(value: Any) -> str:
    """The value as JSON, cut to a readable length; never an error (huge integers, deep nesting)."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        if isinstance(value, int):
            return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
        text = _clip(repr(value), _SHOWN_MAX) if isinstance(value, str) else type(value).__name__
    return _clip(text, _SHOWN_MAX)


def _tail(message: str) -> str:
    _, sep, rest = message.partition(";")
    return f";{rest}" if sep else ""


_MISSING = object()


class ConfigError(pulumi.RunError):
    """Invalid stack config. Raised before any resource is registered; shown without a traceback."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid stack config, nothing was deployed:\n{lines}")


def parse_config(raw: dict[str, str], environ: dict[str, str] | None = None) -> StackConfig:
    """Validate raw `istio-source-ip:*` config strings into a StackConfig, or raise ConfigError.

    `raw` may hold other namespaces' keys too (they are not ours, but `kubernetes:upsertExistingObjects` is
    read); `environ` is the program's environment (default: none), for PULUMI_K8S_UPSERT_EXISTING_OBJECTS.
    """
    values: dict[str, Any] = {}
    undecodable: list[Problem] = []
    for key, value in sorted(raw.items()):
        if _ours(key):
            try:
                values[key.split(":", 1)[1]] = _decode(value)
            except _UndecodableError as error:
                undecodable.append(Problem(key, value, str(error)))
    if undecodable:
        raise ConfigError(undecodable)
    try:
        config = StackConfig.model_validate(values)
    except ValidationError as error:
        raise ConfigError([_problem(e) for e in error.errors()]) from None
    problems = semantic_problems(config) + _upsert_problems(config, raw, environ or {})
    if problems:
        raise ConfigError(problems)
    return config


def _ours(key: str) -> bool:
    return key.startswith(f"{NAMESPACE}:")


_MAX_DEPTH = 16
"""No config key is nested more than a few levels (gateways[i].serviceAnnotations.<key> is 3)."""


class _UndecodableError(ValueError):
    pass


def _decode(value: Any) -> Any:
    """The CLI passes objects and lists as JSON strings and scalars as strings. A JSON text nested
    deeper than any key of the config is refused (the decoder itself gives up at about 1,000 levels)."""
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except RecursionError:
        decoded = _TOO_DEEP
    except ValueError as error:
        if "integer string conversion" in str(error):  # sys.get_int_max_str_digits(), 4300 by default
            raise _UndecodableError(
                f"holds an integer of more than {sys.get_int_max_str_digits()} digits, more than any key "
                "of the config takes; allowed: the numbers the config reference describes"
            ) from None
        return value
    if decoded is _TOO_DEEP or _nesting(decoded) > _MAX_DEPTH:
        raise _UndecodableError(
            f"is nested more than {_MAX_DEPTH} levels deep, deeper than any key of the config; allowed: an "
            "object or list as the config reference describes it"
        )
    return decoded


_TOO_DEEP = object()


def _nesting(value: Any) -> int:
    """How deep lists and objects nest in a decoded JSON value (without recursion)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _key(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{NAMESPACE}:{path}"


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The config model at a key path (list indexes and `| None` are looked through)."""
    model: type[BaseModel] = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        found = _model_in(field.annotation) if field else None
        if found is None:
            return None
        model = found
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _problem(error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
        typed = str(loc[-1])
        close = difflib.get_close_matches(typed, allowed, n=1) if len(typed) <= _SHOWN_MAX else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        head = str(loc[-1]).split(".", 1)[0].split("[", 1)[0]
        if len(loc) == 1 and head != loc[-1] and head in allowed:
            # `pulumi config set istio-source-ip:gateway.replicas 3` makes one flat key; --path makes the object.
            hint = (
                f"; this sets one flat key named {loc[-1]!r}: set the nested value with "
                f"pulumi config set --path '{NAMESPACE}:{loc[-1]}' <value>"
            )
        return Problem(_key(loc), error["input"], f"unknown key; allowed keys here: {', '.join(allowed)}{hint}")
    if kind == "missing":
        platforms = f"; allowed: {', '.join(sorted(PLATFORMS))}" if loc == ("platform",) else ""
        return Problem(_key(loc), _MISSING, f"is required{platforms}")
    if kind == "int_parsing_size":  # more digits than int() reads (sys.get_int_max_str_digits())
        return Problem(
            _key(loc),
            error["input"],
            f"is a number with more digits than any key takes; allowed: replicas and maxReplicas 1 to "
            f"{facts.INT32_MAX}, numTrustedProxies 0 to {facts.UINT32_MAX}",
        )
    message = error["msg"].removeprefix("Value error, ")
    if kind == "literal_error":
        message = f"not an allowed value; {message[0].lower()}{message[1:]}"
    elif not kind.startswith("value_error"):
        message = f"wrong value; allowed: {message[0].lower()}{message[1:]}"
    return Problem(_key(loc), error["input"], message)


def semantic_problems(config: StackConfig) -> list[Problem]:
    """Rules that span several keys: each names the key the user has to change."""
    problems: list[Problem] = []

    def add(key: str, value: Any, message: str) -> None:
        problems.append(Problem(f"{NAMESPACE}:{key}", value, message))

    if config.routing == "gateway-api":
        if config.istio.release[:2] < GATEWAY_API_MIN_ISTIO:
            add(
                "routing",
                config.routing,
                f"Istio {config.istio.version} does not read spec.infrastructure.parametersRef, which carries the "
                f"source-IP path in this mode; allowed: istio.version {GATEWAY_API_MIN_ISTIO[0]}."
                f"{GATEWAY_API_MIN_ISTIO[1]}.0 or newer, or routing: istio",
            )
    if config.gateways is not None and "gateway" in config.model_fields_set:
        add(
            "gateways",
            _MISSING,
            f"is set together with {NAMESPACE}:gateway; allowed: one of the two (gateway for one gateway, gateways for several)",
        )
    if config.gateways == []:
        add("gateways", [], "needs at least one gateway; allowed: a list of gateway objects, or remove the key")
    entries = list(config.gateway_entries())
    seen: dict[str, str] = {}
    for entry in entries:
        _gateway_problems(config, entry, add)
        name = entry.gateway.name
        if name in seen:
            add(
                f"{entry.key}.name",
                name,
                f"is already the name of {seen[name]}: the pod labels (app/istio) derive from the release name, so "
                "each gateway's Istio objects would select the other's pods too; allowed: a name no other gateway has",
            )
        seen.setdefault(name, entry.key)

    gateway_namespaces = {entry.gateway.namespace: f"gateway {entry.gateway.name}" for entry in entries}
    owned = {**gateway_namespaces, ISTIO_NAMESPACE: "Istio"}
    if config.echo.enabled and config.echo.namespace in owned:
        add(
            "echo.namespace",
            config.echo.namespace,
            f"is {owned[config.echo.namespace]}'s namespace; allowed: another namespace, e.g. default",
        )
    if config.platform_entry.pins_nodes and config.metallb.install and config.metallb.namespace in owned:
        add(
            "metallb.namespace",
            config.metallb.namespace,
            f"is {owned[config.metallb.namespace]}'s namespace; allowed: another namespace, e.g. metallb-system",
        )
    if config.platform_entry.pins_nodes:
        _metallb_namespace_problems(config, entries, add)
    _address_clashes(entries, add)
    if config.platform_entry.pins_nodes:
        if not config.metallb.nodes:
            add(
                "metallb.nodes",
                [],
                "needs at least one node name to pin the gateway and the announcements to; "
                "allowed: a list of node names, e.g. [worker-03, worker-04]",
            )
        if config.metallb.install and config.metallb.adopt_l2_advertisement:
            add(
                "metallb.adoptL2Advertisement",
                config.metallb.adopt_l2_advertisement,
                "a fresh MetalLB install has no L2Advertisement to adopt; allowed: unset when metallb.install is true",
            )
        if config.metallb.adopt_l2_advertisement and config.metallb.addresses:
            add(
                "metallb.adoptL2Advertisement",
                config.metallb.adopt_l2_advertisement,
                f"adopting it replaces its whole ipAddressPools list with [{config.metallb.pool}] (MetalLB's CRD list "
                "is atomic under server-side apply), so the pools it announces today would stop being announced; "
                "allowed: unset (the program creates its own advertisement for the new pool), or remove "
                "metallb.addresses to pin an existing pool",
            )
        if config.metallb.install and not config.metallb.addresses:
            add(
                "metallb.addresses",
                [],
                "a fresh MetalLB install has no address pool; allowed: one or more IPs, CIDRs or ranges for the pool",
            )
    elif "metallb" in config.model_fields_set:
        add(
            "metallb",
            config.metallb.model_dump(by_alias=True, exclude_defaults=True),
            f"only used with platform metallb (platform is {config.platform}); allowed: remove the key",
        )
    return problems


def _metallb_namespace_problems(config: StackConfig, entries: list[GatewayEntry], add: Any) -> None:
    """MetalLB's namespace is privileged (its speaker needs host networking) and MetalLB's alone: nothing
    else of the program goes there, and an install gets a namespace of its own, never one every cluster
    has. The program declares the namespaces it places things in (`declared_namespaces`): one that exists
    already stops `pulumi up` at AlreadyExists halfway, or with upsert is adopted and deleted by a destroy."""
    namespace = config.metallb.namespace
    privileged = "MetalLB's namespace (metallb.namespace), where Pod Security is privileged"
    exists = "`pulumi up` would stop at AlreadyExists, or with kubernetes:upsertExistingObjects adopt it"
    if config.metallb.install and namespace in facts.ALWAYS_PRESENT_NAMESPACES:
        add(
            "metallb.namespace",
            namespace,
            "is a namespace every cluster has: a MetalLB install creates its own namespace, labelled "
            f"privileged for the speaker ({exists} and label it privileged); allowed: e.g. metallb-system",
        )
    if config.echo.enabled and config.echo.namespace == namespace:
        add(
            "echo.namespace",
            namespace,
            f"is {privileged}: the echo app would run there without Pod Security limits, and the echo app "
            f"would declare that namespace as its own ({exists}); allowed: another namespace, e.g. default",
        )
    if not config.metallb.install:
        for entry in entries:
            if entry.gateway.namespace == namespace:
                add(
                    f"{entry.key}.namespace",
                    namespace,
                    f"is {privileged}, which exists with MetalLB in it: the program would declare it as "
                    f"gateway {entry.gateway.name}'s own namespace ({exists}, and a destroy would delete "
                    "MetalLB with it); allowed: another namespace, e.g. istio-ingress",
                )


def _address_clashes(entries: list[GatewayEntry], add: Any) -> None:
    """Two gateways asking for the same load-balancer address (or address resource), whatever the
    annotation (a YAML anchor shares one value between gateways): one of them would get none."""
    claimed: dict[tuple[str, str], str] = {}
    for entry in entries:
        own: set[tuple[str, str]] = set()
        for known in facts.FIXED_ADDRESS_ANNOTATIONS:
            value = entry.gateway.service_annotations.get(known.key)
            if value is None:
                continue
            clashed = False
            for item in (part.strip() for part in value.split(",")):
                if not item:
                    continue
                claim = (known.claims, _address_or_name(item) if known.claims == "ip" else item)
                where = f"{entry.key}.serviceAnnotations.{known.key}"
                if claim in claimed and claim not in own:
                    clashed = True
                    add(
                        where,
                        value,
                        f"asks for {_clip(item, 60)}, which {claimed[claim]} asks for too: one "
                        "load-balancer address serves one Service here (both gateways listen on ports 80, "
                        "443 and 15021), so one of the two gateways would get no address; allowed: a "
                        "different address for each gateway",
                    )
                own.add(claim)
                claimed.setdefault(claim, where)
                if clashed:
                    break


def _address_or_name(item: str) -> str:
    """An IP in one spelling (2001:DB8::1 and 2001:db8:0::1 are one address); anything else as written."""
    try:
        return str(ipaddress.ip_address(item))
    except ValueError:
        return item


def _gateway_problems(config: StackConfig, entry: GatewayEntry, add: Any) -> None:
    """The rules of one gateway, named by its own keys (`gateway.*` or `gateways[i].*`)."""
    platform = config.platform_entry
    gateway = entry.gateway
    key = entry.key
    migrating_to_proxy = gateway.proxy_protocol_migration and SourceIpMode.PROXY_PROTOCOL in platform.modes
    if entry.source_ip == "local" and migrating_to_proxy:
        pass  # step 1 of the PROXY-protocol migration: the LB does not send the header yet
    elif entry.source_ip != "auto" and entry.source_ip not in platform.modes:
        why = (
            "cannot send the PROXY header"
            if entry.source_ip == "proxy-protocol"
            else "terminates TCP, so the pod would see the load balancer's address"
        )
        add(
            entry.source_ip_key,
            entry.source_ip,
            f"platform {platform.id} ({platform.lb}) {why}; allowed here: auto, {', '.join(platform.modes)}",
        )
    if gateway.num_trusted_proxies >= 1 and gateway.trusted_hops == "l4":
        add(
            f"{key}.numTrustedProxies",
            gateway.num_trusted_proxies,
            "behind an L4 load balancer any value >= 1 lets a client forge its address with its own "
            f"X-Forwarded-For header; allowed: 0, or set {key}.trustedHops: l7 when that many L7 "
            "proxies/CDNs in front append X-Forwarded-For",
        )
    if gateway.max_replicas is not None and gateway.max_replicas < gateway.replicas:
        add(
            f"{key}.maxReplicas",
            gateway.max_replicas,
            f"is below {key}.replicas ({gateway.replicas}); allowed: >= {gateway.replicas}",
        )
    if gateway.proxy_protocol_migration and SourceIpMode.PROXY_PROTOCOL not in platform.modes:
        add(
            f"{key}.proxyProtocolMigration",
            True,
            f"platform {platform.id} cannot send the PROXY header, there is nothing to migrate; allowed: false",
        )
    pool = config.metallb.pool if config.platform_entry.pins_nodes else None
    program = program_service_annotations(platform, entry.mode, metallb_pool=pool, hairpin_hostname=gateway.hairpin_hostname)
    for annotation, why in service_annotation_problems(platform, entry.mode, program, gateway.service_annotations):
        add(f"{key}.serviceAnnotations.{annotation}", gateway.service_annotations.get(annotation, _MISSING), why)
    if config.platform_entry.pins_nodes and config.metallb.addresses:
        for annotation in METALLB_IPS_ANNOTATIONS:
            if annotation in gateway.service_annotations:
                outside = _outside_pool(gateway.service_annotations[annotation], config.metallb.addresses)
                if outside:
                    add(
                        f"{key}.serviceAnnotations.{annotation}",
                        gateway.service_annotations[annotation],
                        f"{outside} is not in metallb.addresses, so MetalLB would take it from another pool, announced "
                        f"from other nodes; allowed: addresses of {', '.join(config.metallb.addresses)}",
                    )
    if config.allowlist and entry.mode == SourceIpMode.LOCAL and SourceIpMode.LOCAL not in platform.modes:
        add(
            "allowlist",
            config.allowlist,
            f"{platform.id} terminates TCP and does not send the PROXY header yet at this migration step "
            f"({entry.source_ip_key}: local), so gateway {gateway.name} sees the load balancer's address and the "
            "allowlist would block every client; allowed: [] until the step that sets sourceIp: proxy-protocol",
        )
    if (
        config.allowlist
        and gateway.proxy_protocol_migration
        and entry.mode == SourceIpMode.LOCAL
        and set(platform.modes) == {SourceIpMode.LOCAL, SourceIpMode.PROXY_PROTOCOL}
    ):
        add(
            f"{key}.proxyProtocolMigration",
            True,
            f"with {entry.source_ip_key}: {entry.source_ip} the load balancer passes each client's own "
            f"bytes through, and gateway {gateway.name}'s accept-both listener would read a PROXY header "
            "the client wrote itself; the allowlist matches the address in that header (remoteIpBlocks), "
            "so anyone could get in by naming an allowed address; allowed: false (stay on passthrough, "
            "where the allowlist matches the packet source), or allowlist: [] for this migration step",
        )
    if gateway.hairpin_hostname is not None:
        if platform.hairpin_annotation is None or platform.hairpin_value != "hostname":
            able = sorted(p.id for p in PLATFORMS.values() if p.hairpin_value == "hostname" and p.hairpin_annotation)
            add(
                f"{key}.hairpinHostname",
                gateway.hairpin_hostname,
                f"platform {platform.id} has no hostname annotation; allowed on: {', '.join(able)}",
            )
        elif entry.mode != SourceIpMode.PROXY_PROTOCOL:
            add(
                f"{key}.hairpinHostname",
                gateway.hairpin_hostname,
                f"only matters with PROXY protocol; allowed: unset, or {entry.source_ip_key}: proxy-protocol",
            )


def _outside_pool(ips: str, ranges: list[str]) -> str | None:
    """The first of the comma-separated `ips` that lies in none of the pool's ranges."""
    bounds = [parse_address_range(r) for r in ranges]
    for item in (part.strip() for part in ips.split(",") if part.strip()):
        try:
            ip = ipaddress.ip_address(item)
        except ValueError:
            return item
        if not any(span.holds(ip) for span in bounds):
            return item
    return None


def declared_namespaces(config: StackConfig) -> dict[str, str]:
    """Namespace -> what creates it: the Namespace objects the program declares as its own (a destroy
    deletes them). Namespaces every cluster has are never declared."""
    declared: dict[str, str] = {}
    if config.istio.install:
        declared[ISTIO_NAMESPACE] = "the Istio install"
    if config.platform_entry.pins_nodes and config.metallb.install:
        declared[config.metallb.namespace] = "the MetalLB install"
    for entry in config.gateway_entries():
        if entry.gateway.namespace != ISTIO_NAMESPACE:  # the Istio install's, or there already
            declared.setdefault(entry.gateway.namespace, f"gateway {entry.gateway.name}")
    if config.echo.enabled:
        declared.setdefault(config.echo.namespace, "the echo app")
    return {ns: what for ns, what in sorted(declared.items()) if ns not in facts.ALWAYS_PRESENT_NAMESPACES}


def _upsert_problems(config: StackConfig, raw: dict[str, str], environ: dict[str, str]) -> list[Problem]:
    """With upsert on, declaring a namespace that exists already adopts it, and a destroy deletes it with
    everything in it (MetalLB, an Istio the cluster runs, the apps of a shared namespace)."""
    setting = raw.get(facts.KUBERNETES_UPSERT_CONFIG)
    key, value = facts.KUBERNETES_UPSERT_CONFIG, setting
    if setting is None and facts.KUBERNETES_UPSERT_ENV in environ:
        key = f"environment variable {facts.KUBERNETES_UPSERT_ENV}"
        value = environ[facts.KUBERNETES_UPSERT_ENV]
    if value is None or str(value).strip() not in facts.GO_PARSE_BOOL_TRUE:
        return []
    namespaces = declared_namespaces(config)
    if not namespaces:
        return []
    listed = ", ".join(f"{ns} ({what})" for ns, what in namespaces.items())
    return [
        Problem(
            key,
            value,
            "makes `pulumi up` adopt a namespace that exists already instead of stopping at "
            "AlreadyExists, and `pulumi destroy` would then delete it with everything in it; this stack "
            f"declares {listed}; allowed: unset (false), or use namespaces every cluster has for what the "
            "program places",
        )
    ]


def near_miss_namespace_warnings(raw: dict[str, str]) -> list[str]:
    """A warning for each config key whose namespace is almost `istio-source-ip` (case, a character, `_`
    for `-`): Pulumi passes it to the program, which would ignore it silently."""
    warnings = []
    for key in sorted(raw):
        namespace, sep, name = key.partition(":")
        if not sep or namespace == NAMESPACE:
            continue
        folded = re.sub(r"[^a-z0-9]", "", namespace.lower())
        similar = len(namespace) < 2 * len(NAMESPACE) and (
            difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.85
        )
        near = similar or folded == re.sub(r"[^a-z0-9]", "", NAMESPACE)
        if near:
            warnings.append(
                f"config key {_clip(key, _SHOWN_MAX)} is in namespace {_clip(namespace, _SHOWN_MAX)}, "
                f"not {NAMESPACE}: it is ignored; did you mean {NAMESPACE}:{_clip(name, _SHOWN_MAX)}?"
            )
    return warnings


def raw_config_from_runtime() -> dict[str, str]:
    """Every `istio-source-ip:*` key the Pulumi engine passed to this program.

    The language host passes config as the JSON bag PULUMI_CONFIG; the Automation API and the
    mocks set it in-process. Listing all keys (not just the known ones) is what lets a typo be
    reported instead of silently ignored.
    """
    return {key: value for key, value in _runtime_config().items() if _ours(key)}


def _runtime_config() -> dict[str, str]:
    """Every config key of every namespace the engine passed (near-miss namespaces, provider settings)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def load_stack_config() -> StackConfig:
    """The validated config of the running stack (raises ConfigError before any resource). Keys in a
    namespace that is almost ours are warned about by name first."""
    raw = _runtime_config()
    for warning in near_miss_namespace_warnings(raw):
        pulumi.log.warn(warning)
    return parse_config(raw, dict(os.environ))
