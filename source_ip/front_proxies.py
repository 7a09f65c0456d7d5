"""Front proxies (CDNs) a gateway can sit behind, as data: which header carries the client address and why,
where each publishes its egress ranges, and the ranges last read, each with its source and date.

The ranges live in front_proxy_ranges.json beside this file; `python -m tools.front_proxy_ranges --write`
rewrites it from the published lists. A profile whose ranges could not be read ships empty, and
`trusted_ranges` refuses it: an empty trust list would either deny every request (outage) or, if a caller
treated it as "no restriction", let anyone forge the client address (bypass).

What the gateway does with a profile (source_ip/gateway.py): it trusts one X-Forwarded-For hop
(gatewayTopology.numTrustedProxies: 1), and a DENY AuthorizationPolicy refuses every direct peer outside
the profile's ranges. See docs/front-proxy.md for the sources of every statement here.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from source_ip.addresses import share_of_family

Family = Literal[4, 6]
ListFormat = Literal["lines", "aws-ip-ranges", "fastly-json"]
Detection = Literal["xff-last-hop", "refused"]

RANGES_FILE = Path(__file__).with_name("front_proxy_ranges.json")
REFRESH_COMMAND = "python -m tools.front_proxy_ranges --write"
FRONT_PROXY_ANNOTATION = "istio-source-ip.io/front-proxy"
"""Pod annotation (the profile id) on a gateway behind a front proxy: the policy pack reads it to demand the
direct-peer guard and to refuse an allowlist on `ipBlocks` (which would match the proxy, not the client)."""
GUARD_POLICY_SUFFIX = "-front-proxy-guard"
"""The DENY AuthorizationPolicy of gateway G is named G + this."""

MIN_PREFIX: dict[Family, int] = {4: 8, 6: 16}
"""Broadest egress range accepted from a published list. The broadest read here is Cloudflare's /12 (IPv4,
in an older copy) and /29 (IPv6); anything wider is a garbled or hostile answer, not a CDN's egress."""


class FrontProxyDataError(ValueError):
    """The ranges file, or an answer from a published list, is not a list of public egress ranges."""


class EmptyProfileError(LookupError):
    """The profile's egress ranges were never read; using it would trust nobody or everybody."""


@dataclass(frozen=True)
class PublishedList:
    """One list a provider publishes of the addresses its proxies connect from."""

    id: str
    """What `--source-url ID=URL` calls it."""
    url: str
    format: ListFormat
    families: tuple[Family, ...]
    """The address families this list yields; each must come back non-empty."""
    service: str | None = None
    """aws-ip-ranges only: the `service` whose prefixes are the egress ranges."""


@dataclass(frozen=True)
class ClientAddress:
    """How the proxy hands the client address to the origin, and how the gateway reads it."""

    header: str
    """The header the gateway reads: X-Forwarded-For, whose last entry the proxy appended."""
    detection: Detection
    """xff-last-hop: the proxy appends the address that connected to it as the last X-Forwarded-For entry,
    so one trusted hop (Envoy's use_remote_address with xff_num_trusted_hops 1) yields it.
    refused: the proxy does not append on every request; the program refuses the profile (`why`)."""
    why: str
    caveat: str
    source: str


@dataclass(frozen=True)
class FrontProxyProfile:
    id: str
    name: str
    client_address: ClientAddress
    lists: tuple[PublishedList, ...]
    docs: tuple[str, ...]


@dataclass(frozen=True)
class RangeSnapshot:
    """The egress ranges of one profile as last read, with the date of the copy and where it was read."""

    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    read_on: str | None
    source: str

    @property
    def empty(self) -> bool:
        return not self.ipv4 and not self.ipv6

    @property
    def cidrs(self) -> tuple[str, ...]:
        return self.ipv4 + self.ipv6


