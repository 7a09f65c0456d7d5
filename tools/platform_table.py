"""The README's platform table, generated from the registry so the two cannot drift.

    python -m tools.platform_table            print the table
    python -m tools.platform_table --write    rewrite it in README.md between the markers
"""

from __future__ import annotations

import sys

from source_ip.facts import PLATFORMS, STATUS_PORT_PROXY_PROTOCOL_ENV, Platform
from tools.program import ROOT

START, END = "<!-- platforms:start -->", "<!-- platforms:end -->"


def _sets(platform: Platform, mode: str) -> str:
    parts = [f"`{k}: \"{v}\"`" for k, v in sorted(platform.annotations_for(mode).items())]  # type: ignore[arg-type]
    if mode == "proxy-protocol":
        parts.append("`gatewayTopology.proxyProtocol`")
        if platform.status_port_proxy_protocol:
            parts.append(f"`{STATUS_PORT_PROXY_PROTOCOL_ENV}=true`")
        if platform.hairpin_annotation:
            value = "gateway.hairpinHostname" if platform.hairpin_value == "hostname" else '"true"'
            parts.append(f"hairpin: `{platform.hairpin_annotation}` = {value}")
    else:
        parts.append("`externalTrafficPolicy: Local`")
    return f"**{mode}**: " + ", ".join(parts)


def table() -> str:
    rows = ["| platform | load balancer | LB mode | `auto` picks | what the program sets | caveats | source |",
            "|---|---|---|---|---|---|---|"]
    for platform in sorted(PLATFORMS.values(), key=lambda p: p.id):
        sets = "<br>".join(_sets(platform, mode) for mode in platform.modes)
        rows.append(f"| `{platform.id}` | {platform.lb} | {platform.lb_mode} | {platform.default_mode} | {sets} | "
                    f"{platform.caveats or '—'} | {platform.source} |")
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        path = ROOT / "README.md"
        path.write_text(readme_with_table(path.read_text()))
    else:
        print(table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
