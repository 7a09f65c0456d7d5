"""verify over the fleet: tools.verify per stack, as a subprocess (its CLI and --json shape are its
interface), and the verdict table."""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .kinds import ROOT, UsageError
from .report import table
from .selection import StackFile


def verify_options(args: argparse.Namespace) -> list[str]:
    options: list[str] = []
    if args.expect_ip:
        options += ["--expect-ip", args.expect_ip]
    if args.whoami_url:
        options += ["--whoami-url", args.whoami_url]
    if args.num_trusted_proxies is not None:
        options += ["--num-trusted-proxies", str(args.num_trusted_proxies)]
    if args.timeout is not None:
        options += ["--timeout", f"{args.timeout:g}"]
    if args.attempts is not None:
        options += ["--attempts", str(args.attempts)]
    if args.from_docker_network:
        options += ["--from-docker-network", args.from_docker_network]
    return options


def run_verify(stack: str, options: list[str], timeout: float) -> dict[str, Any]:
    """One verdict object for a stack: tools.verify's --json, or a usage verdict with its message (verify
    applies the Makefile's backend defaults itself)."""
    command = [sys.executable, "-m", "tools.verify", "--stack", stack, "--json", *options]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            timeout=timeout + 60,
        )
    except subprocess.TimeoutExpired:
        return {
            "verdict": "unreachable",
            "ok": False,
            "diagnosis": f"verify did not finish in {timeout + 60:g}s",
        }
    try:
        verdict = json.loads(done.stdout.strip().splitlines()[-1])
        if isinstance(verdict, dict) and "verdict" in verdict:
            return verdict
    except (ValueError, IndexError):
        pass
    message = (
        done.stderr.strip().removeprefix("error: ") or f"verify exited {done.returncode} without a verdict"
    )
    return {
        "verdict": "usage",
        "ok": False,
        "exitCode": done.returncode,
        "diagnosis": message.splitlines()[-1],
    }


def arrived(verdict: dict[str, Any]) -> str | None:
    """The client address the echo app saw: X-Envoy-External-Address, else the first XFF entry."""
    xff = verdict.get("forwardedFor") or []
    return verdict.get("externalAddress") or (xff[0] if xff else None) or verdict.get("origin")


def verify_fleet(
    stacks: list[StackFile], options: list[str], timeout: float, parallel: int
) -> list[dict[str, Any]]:
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        verdicts = list(pool.map(lambda s: run_verify(s.name, options, timeout), stacks))
    return [
        {
            "stack": s.name,
            "platform": s.platform,
            "verdict": v.get("verdict"),
            "ok": bool(v.get("ok")),
            "arrived": arrived(v),
            "expected": v.get("expected"),
            "diagnosis": v.get("diagnosis", ""),
            "exitCode": v.get("exitCode"),
        }
        for s, v in zip(stacks, verdicts, strict=True)
    ]


def verdict_table(rows: list[dict[str, Any]]) -> str:
    body = [
        [
            r["stack"],
            r["platform"],
            "PASS" if r["ok"] else "FAIL",
            str(r["verdict"]),
            r["arrived"] or "-",
            r["expected"] or "-",
        ]
        for r in rows
    ]
    text = table(body, ["STACK", "PLATFORM", "RESULT", "VERDICT", "ARRIVED", "EXPECTED"])
    notes = [f"{r['stack']}: {r['diagnosis']}" for r in rows if not r["ok"] and r["diagnosis"]]
    return text + ("\n\n" + "\n".join(notes) if notes else "")


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict_markdown(rows: list[dict[str, Any]]) -> str:
    passed = sum(r["ok"] for r in rows)
    lines = [
        f"### Client IP: {passed} of {len(rows)} stack(s) pass",
        "",
        "| Stack | Platform | Result | Verdict | Arrived | Expected | Diagnosis |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| `{_md(r['stack'])}` | {_md(r['platform'])} | {'✅ pass' if r['ok'] else '❌ fail'} "
            f"| `{_md(r['verdict'])}` "
            f"| {_md(r['arrived'] or '-')} | {_md(r['expected'] or '-')} | {_md(r['diagnosis'])} |"
        )
    return "\n".join(lines)


def read_verdicts(files: list[Path]) -> list[dict[str, Any]]:
    """The rows of several `verify --json` outputs (one list each), for one fleet-wide table."""
    rows: list[dict[str, Any]] = []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"report {path}: not the output of `verify --json`: {error}") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) and "stack" in r for r in data):
            raise UsageError(f"report {path}: not the output of `verify --json` (a list of stack verdicts)")
        rows += [
            {
                "platform": "?",
                "verdict": None,
                "ok": False,
                "arrived": None,
                "expected": None,
                "diagnosis": "",
                **r,
            }
            for r in data
        ]
    return rows
