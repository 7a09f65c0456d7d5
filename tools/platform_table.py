"""The platform table (docs/platforms.md), generated from the registry so the two cannot drift.

python -m tools.platform_table            print the table
python -m tools.platform_table --write    rewrite it in docs/platforms.md between the markers
"""

from __future__ import annotations

import sys

from source_ip.facts import (
    IPV6_NOT_READ,
    PLATFORMS,
    STATUS_PORT_PROXY_PROTOCOL_ENV,
    Platform,
    ProxySwitch,
    SourceIpMode,
)
from source_ip.plan import program_service_annotations
from tools.readme import table_cli, with_table

START, END = "<!-- platforms:start -->", "<!-- platforms:end -->"


def _sets(platform: Platform, mode: SourceIpMode) -> str:
    annotations = program_service_annotations(platform, mode)
    parts = [f'`{k}: "{v}"`' for k, v in sorted(annotations.items())]
    if mode == SourceIpMode.PROXY_PROTOCOL:
        parts.append("`gatewayTopology.proxyProtocol`")
        if platform.status_port_proxy_protocol:
            parts.append(f"`{STATUS_PORT_PROXY_PROTOCOL_ENV}=true`")
        if platform.hairpin_annotation and platform.hairpin_annotation not in annotations:
            parts.append(f"hairpin: `{platform.hairpin_annotation}` = gateway.hairpinHostname")
    else:
        parts.append("`externalTrafficPolicy: Local`")
    return f"**{mode}**: " + ", ".join(parts)


def _switch(switch: ProxySwitch) -> str:
    on = "/".join(f'"{v}"' for v in switch.on) or "—"
    off = "/".join(f'"{v}"' for v in switch.off) or "unset"
    shape = (
        " (a list)" if switch.items else (f" (attribute `{switch.attribute}`)" if switch.attribute else "")
    )
    return f"`{switch.key}`{shape}: on {on}; off {off}"


def _ipv6(platform: Platform) -> str:
    """The IPv6 cell: the frontend, what each of the platform's modes does with an IPv6 client, the
    annotations the program adds for a gateway with IPv6, and where that was read."""
    facts = platform.ipv6
    if facts == IPV6_NOT_READ:
        return "unknown (not read)"
    parts = [f"frontend: {facts.frontend}"]
    parts += [f"{mode}: {facts.path(mode)}" for mode in platform.modes]
    if facts.annotations:
        parts.append("with IPv6 " + ", ".join(f'`{k}: "{v}"`' for k, v in sorted(facts.annotations.items())))
    if facts.note:
        parts.append(facts.note)
    return "; ".join(parts) + f" ({facts.source})"


def table() -> str:
    rows = [
        "| platform | load balancer | LB mode | `auto` picks | what the program sets | "
        "PROXY switches it checks | caveats | IPv6 clients | source |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for platform in sorted(PLATFORMS.values(), key=lambda p: p.id):
        sets = "<br>".join(_sets(platform, mode) for mode in platform.modes)
        switches = "<br>".join(_switch(s) for s in platform.proxy_switches) or "—"
        rows.append(
            f"| `{platform.id}` | {platform.lb} | {platform.lb_mode} | {platform.default_mode} | {sets} | "
            f"{switches} | {platform.caveats or '—'} | {_ipv6(platform)} | {platform.source} |"
        )
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    return with_table(readme, START, END, table())


def main(argv: list[str] | None = None) -> int:
    return table_cli(
        "python -m tools.platform_table", (__doc__ or "").splitlines()[0], START, END, table, argv
    )


if __name__ == "__main__":
    sys.exit(main())
