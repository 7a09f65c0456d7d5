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
from tools.readme import markdown_cell, table_cli, with_table

START, END = "<!-- refusals:start -->", "<!-- refusals:end -->"
PP = "vks.vngcloud.vn/enable-proxy-protocol"

STACK_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    (
        "PROXY switched off under a strict gateway",
        {"platform": "vngcloud", "gateway": {"serviceAnnotations": {PP: "true"}}},
    ),
    (
        "PROXY switched on in passthrough",
        {
            "platform": "aws-nlb",
            "sourceIp": "local",
            "gateway": {
                "serviceAnnotations": {"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*"}
            },
        },
    ),
    ("a release name the program uses", {"platform": "gcp", "gateway": {"name": "istiod"}}),
    ("a release name Helm cannot take", {"platform": "gcp", "gateway": {"name": "g" * 54}}),
    ("a name with a trailing newline", {"platform": "gcp", "gateway": {"name": "edge\n"}}),
    ("two gateways with one name", {"platform": "gcp", "gateways": [{"name": "edge"}, {"name": "edge"}]}),
    ("both gateway forms", {"platform": "gcp", "gateway": {"replicas": 3}, "gateways": [{"name": "a"}]}),
    ("the echo app in Istio's namespace", {"platform": "gcp", "echo": {"namespace": "istio-system"}}),
    (
        "the gateway's MetalLB pool redirected",
        {
            "platform": "metallb",
            "metallb": {"nodes": ["w1"]},
            "gateway": {"serviceAnnotations": {"metallb.io/address-pool": "x"}},
        },
    ),
    (
        "a pin label in a reserved prefix",
        {"platform": "metallb", "metallb": {"nodes": ["w1"], "nodeLabel": {"node.kubernetes.io/lb": "yes"}}},
    ),
    (
        "a pool MetalLB would misuse",
        {"platform": "metallb", "metallb": {"nodes": ["w1"], "install": True, "addresses": ["127.0.0.0/24"]}},
    ),
    (
        "overlapping pool ranges",
        {
            "platform": "metallb",
            "metallb": {
                "nodes": ["w1"],
                "install": True,
                "addresses": ["10.0.0.0/24", "10.0.0.200-10.0.0.210"],
            },
        },
    ),
    (
        "a dual-stack gateway with a pool of one family",
        {
            "platform": "metallb",
            "metallb": {"nodes": ["w1"], "addresses": ["192.168.10.240-192.168.10.250"]},
            "gateway": {"ipFamilies": ["IPv4", "IPv6"]},
        },
    ),
    (
        "an adoption that drops other pools",
        {
            "platform": "metallb",
            "metallb": {
                "nodes": ["w1"],
                "addresses": ["10.0.0.0/24"],
                "adoptL2Advertisement": "default-l2advertisement",
            },
        },
    ),
    (
        "an allowlist while the gateway cannot see clients",
        {
            "platform": "vngcloud",
            "sourceIp": "local",
            "gateway": {"proxyProtocolMigration": True},
            "allowlist": ["192.0.2.0/24"],
        },
    ),
    (
        "Gateway API mode on an Istio that cannot carry the path",
        {"platform": "gcp", "routing": "gateway-api", "istio": {"version": "1.25.4"}},
    ),
    (
        "the accept-both step on a passthrough path with an allowlist",
        {
            "platform": "aws-nlb",
            "sourceIp": "local",
            "gateway": {"proxyProtocolMigration": True},
            "allowlist": ["192.0.2.0/24"],
        },
    ),
    ("an allowlist entry with host bits set", {"platform": "gcp", "allowlist": ["203.0.113.7/0"]}),
    ("an allowlist entry with a zone ID", {"platform": "gcp", "allowlist": ["fe80::1%eth0"]}),
    ("an allowlist entry no client connects from", {"platform": "gcp", "allowlist": ["224.0.0.1"]}),
    (
        "two gateways asking for one address",
        {
            "platform": "metallb",
            "metallb": {"nodes": ["w1"]},
            "gateways": [
                {"name": "public", "serviceAnnotations": {"metallb.io/loadBalancerIPs": "192.0.2.10"}},
                {"name": "internal", "serviceAnnotations": {"metallb.io/loadBalancerIPs": "192.0.2.10"}},
            ],
        },
    ),
    ("a release name a Service cannot take", {"platform": "gcp", "gateway": {"name": "1edge"}}),
    (
        "a release name the Istio charts give their objects",
        {"platform": "gcp", "gateway": {"name": "istio-reader-service-account"}},
    ),
    ("a gateway named like the program's own component", {"platform": "gcp", "gateway": {"name": "echo"}}),
    (
        "a MetalLB install into a namespace every cluster has",
        {
            "platform": "metallb",
            "metallb": {
                "nodes": ["w1"],
                "install": True,
                "addresses": ["192.0.2.0/24"],
                "namespace": "default",
            },
        },
    ),
    (
        "the echo app in MetalLB's namespace",
        {"platform": "metallb", "metallb": {"nodes": ["w1"]}, "echo": {"namespace": "metallb-system"}},
    ),
    (
        "a gateway in an existing MetalLB's namespace",
        {"platform": "metallb", "metallb": {"nodes": ["w1"]}, "gateway": {"namespace": "metallb-system"}},
    ),
    ("replicas over what Kubernetes holds", {"platform": "gcp", "gateway": {"replicas": 2**31}}),
    (
        "numTrustedProxies over what istiod reads",
        {"platform": "aws", "gateway": {"numTrustedProxies": 2**32, "trustedHops": "l7"}},
    ),
    ("a JSON value nested too deep", {"platform": "gcp", "gateway": "[" * 20 + "]" * 20}),
    ("a typo", {"platform": "gcp", "gateway": {"replcas": 3}}),
    ("a YAML 1.1 boolean word", {"platform": "gcp", "accessLogs": "off"}),
    (
        "a front proxy behind PROXY protocol",
        {
            "platform": "aws-nlb",
            "sourceIp": "proxy-protocol",
            "gateway": {"frontProxy": {"profile": "cloudflare"}},
        },
    ),
    (
        "a client-address header Istio cannot honour",
        {
            "platform": "aws-nlb",
            "sourceIp": "local",
            "gateway": {"frontProxy": {"profile": "cloudflare", "header": "CF-Connecting-IP"}},
        },
    ),
    (
        "a CDN that does not append to X-Forwarded-For on every request",
        {"platform": "aws-nlb", "sourceIp": "local", "gateway": {"frontProxy": {"profile": "fastly"}}},
    ),
    (
        "a custom front proxy without its ranges",
        {"platform": "aws-nlb", "sourceIp": "local", "gateway": {"frontProxy": {"profile": "custom"}}},
    ),
    (
        "a TLS host that is not a DNS name",
        {"platform": "gcp", "gateway": {"tls": {"hosts": ["*.example.com"]}}},
    ),
    (
        "HTTP-01 behind an allowlist",
        {
            "platform": "gcp",
            "routing": "gateway-api",
            "allowlist": ["203.0.113.0/24"],
            "gateway": {"tls": {"certManager": {"issuer": "letsencrypt"}}},
        },
    ),
    (
        "HTTPS with istio routing and no echo app",
        {
            "platform": "gcp",
            "echo": {"enabled": False},
            "gateway": {"tls": {"hosts": ["app.example.com"], "secretName": "app-tls"}},
        },
    ),
]

"""The refusals of rules that span the stack (or check one value); a gateway rule carries its own example."""
EXAMPLES: list[tuple[str, dict[str, Any]]] = [*RULE_EXAMPLES.values(), *STACK_EXAMPLES]
"""Every example the table shows: each gateway rule's own (source_ip/config/gateway_rules.py), then these."""


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
