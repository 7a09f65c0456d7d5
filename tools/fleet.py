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
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from tools.folders import swap_in
from tools.verify.cli import _count, _ip, _seconds  # verify's own argument types
from tools.verify.readers import backend_defaults
from tools.yamlio import SAFE_LOADER

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "istio-source-ip"
OPERATIONS = ("preview", "up", "destroy")
STACK_API_VERSION = "pulumi.com/v1"
"""The Stack kind of Pulumi Kubernetes Operator v2.9.0 (deploy/crds/pulumi.com_stacks.yaml)."""
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class UsageError(Exception):
    """Bad input: exit 2, nothing run, nothing written."""


# ---------------------------------------------------------------------------------------------
# Selection


@dataclass(frozen=True)
class StackFile:
    name: str
    platform: str


def discover(root: Path = ROOT) -> dict[str, StackFile]:
    """Every Pulumi.<stack>.yaml of the project, with its istio-source-ip:platform ("?" if unset)."""
    found: dict[str, StackFile] = {}
    paths = {p.name.removeprefix("Pulumi.").removesuffix(".yaml"): p for p in root.glob("Pulumi.*.yaml")}
    for name, path in sorted(paths.items()):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise UsageError(f"{path.name}: cannot be read as YAML: {str(error).splitlines()[0]}") from None
        config = data.get("config") if isinstance(data, dict) else None
        platform = config.get(f"{NAMESPACE}:platform") if isinstance(config, dict) else None
        found[name] = StackFile(name, str(platform) if isinstance(platform, str) else "?")
    return found


def select(stacks: str | None, every: bool, platform: str | None, root: Path = ROOT) -> list[StackFile]:
    known = discover(root)
    if stacks is None and not every and platform is None:
        raise UsageError("choose the stacks: --stacks a,b, --all, or --platform NAME")
    if stacks is not None and every:
        raise UsageError("--stacks and --all exclude each other")
    if stacks is not None:
        names = [n.strip() for n in stacks.split(",") if n.strip()]
        if not names:
            raise UsageError("--stacks is empty: name at least one stack (e.g. --stacks dev,aws)")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UsageError(
                f"unknown stack {', '.join(repr(n) for n in unknown)}: "
                "there is no Pulumi.<stack>.yaml for it; "
                f"known: {', '.join(known) or 'none'}"
            )
        chosen = [known[n] for n in dict.fromkeys(names)]
    else:
        chosen = list(known.values())
    if platform is not None:
        chosen = [s for s in chosen if s.platform == platform]
    if not chosen:
        platforms = sorted({s.platform for s in known.values()})
        raise UsageError(
            f"the selection is empty: no stack has platform {platform!r}"
            + (f" among --stacks {stacks}" if stacks else "")
            + f"; platforms of the stacks: {', '.join(platforms) or 'none'}"
        )
    return chosen


# ---------------------------------------------------------------------------------------------
# Results and the table


@dataclass
class Outcome:
    stack: str
    platform: str
    result: str = "skipped"  # succeeded | failed | skipped | cancelled
    changes: str = ""
    duration: float = 0.0
    detail: str = ""
    log: str = ""
    verdict: dict[str, Any] | None = None


def format_changes(changes: Mapping[Any, int] | None) -> str:
    """`create 3, update 1` from an OpMap; `none` when only `same` (or nothing)."""
    if not changes:
        return "none"
    counts = {str(getattr(op, "value", op)): n for op, n in changes.items()}
    return ", ".join(sorted(f"{op} {n}" for op, n in counts.items() if n and op != "same")) or "none"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]
    ]
    return "\n".join(lines)


def outcome_table(outcomes: list[Outcome], with_verify: bool) -> str:
    header = ["STACK", "PLATFORM", "RESULT", "CHANGES", "DURATION"] + (["VERDICT"] if with_verify else [])
    rows = []
    for o in outcomes:
        row = [o.stack, o.platform, o.result, o.changes or "-", f"{o.duration:.1f}s"]
        if with_verify:
            row.append(str(o.verdict.get("verdict")) if o.verdict else "-")
        rows.append(row)
    text = table(rows, header)
    notes = [f"{o.stack}: {o.detail}" + (f" (log: {o.log})" if o.log else "") for o in outcomes if o.detail]
    return text + ("\n\n" + "\n".join(notes) if notes else "")