PROFILES: dict[str, FrontProxyProfile] = {
    "cloudflare": FrontProxyProfile(
        id="cloudflare",
        name="Cloudflare",
        client_address=ClientAddress(
            header="X-Forwarded-For",
            detection="xff-last-hop",
            why=(
                "Cloudflare sends X-Forwarded-For equal to CF-Connecting-IP when the request had none, and "
                "otherwise appends the address of the proxy connecting to Cloudflare: the last entry is the "
                "address that connected to Cloudflare. CF-Connecting-IP itself would need Envoy's "
                "custom_header extension, which Istio 1.30 gateways cannot use (docs/front-proxy.md)."
            ),
            caveat=(
                "Cloudflare's 'Remove visitor IP headers' managed transform drops X-Forwarded-For: the "
                "gateway then sees the Cloudflare edge as the client. Only safe with the direct-peer guard."
            ),
            source=(
                "https://developers.cloudflare.com/fundamentals/reference/http-headers/ "
                "(X-Forwarded-For, CF-Connecting-IP)"
            ),
        ),
        lists=(
            PublishedList("cloudflare-v4", "https://www.cloudflare.com/ips-v4", "lines", (4,)),
            PublishedList("cloudflare-v6", "https://www.cloudflare.com/ips-v6", "lines", (6,)),
        ),
        docs=(
            "https://developers.cloudflare.com/fundamentals/get-started/concepts/cloudflare-ip-addresses/",
        ),
    ),
    "cloudfront": FrontProxyProfile(
        id="cloudfront",
        name="Amazon CloudFront",
        client_address=ClientAddress(
            header="X-Forwarded-For",
            detection="xff-last-hop",
            why=(
                "CloudFront appends the viewer address to X-Forwarded-For (AWS re:Post; not read in the AWS "
                "developer guide). CloudFront-Viewer-Address exists only when an origin request policy adds "
                "it, carries address:port, and would need Envoy's custom_header extension."
            ),
            caveat=(
                "Trust only CloudFront's origin-facing ranges (not the CLOUDFRONT service, which lists "
                "viewer-facing edge addresses too). With Origin Shield a second CloudFront hop may append "
                "the edge's address (not read here): the gateway would then see an edge as the client."
            ),
            source=(
                "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/"
                "using-cloudfront-headers.html; https://docs.aws.amazon.com/AmazonCloudFront/latest/"
                "DeveloperGuide/LocationsOfEdgeServers.html; "
                "https://repost.aws/articles/AR-VvhzdKVRgOIYl4SJMTcHg"
            ),
        ),
        lists=(
            PublishedList(
                "cloudfront",
                "https://ip-ranges.amazonaws.com/ip-ranges.json",
                "aws-ip-ranges",
                (4, 6),
                service="CLOUDFRONT_ORIGIN_FACING",
            ),
        ),
        docs=(
            "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/LocationsOfEdgeServers.html",
        ),
    ),
    "fastly": FrontProxyProfile(
        id="fastly",
        name="Fastly",
        client_address=ClientAddress(
            header="Fastly-Client-IP",
            detection="refused",
            why=(
                "Fastly adds to X-Forwarded-For only on TLS client connections, so for a plain-HTTP client "
                "the last entry is whatever the client wrote (a forged address behind one trusted hop), and "
                "Fastly-Client-IP would need Envoy's custom_header extension, which Istio 1.30 gateways "
                "cannot use, and is itself forgeable unless the service's VCL sets it"
            ),
            caveat=(
                "Fastly documents that Fastly-Client-IP is not protected: a client that sends it is believed "
                "unless the service's VCL sets it on the first visit "
                "(set req.http.Fastly-Client-IP = client.ip)."
            ),
            source=(
                "https://fastly.com/documentation/reference/http/http-headers/Fastly-Client-IP; "
                "https://fastly.com/documentation/reference/http/http-headers/X-Forwarded-For"
            ),
        ),
        lists=(PublishedList("fastly", "https://api.fastly.com/public-ip-list", "fastly-json", (4, 6)),),
        docs=("https://docs.rs/crate/fastly-api/latest/source/docs/PublicIpListApi.md",),
    ),
}
"""The profiles. A gateway behind one reads the last X-Forwarded-For entry (one trusted hop) and refuses
every direct peer outside its ranges; a profile whose proxy does not append on every request is refused."""


