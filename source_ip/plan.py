"""The source-IP decisions for one gateway, as pure functions: no resources, no config parsing.

`IngressGateway` calls them with its typed inputs, the config validation calls them to explain a
refusal, and the tests check them without a cluster. The invariants they keep:
- the LB sends the PROXY header  <=>  the gateway parses it (strict `gatewayTopology.proxyProtocol`,
  or the permissive listener filter while migrating) — never one without the other;
- passthrough (`local`)  =>  `externalTrafficPolicy: Local`;
- the allowlist matches `ipBlocks` only when the packet source *is* the client.
"""

from enum import StrEnum
from typing import TypedDict

import pulumi

from source_ip.facts import (
    ALL_PROXY_SWITCHES,
    LB_SENDS_PROXY_PROTOCOL_ANNOTATION,
    METALLB_POOL_ANNOTATIONS,
    Platform,
    ProxySwitch,
    SourceIpMode,
)


class ProxyProtocolListener(StrEnum):
    """How the gateway's listeners treat the PROXY header."""

    STRICT = "strict"
    """`gatewayTopology.proxyProtocol`: every connection must start with the header."""
    ACCEPT_BOTH = "accept-both"
    """A permissive listener filter (EnvoyFilter): with or without the header, while the LB is switched."""
    OFF = "off"
    """No PROXY protocol: the packet source is the client (passthrough)."""


class TrustedHops(StrEnum):
    """What stands in front of the gateway."""

    L4 = "l4"
    """Load balancers only: X-Forwarded-For from the client is never trusted."""
    L7 = "l7"
    """`numTrustedProxies` L7 proxies/CDNs append X-Forwarded-For."""


class ClientAddressSource(StrEnum):
    """Where the gateway learns the client address from."""

    PACKET = "packet"
    PROXY_PROTOCOL = "proxy-protocol"
    X_FORWARDED_FOR = "x-forwarded-for"


def proxy_protocol_listener(mode: SourceIpMode, migrating: bool) -> ProxyProtocolListener:
    """The listener a gateway needs for `mode`; while migrating it accepts both."""
    if migrating:
        return ProxyProtocolListener.ACCEPT_BOTH
    return ProxyProtocolListener.STRICT if mode == SourceIpMode.PROXY_PROTOCOL else ProxyProtocolListener.OFF


def pairing_problem(mode: SourceIpMode, listener: ProxyProtocolListener) -> str | None:
    """Why a mode/listener pair would break every connection, or None when they fit."""
    if mode == SourceIpMode.PROXY_PROTOCOL and listener == ProxyProtocolListener.OFF:
        return "the LB sends the PROXY header but the gateway would not parse it; use listener strict or accept-both"
    if mode == SourceIpMode.LOCAL and listener == ProxyProtocolListener.STRICT:
        return "the gateway would require a PROXY header the LB does not send; use listener off or accept-both"
    return None


def client_address_source(listener: ProxyProtocolListener, num_trusted_proxies: int) -> ClientAddressSource:
    if num_trusted_proxies >= 1:
        return ClientAddressSource.X_FORWARDED_FOR
    if listener == ProxyProtocolListener.OFF:
        return ClientAddressSource.PACKET
    return ClientAddressSource.PROXY_PROTOCOL


class AllowlistField(StrEnum):
    """The AuthorizationPolicy source field that matches the client address."""

    IP_BLOCKS = "ipBlocks"
    """The packet source (passthrough, ETP Local)."""
    REMOTE_IP_BLOCKS = "remoteIpBlocks"
    """The address recovered from the PROXY header or X-Forwarded-For."""


def allowlist_field(source: ClientAddressSource) -> AllowlistField:
    """`ipBlocks` matches the packet source; `remoteIpBlocks` the address recovered from the PROXY
    header or X-Forwarded-For. Behind PROXY protocol `ipBlocks` would match the LB."""
    return AllowlistField.IP_BLOCKS if source == ClientAddressSource.PACKET else AllowlistField.REMOTE_IP_BLOCKS


class GatewayRef(TypedDict):
    """Which ingress gateway Istio objects attach to."""

    name: str
    """The gateway's name: the istio/gateway release, or the Gateway API Gateway."""
    namespace: pulumi.Input[str]
    """The gateway's namespace; policies that select its pods live there."""
    labels: dict[str, str]
    """The labels on the gateway's pods (what an Istio Gateway or a workload selector selects)."""