# ---------------------------------------------------------------------------------------------
# Live progress: one line per stack


class Progress:
    """On a terminal, one line per stack redrawn in place; otherwise a line per state change."""

    def __init__(self, names: list[str], stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.names = names
        self.lines = dict.fromkeys(names, "queued")
        self.lock = threading.Lock()
        self.live = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.width = max(len(n) for n in names)
        if self.live:
            self.stream.write("\n" * len(names))
            self._draw()

    def _draw(self) -> None:
        out = [f"\x1b[{len(self.names)}A"]
        for name in self.names:
            out.append(f"\r\x1b[2K{name.ljust(self.width)}  {self.lines[name][:100]}\n")
        self.stream.write("".join(out))
        self.stream.flush()

    def update(self, name: str, text: str, milestone: bool = False) -> None:
        with self.lock:
            if self.lines.get(name) == text:
                return
            self.lines[name] = text
            if self.live:
                self._draw()
            elif milestone:
                self.stream.write(f"{name.ljust(self.width)}  {text}\n")
                self.stream.flush()


# ---------------------------------------------------------------------------------------------
# The Automation API path


class Runner:
    """Runs one operation over the selected stacks through the Automation API."""

    def __init__(
        self, op: str, stacks: list[StackFile], parallel: int, log_dir: Path, progress: Progress
    ) -> None:
        self.op, self.stacks, self.parallel = op, stacks, parallel
        self.log_dir, self.progress = log_dir, progress
        self.cancelled = threading.Event()
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.lock = threading.Lock()
        # `stack select` also records the workspace's current stack, one file for every stack of the
        # project: selections run one at a time, the operations (each naming its stack) in parallel.
        self.select_lock = threading.Lock()
        self.env = backend_defaults()
        self.command = self._command()
        self.verify_args: list[str] | None = None
        self.verify_timeout = 0.0

    def _command(self) -> Any:
        from pulumi.automation import PulumiCommand

        runner = self

        class TrackedCommand(PulumiCommand):
            """PulumiCommand.run, with each `pulumi` in its own session and known to the runner.

            Its own session: a Ctrl-C on the terminal reaches only this process, which passes exactly
            one interrupt to each running `pulumi` (on a second one the CLI stops at once)."""

            def run(
                self,
                args: list[str],
                cwd: str,
                additional_env: Any,
                on_output: Any = None,
                on_error: Any = None,
            ) -> Any:
                return runner._run(self.command, args, cwd, additional_env, on_output, on_error)

        try:
            return TrackedCommand()
        except FileNotFoundError:
            raise UsageError(
                "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/): "
                "preview, up and destroy need it; `operator` does not"
            ) from None
        except Exception as error:  # InvalidVersionError and a CLI that will not answer `pulumi version`
            raise UsageError(f"the Pulumi CLI cannot be used: {error}") from None

    def _run(
        self,
        command: str,
        args: list[str],
        cwd: str,
        additional_env: Any,
        on_output: Callable[[str], None] | None,
        on_error: Callable[[str], None] | None,
    ) -> Any:
        """What PulumiCommand.run does (pulumi 3.272.0, automation/_cmd.py), plus the registry."""
        from pulumi.automation import CommandResult
        from pulumi.automation.errors import create_command_error

        stack = threading.current_thread().name
        sep = args.index("--") if "--" in args else len(args)
        if "--non-interactive" not in args[:sep]:
            args.insert(0, "--non-interactive")
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        with self.lock:
            if self.cancelled.is_set():
                return_code, out, err = 255, "", "error: not started: the fleet run was interrupted"
                raise create_command_error(CommandResult(stdout=out, stderr=err, code=return_code))
            process = subprocess.Popen(
                [command, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
            self.processes[stack] = process
        chunks: dict[str, list[str]] = {"out": [], "err": []}

        def consume(stream: IO[str], callback: Callable[[str], None] | None, into: list[str]) -> None:
            for line in iter(stream.readline, ""):
                line = line.rstrip()
                if callback:
                    callback(line)
                into.append(line)
            stream.close()

        readers = [
            threading.Thread(target=consume, args=(process.stdout, on_output, chunks["out"]), daemon=True),
            threading.Thread(target=consume, args=(process.stderr, on_error, chunks["err"]), daemon=True),
        ]
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        code = process.wait()
        with self.lock:
            self.processes.pop(stack, None)
        result = CommandResult(stdout="\n".join(chunks["out"]), stderr="\n".join(chunks["err"]), code=code)
        if code != 0:
            raise create_command_error(result)
        return result

    def interrupt(self) -> None:
        """Ctrl-C: start nothing new; one SIGINT to each running `pulumi` (a second Ctrl-C, a second)."""
        self.cancelled.set()
        with self.lock:
            running = list(self.processes.items())
        for stack, process in running:
            self.progress.update(stack, "cancelling (Ctrl-C again stops at once)", milestone=True)
            try:
                process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def run_all(self) -> tuple[list[Outcome], bool]:
        outcomes = {s.name: Outcome(s.name, s.platform) for s in self.stacks}
        interrupted = False
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel) as pool:
            futures = [pool.submit(self._one, s, outcomes[s.name]) for s in self.stacks]
            pending = set(futures)
            while pending:
                try:
                    _, pending = concurrent.futures.wait(pending, timeout=0.1)
                except KeyboardInterrupt:
                    interrupted = True
                    self.interrupt()
        return [outcomes[s.name] for s in self.stacks], interrupted

    def _one(self, stack: StackFile, outcome: Outcome) -> None:
        threading.current_thread().name = stack.name
        if self.cancelled.is_set():
            outcome.result, outcome.detail = "cancelled", "not started: the run was interrupted"
            self.progress.update(stack.name, "cancelled (not started)", milestone=True)
            return
        log_path = self.log_dir / f"{stack.name}.log"
        outcome.log = str(log_path)
        start = time.monotonic()
        with log_path.open("w", encoding="utf-8") as log:
            try:
                self._operate(stack, outcome, log)
            except Exception as error:  # one stack's failure never stops the others
                outcome.result = "cancelled" if self.cancelled.is_set() else "failed"
                outcome.detail = outcome.detail or _first_error(error)
                log.write(f"\nfleet: {self.op} {outcome.result}: {_first_error(error)}\n")
            finally:
                outcome.duration = time.monotonic() - start
        if outcome.result == "succeeded" and self.op == "up" and self.verify_args is not None:
            self.progress.update(stack.name, "verifying the client address", milestone=True)
            outcome.verdict = run_verify(stack.name, self.verify_args, self.verify_timeout)
            outcome.duration = time.monotonic() - start
            if not outcome.verdict.get("ok"):
                outcome.result = "failed"
                outcome.detail = (
                    f"verify: {outcome.verdict.get('verdict')}: {outcome.verdict.get('diagnosis')}"
                )
        self.progress.update(
            stack.name, f"{outcome.result} ({outcome.changes or '-'}, {outcome.duration:.1f}s)", True
        )

    def _operate(self, stack: StackFile, outcome: Outcome, log: IO[str]) -> None:
        from pulumi import automation as auto

        workspace = auto.LocalWorkspace(work_dir=str(ROOT), env_vars=self.env, pulumi_command=self.command)
        lock = threading.Lock()
        steps = {"n": 0}

        def write(line: str) -> None:
            with lock:
                log.write(line + "\n")
                log.flush()

        def on_event(event: Any) -> None:
            pre = event.resource_pre_event
            if pre is not None and pre.metadata.op.value not in ("same", "read"):
                steps["n"] += 1
                meta = pre.metadata
                self.progress.update(
                    stack.name, f"{self.op}: {steps['n']} step(s), {meta.op.value} {meta.type}"
                )
            if event.diagnostic_event is not None and event.diagnostic_event.severity == "error":
                message = " ".join(event.diagnostic_event.message.split())
                outcome.detail = outcome.detail or f"error: {message}"[:200]
                self.progress.update(stack.name, f"{self.op}: error: {message[:80]}")

        self.progress.update(stack.name, f"{self.op}: selecting the stack", milestone=True)
        with self.select_lock:
            if self.op == "destroy":
                try:
                    selected = auto.Stack.select(stack.name, workspace)
                except auto.StackNotFoundError:
                    outcome.result, outcome.changes = "skipped", "none"
                    backend = {**os.environ, **self.env}.get("PULUMI_BACKEND_URL") or "the backend"
                    outcome.detail = f"no stack {stack.name} in {backend}: nothing to destroy"
                    return
            else:
                selected = auto.Stack.create_or_select(stack.name, workspace)
        self.progress.update(stack.name, f"{self.op}: running", milestone=True)
        if self.op == "preview":
            preview = selected.preview(on_output=write, on_error=write, on_event=on_event, color="never")
            outcome.changes = format_changes(preview.change_summary)
        elif self.op == "up":
            up = selected.up(on_output=write, on_error=write, on_event=on_event, color="never")
            outcome.changes = format_changes(up.summary.resource_changes or {})
        else:
            destroyed = selected.destroy(on_output=write, on_error=write, on_event=on_event, color="never")
            outcome.changes = format_changes(destroyed.summary.resource_changes or {})
        outcome.result = "succeeded"


def _first_error(error: Exception) -> str:
    """The CLI's last `error:` line on stderr (CommandError's text ends with ` stderr: ...`),
    else the exception's last line."""
    text = str(error)
    stderr = text.split("\n stderr: ", 1)[1] if "\n stderr: " in text else text
    errors = [line.strip() for line in stderr.splitlines() if line.strip().startswith("error:")]
    return (errors or stderr.strip().splitlines() or [type(error).__name__])[-1][:200]


# ---------------------------------------------------------------------------------------------
# verify: tools.verify per stack, as a subprocess (its CLI and --json shape are its interface)


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


# ---------------------------------------------------------------------------------------------
# operator: Pulumi Kubernetes Operator v2.9.0 Stack objects


def stack_object(stack: StackFile, args: argparse.Namespace) -> dict[str, Any]:
    """One `pulumi.com/v1` Stack. Every credential is a Secret reference (operator v2.9.0,
    operator/internal/controller/pulumi/stack_controller.go): envRefs of type Secret become the workspace
    pod's env from secretKeyRef; secretsRef of type Secret is mounted into the `pulumi` container and set as
    secret stack config from that file."""
    secret = args.credentials_secret
    env_refs: dict[str, Any] = {
        "PULUMI_BACKEND_URL": {"type": "Secret", "secret": {"name": secret, "key": "PULUMI_BACKEND_URL"}},
    }
    for name in args.secret_env:
        env_refs[name] = {"type": "Secret", "secret": {"name": secret, "key": name}}
    spec: dict[str, Any] = {
        "stack": f"{args.org}/{stack.name}" if args.org else stack.name,
        "projectRepo": args.repo,
        "branch": args.branch,
        "envRefs": env_refs,
        "secretsRef": {
            "kubernetes:kubeconfig": {
                "type": "Secret",
                "secret": {"name": f"{args.kubeconfig_prefix}{stack.name}", "key": "kubeconfig"},
            }
        },
        "serviceAccountName": args.service_account,
        # Deleting the Stack object must not tear the cluster's ingress down: destroy is a separate decision.
        "destroyOnFinalize": False,
        "refresh": True,
    }
    if args.repo_dir:
        spec["repoDir"] = args.repo_dir
    if args.secrets_provider:
        spec["secretsProvider"] = args.secrets_provider
    else:
        env_refs["PULUMI_CONFIG_PASSPHRASE"] = {
            "type": "Secret",
            "secret": {"name": secret, "key": "PULUMI_CONFIG_PASSPHRASE"},
        }
    return {
        "apiVersion": STACK_API_VERSION,
        "kind": "Stack",
        "metadata": {
            "name": f"{NAMESPACE}-{stack.name}",
            "namespace": args.namespace,
            "labels": {"app.kubernetes.io/part-of": NAMESPACE, f"{NAMESPACE}/platform": stack.platform},
        },
        "spec": spec,
    }


def check_operator_args(stacks: list[StackFile], args: argparse.Namespace) -> None:
    if not args.repo:
        raise UsageError("operator needs --repo URL: the git repository the operator clones (this project)")
    if not args.out:
        raise UsageError("operator needs --out DIR: where to write the Stack objects")
    if not re.fullmatch(r"(https?|ssh)://\S+|git@[^\s:]+:\S+", args.repo):
        raise UsageError(f"--repo must be a git URL (https://, ssh:// or git@host:path), got {args.repo!r}")
    if not args.branch.strip():
        raise UsageError("--branch must not be empty")
    for label, value in (("--namespace", args.namespace), ("--credentials-secret", args.credentials_secret)):
        if not DNS_LABEL.fullmatch(value) or len(value) > 63:
            raise UsageError(f"{label} must be a DNS label (lowercase letters, digits, '-'), got {value!r}")
    if args.secrets_provider and not re.fullmatch(r"[a-z0-9]+://\S*", args.secrets_provider):
        raise UsageError(
            f"--secrets-provider must be a URL such as awskms://... , got {args.secrets_provider!r}"
        )
    for name in args.secret_env:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise UsageError(f"--secret-env must name an environment variable, got {name!r}")
    for stack in stacks:
        for what, value in (
            ("Stack object name", f"{NAMESPACE}-{stack.name}"),
            ("kubeconfig Secret name", f"{args.kubeconfig_prefix}{stack.name}"),
        ):
            if not DNS_LABEL.fullmatch(value) or len(value) > 63:
                raise UsageError(f"stack {stack.name!r}: its {what} {value!r} is not a DNS label")


def write_operator(stacks: list[StackFile], args: argparse.Namespace) -> Path:
    """manifests.yaml (every Stack, for kubectl apply and check-render) and an empty releases.yaml,
    written into a temporary directory beside --out and renamed into place: all or nothing."""
    out = Path(args.out).resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a directory")
    if out.exists() and any(p.name not in ("manifests.yaml", "releases.yaml") for p in out.iterdir()):
        raise UsageError(
            f"--out {args.out} holds other files: give an empty or new directory (or the previous output)"
        )
    objects = [stack_object(s, args) for s in stacks]
    text = "".join("---\n" + yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objects)
    releases = (
        "# The operator installs no Helm release itself; the program's releases run in its workspace.\n[]\n"
    )
    try:
        swap_in(out, {"manifests.yaml": text, "releases.yaml": releases})
    except OSError as error:
        raise UsageError(f"cannot write {args.out}: {error.strerror or error}") from None
    return out


# ---------------------------------------------------------------------------------------------
# CLI


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line and exit 2, as every tool here
        raise UsageError(f"{self.prog}: {message}")


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
        if op == "up":
            p.add_argument("--no-verify", action="store_true", help="do not run verify after a successful up")
    v = sub.add_parser("verify", parents=[common, checks], help="one client-IP verdict per stack")
    fmt = v.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="a JSON list, one object per stack")
    fmt.add_argument("--markdown", action="store_true", help="a Markdown table (a pull-request comment)")
    o = sub.add_parser("operator", parents=[common], help="Pulumi Kubernetes Operator Stack objects (GitOps)")
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
    o.add_argument("--service-account", default="pulumi", help="the workspace pod's service account (pulumi)")
    return ap


def main(argv: list[str] | None = None, stdout: IO[str] | None = None) -> int:
    out = stdout or sys.stdout
    try:
        try:
            args = parser().parse_args(argv)
        except SystemExit as stop:  # --help
            return int(stop.code or 0)
        stacks = select(args.stacks, args.all, args.platform)
        if args.command == "operator":
            check_operator_args(stacks, args)
            path = write_operator(stacks, args)
            print(f"wrote {len(stacks)} Stack object(s) to {path / 'manifests.yaml'}", file=out)
            return 0
        options = verify_options(args)
        timeout = args.timeout or 60.0
        if args.command == "verify":
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


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def run_operation(
    args: argparse.Namespace, stacks: list[StackFile], options: list[str], timeout: float, out: IO[str]
) -> int:
    log_dir = (args.log_dir or ROOT / ".fleet" / args.command).resolve()
    progress = Progress([s.name for s in stacks])
    runner = Runner(args.command, stacks, args.parallel, log_dir, progress)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--log-dir {log_dir}: {error.strerror or error}") from None
    if runner.env.get("PULUMI_BACKEND_URL", "").startswith("file://"):
        Path(runner.env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    verify = args.command == "up" and not args.no_verify
    if verify:
        runner.verify_args, runner.verify_timeout = options, timeout
    # SIGTERM (a CI cancel, `kill`) as Ctrl-C: each `pulumi` runs in its own session and would
    # otherwise go on alone after this process ended.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        outcomes, interrupted = runner.run_all()
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(outcome_table(outcomes, verify), file=out)
    if interrupted:
        return 130
    return 0 if all(o.result in ("succeeded", "skipped") for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