def check_cidrs(values: object, family: Family, where: str) -> tuple[str, ...]:
    """The values as canonical CIDR strings, or FrontProxyDataError naming the first bad one. Refused: not a
    list of strings, not a network of `family`, host bits set, broader than MIN_PREFIX, or not globally
    routable (private, loopback, link-local, reserved): no CDN egresses from those, and trusting them
    would let anyone on the inside forge the client address."""
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise FrontProxyDataError(f"{where}: expected a list of CIDR strings, got {_short(values)}")
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=True)
        except ValueError as error:
            raise FrontProxyDataError(f"{where}: {value!r} is not a CIDR range ({error})") from None
        if network.version != family:
            raise FrontProxyDataError(f"{where}: {value!r} is IPv{network.version} in the IPv{family} list")
        if network.prefixlen < MIN_PREFIX[family]:
            raise FrontProxyDataError(
                f"{where}: {value!r} is broader than /{MIN_PREFIX[family]}; no CDN egresses from that"
            )
        if not network.is_global:
            raise FrontProxyDataError(f"{where}: {value!r} is not a public range; no CDN egresses from it")
        networks.append(network)
    ordered = sorted(set(networks), key=lambda network: (network.network_address, network.prefixlen))
    return tuple(str(network) for network in ordered)


def json_object(text: str, where: str, expected: str = "a JSON object") -> dict[str, object]:
    """`text` as a JSON object; FrontProxyDataError naming `where` otherwise."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise FrontProxyDataError(f"{where}: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise FrontProxyDataError(f"{where}: expected {expected}")
    return document


def parse_snapshots(text: str, where: str) -> dict[str, RangeSnapshot]:
    """The ranges file's text as one snapshot per profile in PROFILES."""
    document = json_object(text, where, "an object with one entry per profile")
    snapshots: dict[str, RangeSnapshot] = {}
    for profile_id in PROFILES:
        entry = document.get(profile_id)
        if not isinstance(entry, dict):
            raise FrontProxyDataError(f"{where}: no entry for profile {profile_id}")
        read_on, source = entry.get("read_on"), entry.get("source")
        if read_on is not None and not isinstance(read_on, str):
            raise FrontProxyDataError(f"{where}: {profile_id}.read_on must be a date string or null")
        if not isinstance(source, str) or not source:
            raise FrontProxyDataError(f"{where}: {profile_id}.source must say where the ranges were read")
        snapshot = RangeSnapshot(
            ipv4=check_cidrs(entry.get("ipv4"), 4, f"{where}: {profile_id}.ipv4"),
            ipv6=check_cidrs(entry.get("ipv6"), 6, f"{where}: {profile_id}.ipv6"),
            read_on=read_on,
            source=source,
        )
        if not snapshot.empty and read_on is None:
            raise FrontProxyDataError(f"{where}: {profile_id} has ranges but no read_on date")
        snapshots[profile_id] = snapshot
    return snapshots


def snapshots_json(snapshots: dict[str, RangeSnapshot]) -> str:
    """The ranges file's text for these snapshots (what --write puts on disk)."""
    document: dict[str, object] = {
        "_comment": f"Rewritten by `{REFRESH_COMMAND}`. Edit by hand only to record a copy you read."
    }
    for profile_id, snapshot in snapshots.items():
        document[profile_id] = {
            "ipv4": list(snapshot.ipv4),
            "ipv6": list(snapshot.ipv6),
            "read_on": snapshot.read_on,
            "source": snapshot.source,
        }
    return json.dumps(document, indent=2) + "\n"


def load_snapshots(path: Path = RANGES_FILE) -> dict[str, RangeSnapshot]:
    return parse_snapshots(path.read_text(encoding="utf-8"), str(path))


@functools.cache
def _shipped() -> dict[str, RangeSnapshot]:
    return load_snapshots()


def trusted_ranges(profile_id: str, snapshots: dict[str, RangeSnapshot] | None = None) -> RangeSnapshot:
    """The egress ranges a gateway behind this profile trusts. Raises EmptyProfileError for a profile whose
    ranges were never read, and LookupError for an unknown profile."""
    if profile_id not in PROFILES:
        raise LookupError(f"frontProxy.profile: {profile_id!r} is not one of {', '.join(PROFILES)}, custom")
    snapshot = (snapshots if snapshots is not None else _shipped())[profile_id]
    if snapshot.empty:
        raise EmptyProfileError(
            f"frontProxy.profile: {profile_id} has no egress ranges yet ({snapshot.source}). Run "
            f"`{REFRESH_COMMAND} --profile {profile_id}` where the network is reachable, review the diff, "
            "and commit source_ip/front_proxy_ranges.json."
        )
    return snapshot


CUSTOM = "custom"
PROFILE_IDS = (*PROFILES, CUSTOM)

