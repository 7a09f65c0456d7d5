"""The command: read kubectl's YAML, write a stack file, check it as `pulumi up` would, render it, and say
what changes at cut-over.

    python -m tools.import_nginx --from FILE [FILE...] --out Pulumi.<stack>.yaml [--platform P] [--force]

Exit codes: 0 written; 2 bad input or flags (one sentence naming the flag or file, the value and what is
allowed; nothing written)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi
import yaml

from source_ip.config import NAMESPACE, ConfigError, parse_config
from tools import compare
from tools.import_nginx import facts
from tools.import_nginx.convert import Finding, Imported, Options, import_objects
from tools.import_nginx.reader import InputError, read_files
from tools.stackfile import StackFileError, parse_stack_file
from tools.yamlio import SAFE_DUMPER

HEADINGS = {
    "not carried": "NOT CARRIED OVER (decide each before cut-over)",
    "trap": "ingress-nginx traps found in this install",
    "note": "notes",
}
EMPTY_RENDER = {
    "graph.json": json.dumps({"resources": [], "longestAwaitedChain": [], "outputs": {}}),
    "manifests.yaml": "",
    "patches.yaml": "",
    "releases.yaml": "[]\n",
}
"""A render of nothing: the base of the change review of a stack's first `pulumi up`."""
STACK_FILE = re.compile(r"Pulumi\.([A-Za-z0-9_.-]+)\.yaml")


def stack_text(imported: Imported, sources: list[str]) -> str:
    """The stack file: the findings as comments, then `config:`."""
    lines = [
        f"# Imported from ingress-nginx by python -m tools.import_nginx ({', '.join(sources)}).",
        f"# Controller Service: {imported.controller or 'none in the input'}; platform {imported.platform}, "
        f"sourceIp {imported.mode}.",
        f"# Ingresses imported: {', '.join(imported.ingresses) or 'none'}.",
        "# Set kubernetes:context before `make preview`; read docs/migrate-from-ingress-nginx.md for "
        "the cut-over.",
    ]
    for kind, heading in HEADINGS.items():
        found = [f for f in imported.findings if f.kind == kind]
        if not found:
            continue
        lines.append(f"# {heading}:")
        for finding in found:
            wrapped = textwrap.wrap(finding.text, 96, break_on_hyphens=False, break_long_words=False)
            lines.append(f"#   - {wrapped[0]}")
            lines.extend(f"#     {more}" for more in wrapped[1:])
    body = {"config": {f"{NAMESPACE}:{key}": value for key, value in imported.config.items()}}
    return (
        "\n".join(lines)
        + "\n"
        + yaml.dump(body, Dumper=SAFE_DUMPER, sort_keys=False, default_flow_style=False, width=100)
    )


def build(objects: Any, options: Options, sources: list[str]) -> tuple[Imported, str, dict[str, str]]:
    """The import, its stack file text and the raw config that file holds (checked by parse_config). A
    challenge the program refuses (http01 next to an allowlist, or on a PROXY gateway without a hairpin fix)
    is switched to dns01, and said so."""
    imported = import_objects(objects, options)
    text = stack_text(imported, sources)
    raw = parse_stack_file(text.encode(), "the imported stack")
    try:
        parse_config(raw)
    except ConfigError as error:
        challenge = [p for p in error.problems if "certManager" in p.key or "challenge" in str(p)]
        if options.challenge != "http01" or not challenge or len(challenge) != len(error.problems):
            raise
        imported = import_objects(objects, replace(options, challenge="dns01"))
        imported.findings.append(
            Finding(
                "note",
                "tls.certManager.challenge dns01: the program refuses http01 here ("
                + "; ".join(str(p) for p in challenge)
                + "); your issuer needs a DNS-01 solver",
            )
        )
        text = stack_text(imported, sources)
        raw = parse_stack_file(text.encode(), "the imported stack")
        parse_config(raw)
    return imported, text, raw


def cut_over(imported: Imported, review_text: str) -> str:
    hosts = ", ".join(imported.hosts) or "none"
    echo = imported.config["echo"]["host"]
    gateway = imported.config["gateway"]
    proxy = imported.mode == "proxy-protocol"
    parts = [
        "What changes at cut-over: the gateway's Service is a new load balancer, so the gateway gets a NEW "
        "ADDRESS (or hostname) that nginx's never was; nginx keeps its address and keeps serving until you "
        f"move DNS. Move the records of {hosts} (and add {echo}, the probe) to the new address, and "
        "add it to "
        "every firewall rule or upstream allowlist that names nginx's address.",
        "The new load balancer "
        + (
            "sends the PROXY header"
            if proxy
            else "passes the client address through (externalTrafficPolicy Local)"
        )
        + " from its first packet; nginx's is untouched.",
    ]
    if gateway.get("tls"):
        parts.append(
            "A new Certificate is issued in the gateway's namespace; with HTTP-01 it can only be "
            "proven through the "
            "controller DNS points at."
        )
    parts.append(f"The change review of the first `pulumi up` (against nothing deployed): {review_text}")
    return "\n".join(textwrap.fill(p, 100) for p in parts)


