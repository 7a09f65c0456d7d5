"""The source-IP decisions for one gateway, as pure functions: no resources, no config parsing.

`IngressGateway` calls them with its typed inputs, the config validation calls them to explain a
refusal, and the tests check them without a cluster. The invariants they keep:
- the LB sends the PROXY header  <=>  the gateway parses it (strict `gatewayTopology.proxyProtocol`,
  or the permissive listener filter while migrating) — never one without the other;
- passthrough (`local`)  =>  `externalTrafficPolicy: Local`;
- the allowlist matches `ipBlocks` only when the packet source *is* the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from source_ip.facts import SourceIpMode


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


def allowlist_field(source: ClientAddressSource) -> str:
    """`ipBlocks` matches the packet source; `remoteIpBlocks` the address recovered from the PROXY
    header or X-Forwarded-For. Behind PROXY protocol `ipBlocks` would match the LB."""
    return "ipBlocks" if source == ClientAddressSource.PACKET else "remoteIpBlocks"


@dataclass(frozen=True)
class GatewayRef:
    """Which ingress gateway Istio objects attach to: its release name, namespace and pod labels."""

    name: str
    namespace: str
    labels: dict[str, str]
