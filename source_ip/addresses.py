"""Address lists as networks: what a list of CIDRs covers, read one way for the allowlist, the front
proxy's ranges and the change review."""

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(cidrs: list[str] | tuple[str, ...]) -> list[Network]:
    """The entries that are networks (host bits allowed); the others are another check's to refuse."""
    found: list[Network] = []
    for cidr in cidrs:
        try:
            found.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError:
            continue
    return found


def whole_families(cidrs: list[str] | tuple[str, ...]) -> set[int]:
    """The IP versions (4, 6) whose every address the entries cover together: 0.0.0.0/0, or 0.0.0.0/1 with
    128.0.0.0/1, and so on."""
    found = networks(cidrs)
    v4 = [n for n in found if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in found if isinstance(n, ipaddress.IPv6Network)]
    covered = set()
    if v4 and list(ipaddress.collapse_addresses(v4)) == [ipaddress.IPv4Network("0.0.0.0/0")]:
        covered.add(4)
    if v6 and list(ipaddress.collapse_addresses(v6)) == [ipaddress.IPv6Network("::/0")]:
        covered.add(6)
    return covered


def share_of_family(cidrs: list[str] | tuple[str, ...]) -> dict[int, float]:
    """IP version -> the share of that family's addresses the entries cover together (0 to 1)."""
    found = networks(cidrs)
    v4 = [n for n in found if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in found if isinstance(n, ipaddress.IPv6Network)]
    share: dict[int, float] = {}
    if v4:
        share[4] = sum(n.num_addresses for n in ipaddress.collapse_addresses(v4)) / 2**32
    if v6:
        share[6] = sum(n.num_addresses for n in ipaddress.collapse_addresses(v6)) / 2**128
    return share
