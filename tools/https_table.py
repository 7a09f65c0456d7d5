"""The hairpin table of docs/https.md, generated from the platform registry so the two cannot drift.

python -m tools.https_table            print the table
python -m tools.https_table --write    rewrite it in docs/https.md between the markers
"""

from __future__ import annotations

import sys

from source_ip.config.gateway_rules import hairpin_fix
from source_ip.facts import PLATFORMS, Platform, SourceIpMode
from tools.readme import table_cli

START, END = "<!-- hairpin:start -->", "<!-- hairpin:end -->"


def _ip_mode(platform: Platform) -> str:
    if platform.ip_mode_proxy == "auto":
        return "set by the controller"
    if platform.ip_mode_proxy == "annotation" and platform.ip_mode_annotation:
        key, value = platform.ip_mode_annotation
        return f'`{key}: "{value}"` (the program sets it)'
    return "—"


def _hostname(platform: Platform) -> str:
    if platform.status_hostname_only:
        return "always (the status has no IP)"
    if platform.hairpin_annotation and platform.hairpin_value == "true":
        return f'`{platform.hairpin_annotation}: "true"` (the program sets it)'
    if platform.hairpin_annotation:
        return f"`{platform.hairpin_annotation}` = gateway.hairpinHostname"
    return "—"


def _http01(platform: Platform) -> str:
    if SourceIpMode.PROXY_PROTOCOL not in platform.modes:
        return "yes (passthrough: no PROXY header to lose)"
    if hairpin_fix(platform, None) is not None:
        return "yes"
    if platform.hairpin_annotation:
        return "with gateway.hairpinHostname, else dns01"
    return "no: dns01"


def _source(platform: Platform) -> str:
    if platform.hairpin_source:
        return platform.hairpin_source
    return platform.source if platform.hairpin_annotation else "—"


def table() -> str:
    rows = [
        "| platform | `ipMode: Proxy` | hostname instead of the IP | HTTP-01 on a PROXY-protocol gateway | "
        "source |",
        "|---|---|---|---|---|",
    ]
    for platform in sorted(PLATFORMS.values(), key=lambda p: p.id):
        rows.append(
            f"| `{platform.id}` | {_ip_mode(platform)} | {_hostname(platform)} | {_http01(platform)} | "
            f"{_source(platform)} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    return table_cli("python -m tools.https_table", (__doc__ or "").splitlines()[0], START, END, table, argv)


if __name__ == "__main__":
    sys.exit(main())
