"""The "What is refused, and why" table (docs/refusals.md), made by running each example through the config
check, so the messages shown are the ones users get.

    python -m tools.refusals            print the table
    python -m tools.refusals --write    rewrite it in docs/refusals.md between the markers
"""

from __future__ import annotations

import json
import sys
from typing import Any

from source_ip.config import NAMESPACE, ConfigError, parse_config
from source_ip.config.gateway_rules import RULE_EXAMPLES
from source_ip.config.models import VALUE_EXAMPLES
from source_ip.config.rules import STACK_RULE_EXAMPLES
from tools.readme import markdown_cell, table_cli, with_table

START, END = "<!-- refusals:start -->", "<!-- refusals:end -->"

EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    *(example for examples in RULE_EXAMPLES.values() for example in examples),
    *(example for examples in STACK_RULE_EXAMPLES.values() for example in examples),
    *VALUE_EXAMPLES,
]
"""Every example the table shows, each carried by what refuses it: a gateway rule
(source_ip/config/gateway_rules.py), a stack rule (source_ip/config/rules.py) or a single-value check
(source_ip/config/models.py `VALUE_EXAMPLES`)."""


def message(config: dict[str, Any]) -> str:
    raw = {f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    try:
        parse_config(raw)
    except ConfigError as error:
        return str(error.problems[0])
    raise AssertionError(f"example is accepted: {config}")


def table() -> str:
    rows = ["| refused | example | message |", "|---|---|---|"]
    for what, config in EXAMPLES:
        example = ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in config.items() if k != "platform")
        given = ", ".join(
            part for part in (f"`platform: {config['platform']}`", markdown_cell(example)) if part
        )
        rows.append(f"| {what} | {given} | {markdown_cell(message(config))} |")
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    return with_table(readme, START, END, table())


def main(argv: list[str] | None = None) -> int:
    return table_cli("python -m tools.refusals", (__doc__ or "").splitlines()[0], START, END, table, argv)


if __name__ == "__main__":
    sys.exit(main())