def program_service_annotations(
    platform: Platform, mode: SourceIpMode, *, metallb_pool: str | None = None, hairpin_hostname: str | None = None
) -> dict[str, str]:
    """The Service annotations the program sets for `mode`: the platform's, the MetalLB pool, the
    hairpin hostname, and on a platform without known PROXY annotations the declaration marker."""
    annotations = platform.annotations_for(mode)
    if metallb_pool is not None:
        annotations[METALLB_POOL_ANNOTATIONS[0]] = metallb_pool
    sends_proxy = mode == SourceIpMode.PROXY_PROTOCOL
    if sends_proxy and not platform.proxy_switches:
        annotations[LB_SENDS_PROXY_PROTOCOL_ANNOTATION] = "true"
    hairpin = platform.hairpin_annotation
    if hairpin and sends_proxy and (hairpin_hostname or platform.hairpin_value == "true"):
        annotations[hairpin] = hairpin_hostname or "true"
    return annotations


def service_annotation_problems(
    platform: Platform, mode: SourceIpMode, program: dict[str, str], user: dict[str, str]
) -> list[tuple[str, str]]:
    """(annotation key, why) for each user annotation that would break this gateway's client-IP path
    on the final Service (the program's annotations with the user's on top)."""
    problems: list[tuple[str, str]] = []
    final = {**program, **user}
    own = {switch.key for switch in platform.proxy_switches}
    for key, value in sorted(user.items()):
        switch = ALL_PROXY_SWITCHES.get(key)
        if key == LB_SENDS_PROXY_PROTOCOL_ANNOTATION or key in METALLB_POOL_ANNOTATIONS:
            problems.append(
                (
                    key,
                    "is set by the program itself; allowed: remove it"
                    + (" (the pool is metallb.pool)" if key in METALLB_POOL_ANNOTATIONS else ""),
                )
            )
            continue
        if switch is not None and (key in own or switch.reads(value) == "on"):
            problem = _switch_problem(switch, value, mode)
            if problem or switch.attribute is None:  # a plain switch is judged by its reading alone
                problems.extend([(key, problem)] if problem else [])
                continue
        if key in program and value != program[key] and not _keeps_attributes(program[key], value):
            problems.append(
                (
                    key,
                    f"replaces {program[key]!r}, which the {mode} path on {platform.id} needs; allowed: "
                    f"{program[key]!r}" + (" with attributes added" if "=" in program[key] else "") + ", or remove it",
                )
            )
    if (
        mode == SourceIpMode.PROXY_PROTOCOL
        and own
        and not any(final.get(s.key) is not None and s.reads(final[s.key]) == "on" for s in platform.proxy_switches)
    ):
        problems.append((platform.proxy_switches[0].key, "nothing makes the LB send the PROXY header"))
    if platform.required_one_of and not any(final.get(key) for key in platform.required_one_of):
        problems.append(
            (
                platform.required_one_of[0],
                f"{platform.id} creates no load balancer without one of "
                f"{', '.join(platform.required_one_of)}; allowed: e.g. {platform.required_one_of[0]}: <value>",
            )
        )
    return problems


def _switch_problem(switch: ProxySwitch, value: str, mode: SourceIpMode) -> str | None:
    reading = switch.reads(value)
    allowed_on = ", ".join(repr(v) for v in switch.on) or "nothing: the program sets PROXY protocol itself"
    allowed_off = ", ".join(repr(v) for v in switch.off) or "leaving it unset"
    if mode == SourceIpMode.PROXY_PROTOCOL and reading != "on":
        return (
            f"would make the LB send no PROXY header (or send it on some ports only) while the gateway requires it, "
            f"so every connection would fail; allowed: {allowed_on}"
        )
    if mode == SourceIpMode.LOCAL and reading != "off":
        return (
            f"would make the LB send a PROXY header the gateway does not parse (passthrough), so every request "
            f"would be garbled; allowed: {allowed_off}"
        )
    return None


def _keeps_attributes(program_value: str, user_value: str) -> bool:
    """For attribute lists (a=b,c=d), the user's value may add attributes but keep the program's."""
    if "=" not in program_value:
        return False

    def pairs(value: str) -> set[tuple[str, str]]:
        return {(k.strip(), v.strip()) for k, _, v in (item.partition("=") for item in value.split(",")) if k.strip()}

    return pairs(program_value) <= pairs(user_value)
