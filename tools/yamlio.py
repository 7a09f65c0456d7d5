"""libyaml's safe loader and dumper when PyYAML has them, for the tools that write and read YAML back
(render, compare, charts, fleet); no Pulumi import, so a tool that only reads YAML starts fast."""

from __future__ import annotations

import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""What reads renders, chart output and stack files back (about 10x the pure-Python loader on a chart's
manifest)."""


class SAFE_DUMPER(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]  # noqa: N801
    """Several times faster on large stacks; multi-line strings, such as the patches in a gateway's
    parameters ConfigMap, are written as readable `|` blocks."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


SAFE_DUMPER.add_representer(str, _string)