HEADER_REFUSAL = (
    "cannot be honoured on Istio 1.30: reading a header such as CF-Connecting-IP takes Envoy's "
    "original_ip_detection_extensions, which Envoy refuses together with use_remote_address: true, and "
    "istiod sets use_remote_address: true on every gateway, which an EnvoyFilter MERGE cannot turn off "
    "(istio#18169): "
    "the listener would be rejected, an outage; allowed: unset (the gateway reads the last X-Forwarded-For "
    "entry, which the proxy must append)"
)
PROXY_PROTOCOL_REFUSAL = (
    "needs the front proxy to be the gateway's direct peer (sourceIp: local, passthrough): the guard matches "
    "ipBlocks, which Envoy fills from the physical peer (RBAC direct_remote_ip), so behind PROXY protocol it "
    "would see the load balancer and deny every request, and no AuthorizationPolicy field sees the PROXY "
    "header's address once one X-Forwarded-For hop is trusted"
)


def front_proxy_problems(
    profile: str,
    cidrs: list[str] | tuple[str, ...],
    header: str | None,
    snapshots: dict[str, RangeSnapshot] | None = None,
) -> list[tuple[str, object, str]]:
    """What is wrong with a frontProxy, as (sub-key, value, message); empty when the gateway can use it."""
    if profile not in PROFILE_IDS:
        return [("profile", profile, f"is not a known front proxy; allowed: {', '.join(PROFILE_IDS)}")]
    problems: list[tuple[str, object, str]] = []
    if header is not None:
        problems.append(("header", header, HEADER_REFUSAL))
    if profile == CUSTOM:
        everyone = admits_everyone(cidrs)
        if everyone:
            problems.append(
                (
                    "cidrs",
                    list(cidrs),
                    f"together cover half of all {everyone} addresses or more, so the guard would serve "
                    "nearly any direct peer and nearly any client could write its own X-Forwarded-For entry; "
                    "allowed: your proxy's egress ranges only, e.g. [198.51.100.0/24]",
                )
            )
        if not cidrs:
            problems.append(
                (
                    "cidrs",
                    list(cidrs),
                    "is required with profile custom: the egress ranges of your proxy, the only direct "
                    "peers the gateway serves; allowed: one or more public CIDRs, e.g. [198.51.100.0/24]",
                )
            )
        return problems
    if cidrs:
        problems.append(
            (
                "cidrs",
                list(cidrs),
                f"is only read with profile custom; profile {profile} takes its ranges from "
                "source_ip/front_proxy_ranges.json; allowed: remove the key, or profile: custom",
            )
        )
    client = PROFILES[profile].client_address
    if client.detection == "refused":
        problems.append(("profile", profile, f"{client.why}; allowed: cloudflare, cloudfront, or custom"))
        return problems
    try:
        trusted_ranges(profile, snapshots)
    except EmptyProfileError as error:
        problems.append(("profile", profile, str(error).removeprefix("frontProxy.profile: ")))
    return problems


def admits_everyone(cidrs: list[str] | tuple[str, ...]) -> str | None:
    """`IPv4` or `IPv6` when the ranges together cover half that family or more: no proxy's egress is
    that wide, and behind such a "proxy" nearly any client is a direct peer the guard serves, free to write
    its own X-Forwarded-For entry. (All but 0.0.0.0/8, which no client connects from, is the whole of
    IPv4 in practice.)"""
    wide = [version for version, share in share_of_family(cidrs).items() if share >= 0.5]
    return f"IPv{min(wide)}" if wide else None


def proxy_cidrs(profile: str, cidrs: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The direct peers a gateway behind this proxy serves: the profile's ranges, or a custom proxy's own."""
    if profile == CUSTOM:
        return tuple(cidrs)
    return trusted_ranges(profile).cidrs


def guard_policy_spec(attach: dict[str, object], cidrs: tuple[str, ...]) -> dict[str, object]:
    """The direct-peer guard: DENY every request whose direct peer (`notIpBlocks`, Envoy's RBAC
    direct_remote_ip: the packet source) is outside the proxy's ranges. A DENY, because ALLOW policies
    are OR-ed and are evaluated after every DENY: an allowlist cannot reopen the bypass."""
    return {**attach, "action": "DENY", "rules": [{"from": [{"source": {"notIpBlocks": list(cidrs)}}]}]}


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
