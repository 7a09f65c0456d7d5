"""fleet: run many stacks at once and get one client-IP verdict per cluster.

    python -m tools.fleet preview|up|destroy (--stacks a,b | --all) [--platform NAME] [--parallel N]
                          [--log-dir DIR] [--no-verify] [verify options]
    python -m tools.fleet verify  (--stacks a,b | --all) [--platform NAME] [--parallel N]
                          [--json | --markdown] [verify options]
    python -m tools.fleet operator (--stacks a,b | --all) [--platform NAME] --repo URL [--branch B]
                          --out DIR [--namespace NS] [--secrets-provider URL] ...

Stacks are the project's Pulumi.<stack>.yaml files; --platform keeps those whose
istio-source-ip:platform is NAME. preview/up/destroy go through Pulumi's Automation API (a
LocalWorkspace on this project directory) with the Makefile's backend and passphrase unless set
(PULUMI_BACKEND_URL=file://<project>/.pulumi-state, PULUMI_CONFIG_PASSPHRASE=""), at most
--parallel stacks at once, each stack's engine output in its own log file. A failed stack never
stops the others. Ctrl-C (or SIGTERM) starts no further stack and sends each running `pulumi` one
interrupt: the CLI's cancel. A second Ctrl-C sends a second one, on which the CLI terminates at once
("may lead to orphaned resources and other inconsistencies": pulumi pkg/backend/cancellation_scope.go).
`up` runs `python -m tools.verify` on every stack it deployed unless --no-verify.

Exit codes: 0 every stack succeeded (or passed verify); 1 at least one failed; 2 bad input
(nothing run, nothing written); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import IO, Any

from tools.verify.backend import describe
from tools.verify.cli import _count, _ip, _seconds  # verify's own argument types

from .checks import read_verdicts, verdict_markdown, verdict_table, verify_fleet, verify_options
from .facts import OPERATOR_MIN_RESYNC_SECONDS, WORKSPACE_IMAGE
from .kinds import OPERATIONS, UsageError
from .operator import check_operator_args, write_operator
from .runner import run_operation
from .selection import plan_waves, select


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line and exit 2, as every tool here
        raise UsageError(f"{self.prog}: {message}")


WAVES_HELP = (
    "rollout waves: stacks separated by ',', waves by ';'; a wave starts when every stack of the one "
    "before deployed and verified (default: each stack file's fleet:wave, lowest first)"
)


def parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--stacks", metavar="A,B", help="these stacks (names of Pulumi.<stack>.yaml)")
    common.add_argument("--all", action="store_true", help="every Pulumi.<stack>.yaml")
    common.add_argument(
        "--platform", metavar="NAME", help="only stacks whose istio-source-ip:platform is NAME"
    )
    common.add_argument(
        "--parallel", type=_count(1), default=4, metavar="N", help="at most N stacks at once (4)"
    )
    checks = _Parser(add_help=False)
    checks.add_argument("--expect-ip", type=_ip, help="the client address that must arrive (verify's option)")
    checks.add_argument("--whoami-url", help="an http:// what-is-my-IP endpoint (verify's option)")
    checks.add_argument("--num-trusted-proxies", type=_count(0), metavar="N", help="verify's option")
    checks.add_argument("--timeout", type=_seconds, help="seconds per stack's verify (verify's option)")
    checks.add_argument("--attempts", type=_count(1), help="verify's option")
    checks.add_argument("--from-docker-network", metavar="NETWORK", help="verify's option")

    ap = _Parser(
        prog="python -m tools.fleet",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    sub = ap.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for op in OPERATIONS:
        p = sub.add_parser(op, parents=[common, checks], help=f"pulumi {op} on each stack (Automation API)")
        p.add_argument(
            "--log-dir", type=Path, help="one <stack>.log per stack here (default .fleet/<command>)"
        )
        if op == "preview":
            p.add_argument(
                "--drift",
                action="store_true",
                help="refresh first and expect no changes: a stack whose cluster drifted fails",
            )
        if op == "up":
            p.add_argument("--no-verify", action="store_true", help="do not run verify after a successful up")
            p.add_argument("--waves", metavar="'A;B,C'", help=WAVES_HELP)
    v = sub.add_parser("verify", parents=[common, checks], help="one client-IP verdict per stack")
    fmt = v.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="a JSON list, one object per stack")
    fmt.add_argument("--markdown", action="store_true", help="a Markdown table (a pull-request comment)")
    li = sub.add_parser("list", parents=[common], help="the selected stacks' names, as a JSON list (for CI)")
    li.add_argument("--waves", metavar="'A;B,C'", help="these stacks (as up --waves takes them)")
    li.add_argument("--skip-local", action="store_true", help="leave out stacks on a kind cluster (kind-...)")
    rp = sub.add_parser("report", help="one fleet-wide verdict table from `verify --json` outputs")
    rp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="outputs of `verify --json`")
    rp.add_argument("--markdown", action="store_true", help="a Markdown table (a job summary)")
    o = sub.add_parser("operator", parents=[common], help="Pulumi Kubernetes Operator Stack objects (GitOps)")
    o.add_argument("--waves", metavar="'A;B,C'", help=WAVES_HELP + " (as the Stacks' prerequisites)")
    o.add_argument("--repo", help="git URL the operator clones (this project)")
    o.add_argument("--branch", default="main", help="branch to track (main)")
    o.add_argument("--repo-dir", help="folder of Pulumi.yaml inside the repository, if not its root")
    o.add_argument("--out", help="directory for manifests.yaml (written atomically)")
    o.add_argument(
        "--namespace", default="pulumi-fleet", help="namespace of the Stack objects (pulumi-fleet)"
    )
    o.add_argument("--org", help="prefix the stack name: ORG/<stack> (Pulumi Cloud organization)")
    o.add_argument(
        "--credentials-secret",
        default="istio-source-ip-fleet",
        help="Secret holding PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE and every --secret-env key",
    )
    o.add_argument(
        "--secret-env", action="append", default=[], metavar="NAME", help="another env var from that Secret"
    )
    o.add_argument(
        "--secrets-provider", metavar="URL", help="e.g. awskms://alias/x (instead of the passphrase)"
    )
    o.add_argument(
        "--kubeconfig-prefix", default="kubeconfig-", help="each stack's kubeconfig is Secret <prefix><stack>"
    )
    o.add_argument(
        "--service-account",
        default="pulumi",
        help="the workspaces' ServiceAccount, written with its system:auth-delegator binding (pulumi)",
    )
    o.add_argument(
        "--git-auth-secret",
        metavar="NAME",
        help="Secret with the private repository's credentials: key accessToken (https) or sshPrivateKey",
    )
    o.add_argument(
        "--workspace-image",
        default=WORKSPACE_IMAGE,
        help=f"the workspace pod's image, pinned ({WORKSPACE_IMAGE}: the Pulumi version tested here)",
    )
    o.add_argument(
        "--resync-seconds",
        type=_count(OPERATOR_MIN_RESYNC_SECONDS),
        default=3600,
        metavar="N",
        help="re-run each Stack every N seconds even without a new commit, so drift is found (3600)",
    )
    return ap


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Taken as Ctrl-C: a CI cancel or timeout (SIGTERM), a closed terminal or SSH session (SIGHUP). Each
`pulumi` runs in its own session and would otherwise go on alone after this process ended."""


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None, stdout: IO[str] | None = None) -> int:
    previous = {number: signal.signal(number, _interrupt) for number in STOP_SIGNALS}
    try:
        return _main(argv, stdout or sys.stdout)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _main(argv: list[str] | None, out: IO[str]) -> int:
    try:
        try:
            args = parser().parse_args(argv)
        except SystemExit as stop:  # --help
            return int(stop.code or 0)
        if args.command == "report":
            rows = read_verdicts(args.files)
            print(verdict_markdown(rows) if args.markdown else verdict_table(rows), file=out)
            return 0 if all(r["ok"] for r in rows) else 1
        waves = getattr(args, "waves", None)
        stacks = select(args.stacks, args.all, args.platform, waves=waves)
        if args.command == "list":
            names = [s.name for s in stacks if not (args.skip_local and s.local)]
            print(json.dumps(names), file=out)
            return 0
        if args.command == "operator":
            check_operator_args(stacks, args)
            path = write_operator(stacks, plan_waves(stacks, waves), args)
            print(
                f"wrote {len(stacks)} Stack object(s) and their RBAC to {path / 'manifests.yaml'}", file=out
            )
            return 0
        options = verify_options(args)
        timeout = args.timeout or 60.0
        if args.command == "verify":
            print(describe(), file=sys.stderr)
            rows = verify_fleet(stacks, options, timeout, args.parallel)
            text = (
                json.dumps(rows, indent=2)
                if args.json
                else verdict_markdown(rows)
                if args.markdown
                else verdict_table(rows)
            )
            print(text, file=out)
            return 0 if all(r["ok"] for r in rows) else 1
        return run_operation(args, stacks, options, timeout, out)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # verify (its children get the terminal's Ctrl-C too) or before a run
        print("interrupted", file=sys.stderr)
        return 130