def review_first_up(raw: dict[str, str], stack: str) -> str:
    """Render the stack under the mocks (the same run as tools.render); review it against an empty render."""
    from tools.program import run_program
    from tools.render import render

    files = render(run_program(raw, stack=stack), stack)
    new = compare.parse_render(files, stack)
    result = compare.review_renders(compare.parse_render(EMPTY_RENDER, "nothing deployed"), new)
    report = compare.report(result, old_name="nothing", new_name=f"the render of {stack}")
    created = [
        f"gateway {key} ({gw['mode']} routing): a new {gw['type']} Service, so a new address"
        + ("; its load balancer sends the PROXY header" if gw["lb"] == "sends" else "")
        for key, gw in sorted(new.gateways().items())
    ]
    return " / ".join([*report.splitlines(), *created])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tools.import_nginx",
        description="Write a stack file from an ingress-nginx install: its platform and PROXY mode, routes, "
        "allowlist, rate limit, HTTPS and front proxy; what cannot be carried over is listed.",
        epilog=f"ingress-nginx facts read in {facts.NGINX_TAG}. Exit codes: 0 written, 2 bad input (nothing "
        "written). docs/migrate-from-ingress-nginx.md",
    )
    parser.add_argument(
        "--from",
        dest="sources",
        type=Path,
        nargs="+",
        required=True,
        metavar="FILE",
        help="what kubectl get configmap,service -n ingress-nginx -o yaml and kubectl get ingress -A -o yaml "
        "print",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="the stack file to write, Pulumi.<stack>.yaml"
    )
    parser.add_argument(
        "--platform", help="your platform (default: read from the controller Service's annotations)"
    )
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument(
        "--ingress-class",
        action="append",
        default=[],
        metavar="NAME",
        help="an IngressClass (or kubernetes.io/ingress.class value) your ingress-nginx serves; repeatable "
        "(default: IngressClasses of controller k8s.io/ingress-nginx in the input, else nginx)",
    )
    parser.add_argument(
        "--service", metavar="NAMESPACE/NAME", help="the controller Service, if there are several"
    )
    parser.add_argument(
        "--metallb-nodes",
        metavar="NODE,NODE",
        help="platform metallb: the nodes that run the gateway and announce it",
    )
    parser.add_argument("--echo-host", metavar="HOST", help="the probe's host (default probe.<your domain>)")
    parser.add_argument(
        "--no-review",
        action="store_true",
        help="skip the render and the change review (faster; the stack is still checked)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    out: Path = args.out
    if out.exists() and not args.force:
        return _fail(f"--out {out}: exists; allowed: a new file, or --force to overwrite it")
    if out.exists() and not out.is_file():
        return _fail(f"--out {out}: is not a file; allowed: a path for Pulumi.<stack>.yaml")
    match = STACK_FILE.fullmatch(out.name)
    stack = match.group(1) if match else "stack"
    nodes = tuple(n.strip() for n in (args.metallb_nodes or "").split(",") if n.strip())
    options = Options(
        platform=args.platform,
        ingress_classes=tuple(args.ingress_class),
        service=args.service,
        metallb_nodes=nodes,
        echo_host=args.echo_host,
    )
    try:
        objects = read_files(list(args.sources))
        imported, text, raw = build(objects, options, [p.name for p in args.sources])
    except InputError as error:
        return _fail(str(error))
    except ConfigError as error:
        return _fail(
            "the imported settings are refused by the program's config check (nothing written):\n"
            + "\n".join(f"  {p}" for p in error.problems)
        )
    except StackFileError as error:
        return _fail(f"the imported stack cannot be read back: {error}")
    review = ""
    if not args.no_review:
        try:
            review = review_first_up(raw, stack)
        except pulumi.RunError as error:
            return _fail(f"the imported stack does not render (nothing written): {error}")
    try:
        out.write_text(text)
    except OSError as error:
        return _fail(f"--out {out}: cannot be written: {error.strerror or error}")
    print(
        f"wrote {out}: platform {imported.platform}, sourceIp {imported.mode}, "
        f"{len(imported.config['gateway'].get('routes', []))} route(s) from {len(imported.ingresses)} "
        "Ingress(es)"
    )
    for kind, heading in HEADINGS.items():
        found = [f for f in imported.findings if f.kind == kind]
        if found:
            print(f"{heading}:")
            for finding in found:
                print(textwrap.fill(finding.text, 100, initial_indent="  - ", subsequent_indent="    "))
    if review:
        print()
        print(cut_over(imported, review))
    print()
    print(
        f"next: python -m tools.render --config {out} --out render/{stack}; then "
        "docs/migrate-from-ingress-nginx.md"
    )
    return 0


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
