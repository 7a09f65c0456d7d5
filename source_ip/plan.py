"""The source-IP decisions for one gateway, as pure functions: no resources, no config parsing.

The gateway model (`gateway.py`) decides with them, the config validation calls them to explain a
refusal, and the tests check them without a cluster. The invariants they keep:
- the LB sends the PROXY header  <=>  the gateway parses it (strict `gatewayTopology.proxyProtocol`,
  or the permissive listener filter while migrating) — never one without the other;
- passthrough (`local`)  =>  `externalTrafficPolicy: Local`;
- the allowlist matches `ipBlocks` only when the packet source *is* the client.
"""

import re
from enum import StrEnum
from typing import TypedDict

import pulumi

from source_ip.facts import (
    ALL_PROXY_SWITCHES,
    LB_SENDS_PROXY_PROTOCOL_ANNOTATION,
    METALLB_POOL_ANNOTATIONS,
    PLATFORMS,
    Platform,
    ProxySwitch,
    SourceIpMode,
    aws_attribute_pairs,
    proxy_switch_for,
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
        return (
            "the LB sends the PROXY header but the gateway would not parse it; use listener strict or "
            "accept-both"
        )
    if mode == SourceIpMode.LOCAL and listener == ProxyProtocolListener.STRICT:
        return (
            "the gateway would require a PROXY header the LB does not send; use listener off or accept-both"
        )
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
    return (
        AllowlistField.IP_BLOCKS if source == ClientAddressSource.PACKET else AllowlistField.REMOTE_IP_BLOCKS
    )


class GatewayRef(TypedDict):
    """Which ingress gateway Istio objects attach to."""

    name: str
    """The gateway's name: the istio/gateway release, or the Gateway API Gateway."""
    namespace: pulumi.Input[str]
    """The gateway's namespace; policies that select its pods live there."""
    labels: dict[str, str]
    """The labels on the gateway's pods (what an Istio Gateway or a workload selector selects)."""


def program_service_annotations(
    platform: Platform,
    mode: SourceIpMode,
    *,
    metallb_pool: str | None = None,
    hairpin_hostname: str | None = None,
) -> dict[str, str]:
    """The Service annotations the program sets for `mode`: the platform's, the MetalLB pool, the
    hairpin hostname, on a platform without known PROXY annotations the declaration marker, and with
    PROXY protocol the one that asks for `ipMode: Proxy` where the platform has one."""
    annotations = platform.annotations_for(mode)
    if metallb_pool is not None:
        annotations[METALLB_POOL_ANNOTATIONS[0]] = metallb_pool
    sends_proxy = mode == SourceIpMode.PROXY_PROTOCOL
    if sends_proxy and not platform.proxy_switches:
        annotations[LB_SENDS_PROXY_PROTOCOL_ANNOTATION] = "true"
    hairpin = platform.hairpin_annotation
    if hairpin and sends_proxy and (hairpin_hostname or platform.hairpin_value == "true"):
        annotations[hairpin] = hairpin_hostname or "true"
    return {**annotations, **platform.ip_mode_annotations(mode)}


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_ANNOTATION_PREFIX = re.compile(rf"{_DNS_LABEL}(\.{_DNS_LABEL})*")
_ANNOTATION_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def is_qualified_name(key: str) -> bool:
    """Kubernetes' rule for annotation and label keys (apimachinery validation IsQualifiedName): an
    optional DNS-1123 subdomain prefix of at most 253 characters and '/', then a name of at most 63
    alphanumerics, '-', '_' or '.', alphanumeric at both ends."""
    prefix, slash, name = key.rpartition("/")
    return (
        not (slash and not (len(prefix) <= 253 and _ANNOTATION_PREFIX.fullmatch(prefix)))
        and len(name) <= 63
        and _ANNOTATION_NAME.fullmatch(name) is not None
    )


def annotation_key_problem(key: str) -> str | None:
    """Why Kubernetes rejects `key` as an annotation key (`is_qualified_name`), or None."""
    if not is_qualified_name(key):
        stripped = "".join(key.split())
        hint = (
            f"; did you mean {stripped!r}?"
            if stripped != key and annotation_key_problem(stripped) is None
            else ""
        )
        return (
            f"is not a valid annotation key ({key!r}), so the API server would refuse the Service; "
            "allowed: an optional DNS subdomain prefix and '/', then a name of at most 63 letters, digits, "
            f"'-', '_' or '.' that starts and ends with a letter or digit{hint}"
        )
    return None


def service_annotation_problems(
    platform: Platform, mode: SourceIpMode, program: dict[str, str], user: dict[str, str]
) -> list[tuple[str, str]]:
    """(annotation key, why) for each user annotation that would break this gateway's client-IP path
    on the final Service (the program's annotations with the user's on top)."""
    problems: list[tuple[str, str]] = []
    final = {**program, **user}
    for key, value in sorted(user.items()):
        if key == LB_SENDS_PROXY_PROTOCOL_ANNOTATION or key in METALLB_POOL_ANNOTATIONS:
            problems.append(
                (
                    key,
                    "is set by the program itself; allowed: remove it"
                    + (" (the pool is metallb.pool)" if key in METALLB_POOL_ANNOTATIONS else ""),
                )
            )
            continue
        problem = annotation_key_problem(key)
        if problem is None and key in platform.refused_annotations:
            problem = platform.refused_annotations[key]
        if problem is None:
            problem = _user_switch_problem(platform, mode, program, key, value)
        switch = proxy_switch_for(key)
        judged_by_reading = switch is not None and switch.attribute is None and not switch.per_port
        if (
            problem is None
            and not (judged_by_reading and _user_switch_applies(platform, switch, value))
            and key in program
            and value != program[key]
            and not _keeps_attributes(program[key], value)
        ):
            problem = (
                f"replaces {program[key]!r}, which the {mode} path on {platform.id} needs; allowed: "
                f"{program[key]!r}"
                + (" with attributes added" if "=" in program[key] else "")
                + ", or remove it"
            )
        if problem is not None:
            problems.append((key, problem))
    problems += _exclusive_switch_problems(platform, final, user, {key for key, _ in problems})
    main_switches = platform.main_switches
    if (
        mode == SourceIpMode.PROXY_PROTOCOL
        and main_switches
        and not any(final.get(s.key) is not None and s.reads(final[s.key]) == "on" for s in main_switches)
    ):
        problems.append((main_switches[0].key, "nothing makes the LB send the PROXY header"))
    if platform.required_one_of and not any(final.get(key) for key in platform.required_one_of):
        problems.append(
            (
                platform.required_one_of[0],
                f"{platform.id} creates no load balancer without one of "
                f"{', '.join(platform.required_one_of)}; allowed: e.g. "
                f"{platform.required_one_of[0]}: <value>",
            )
        )
    return problems


def _user_switch_problem(
    platform: Platform, mode: SourceIpMode, program: dict[str, str], key: str, value: str
) -> str | None:
    """Why the user's value of a PROXY switch breaks the path, or None (also for no switch at all)."""
    switch = proxy_switch_for(key)
    if switch is None or not _user_switch_applies(platform, switch, value):
        return None
    own = switch in platform.proxy_switches
    if own and switch.fallback:
        current = platform.main_switches[0].key
        how = (
            f"which the controller reads first and the program sets itself for the {mode} path"
            if current in program
            else f"which the program manages itself (it leaves it unset for the {mode} path)"
        )
        return f"is the deprecated form of {current}, {how}; allowed: remove it"
    if own and (structure := switch.attribute_problem(value)):
        return f"{structure}; allowed: each attribute once, as attribute=value pairs separated by commas"
    if switch.per_port and not own:
        opposite = "off" if mode == SourceIpMode.PROXY_PROTOCOL else "on"
        if switch.reads(value) != opposite:
            return None
        owner = next(p.id for p in PLATFORMS.values() if switch in p.proxy_switches)
        return (
            f"is {owner}'s per-port PROXY setting, which turns PROXY {switch.reads(value)} for port "
            f"{switch.annotation_port(key)} there, against this gateway's {mode} path (the policy pack "
            "reads it on any platform); allowed: remove it"
        )
    if switch.per_port:
        return _per_port_problem(switch, mode, program, key, value)
    if own and mode == SourceIpMode.PROXY_PROTOCOL and key not in program and switch.reads(value) == "off":
        return None  # another switch of the platform, off: the one the program sets still turns PROXY on
    return _switch_problem(switch, value, mode)


def _user_switch_applies(platform: Platform, switch: ProxySwitch | None, value: str) -> bool:
    """A switch of this platform, or another platform's that turns PROXY on, or off for one port (this
    platform's controller ignores it, but the policy pack, which knows no platform, reads it as it reads
    every switch)."""
    if switch is None:
        return False
    reading = switch.reads(value)
    return switch in platform.proxy_switches or reading == "on" or (switch.per_port and reading == "off")


def _per_port_problem(
    switch: ProxySwitch, mode: SourceIpMode, program: dict[str, str], key: str, value: str
) -> str | None:
    port = switch.annotation_port(key)
    field = switch.attribute or switch.json_field
    reading = switch.reads(value)
    if reading == "other":
        allowed = " or ".join(repr(v) for v in (switch.off if mode == SourceIpMode.LOCAL else switch.on))
        return (
            f"sets {field} for port {port} to something the controller cannot read as PROXY on or off, "
            f"so that port could break while the others work; allowed: {field} left out, or {allowed}"
        )
    wanted = "on" if mode == SourceIpMode.PROXY_PROTOCOL else "off"
    if reading not in ("unset", wanted):
        return (
            f"turns PROXY protocol {reading} for port {port} alone, against this gateway's {mode} path, "
            f"so connections on that port would fail; allowed: {field} left out (the platform-wide "
            f"setting applies), or {' or '.join(repr(v) for v in getattr(switch, wanted))}"
        )
    base = program.get(switch.port_of) if switch.port_of else None
    pairs = dict(aws_attribute_pairs(value) or []) if switch.attribute else {}
    for attribute, needed in dict(aws_attribute_pairs(base) or []).items() if base else ():
        if pairs.get(attribute, "") not in ("", needed):
            return (
                f"sets {attribute}={pairs[attribute]} for port {port}, overriding {attribute}={needed} from "
                f"{switch.port_of}, which the {mode} path needs; allowed: {attribute} left out or ={needed}"
            )
    return None


def _exclusive_switch_problems(
    platform: Platform, final: dict[str, str], user: dict[str, str], refused: set[str]
) -> list[tuple[str, str]]:
    """Two switches the controller refuses together (Scaleway: PROXY v1 and v2 on one port)."""
    set_ = [
        k
        for k in platform.exclusive_switches
        if k in final and ALL_PROXY_SWITCHES[k].reads(final[k]) != "off"
    ]
    if len(set_) < 2 or refused & set(set_):
        return []
    key = next((k for k in reversed(set_) if k in user), set_[-1])
    others = ", ".join(k for k in set_ if k != key)
    return [
        (
            key,
            f"covers ports that {others} also covers; the controller refuses a port with two PROXY "
            "versions and then neither creates nor updates the load balancer; allowed: leave it out, "
            "or one of "
            f"{', '.join(repr(v) for v in ALL_PROXY_SWITCHES[key].off)}",
        )
    ]


def _switch_problem(switch: ProxySwitch, value: str, mode: SourceIpMode) -> str | None:
    reading = switch.reads(value)
    allowed_on = ", ".join(repr(v) for v in switch.on) or "nothing: the program sets PROXY protocol itself"
    allowed_off = ", ".join(repr(v) for v in switch.off) or "leaving it unset"
    if mode == SourceIpMode.PROXY_PROTOCOL and reading != "on":
        return (
            "would make the LB send no PROXY header (or send it on some ports only) while the gateway "
            f"requires it, so every connection would fail; allowed: {allowed_on}"
        )
    if mode == SourceIpMode.LOCAL and reading != "off":
        return (
            "would make the LB send a PROXY header the gateway does not parse (passthrough), so every "
            f"request would be garbled; allowed: {allowed_off}"
        )
    return None


def _keeps_attributes(program_value: str, user_value: str) -> bool:
    """For attribute lists (a=b,c=d), the user's value may add attributes but must keep the program's, read as
    the controller reads them (the last of a repeated attribute wins)."""
    if "=" not in program_value:
        return False
    wanted, given = aws_attribute_pairs(program_value), aws_attribute_pairs(user_value)
    return wanted is not None and given is not None and dict(wanted).items() <= dict(given).items()
