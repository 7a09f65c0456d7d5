"""The Automation API path: preview, up and destroy over the selected stacks, the interrupts."""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from tools.verify.backend import backend_defaults, describe

from . import checks
from .kinds import OPERATIONS, ROOT, UsageError
from .report import Outcome, Progress, format_changes, outcome_table
from .selection import StackFile, plan_waves


class Runner:
    """Runs one operation over the selected stacks through the Automation API."""

    def __init__(
        self, op: str, stacks: list[StackFile], parallel: int, log_dir: Path, progress: Progress
    ) -> None:
        self.op, self.stacks, self.parallel = op, stacks, parallel
        self.log_dir, self.progress = log_dir, progress
        self.cancelled = threading.Event()
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.finished: set[str] = set()
        """Stacks whose preview/up/destroy exited 0: never reported cancelled by a later interrupt."""
        self.lock = threading.Lock()
        # `stack select` also records the workspace's current stack, one file for every stack of the
        # project: selections run one at a time, the operations (each naming its stack) in parallel.
        self.select_lock = threading.Lock()
        self.env = backend_defaults()
        self.command = self._command()
        self.verify_args: list[str] | None = None
        self.drift = False
        """preview --drift: refresh first, and any change is a failure (what drifted from the state)."""
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
            sep += 1
        words = [a for a in args[:sep] if not a.startswith("-")]
        operation = bool(words) and words[0] in OPERATIONS
        env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true"}
        with self.lock:
            # After an interrupt nothing that changes a stack starts; the reads the SDK makes after a
            # finished operation (`stack output`, `stack history`) still do, so that the operation is
            # reported as it ended.
            if self.cancelled.is_set() and words[:2] not in (["stack", "output"], ["stack", "history"]):
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
            if operation and code == 0:
                self.finished.add(stack)
        result = CommandResult(stdout="\n".join(chunks["out"]), stderr="\n".join(chunks["err"]), code=code)
        if code != 0:
            raise create_command_error(result)
        return result

    def interrupt(self) -> None:
        """Ctrl-C: start nothing new; one SIGINT to each running `pulumi` (a second Ctrl-C, a second)."""
        self.cancelled.set()
        with self.lock:
            running = [
                (s, p) for s, p in self.processes.items() if p.poll() is None and s not in self.finished
            ]
        for stack, process in running:
            self.progress.update(stack, "cancelling (Ctrl-C again stops at once)", milestone=True)
            try:
                process.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass

    def run_all(self, waves: list[list[StackFile]] | None = None) -> tuple[list[Outcome], bool]:
        """Each wave after the previous one: a wave starts only when every stack of the one before
        succeeded (for `up` with verify: deployed and verified); else the later waves are skipped."""
        waves = waves or [self.stacks]
        outcomes = {s.name: Outcome(s.name, s.platform) for wave in waves for s in wave}
        interrupted = False
        for number, wave in enumerate(waves, 1):
            if interrupted:
                for stack in wave:
                    outcomes[stack.name].result = "cancelled"
                    outcomes[stack.name].detail = "not started: the run was interrupted"
                continue
            failed = [o.stack for o in outcomes.values() if o.result == "failed"]
            if failed:
                for stack in wave:
                    outcomes[
                        stack.name
                    ].detail = (
                        f"wave {number} not started: an earlier wave did not succeed ({', '.join(failed)})"
                    )
                    self.progress.update(stack.name, "skipped (an earlier wave failed)", milestone=True)
                continue
            if len(waves) > 1:
                self.progress.update(wave[0].name, f"wave {number} of {len(waves)} starts", milestone=True)
            interrupted = self._run_wave(wave, outcomes)
        return [outcomes[s.name] for wave in waves for s in wave], interrupted

    def _run_wave(self, wave: list[StackFile], outcomes: dict[str, Outcome]) -> bool:
        interrupted = False
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.parallel) as pool:
            pending = {pool.submit(self._one, s, outcomes[s.name]) for s in wave}
            while pending:
                try:
                    _, pending = concurrent.futures.wait(pending, timeout=0.1)
                except KeyboardInterrupt:
                    interrupted = True
                    self.interrupt()
        return interrupted or self.cancelled.is_set()

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
                if stack.name in self.finished:  # the operation ended well; a read after it failed
                    outcome.result, outcome.changes = "succeeded", outcome.changes or "?"
                    log.write(
                        f"\nfleet: {self.op} succeeded; a read after it failed: {_first_error(error)}\n"
                    )
                else:
                    outcome.result = "cancelled" if self.cancelled.is_set() else "failed"
                    outcome.detail = outcome.detail or _first_error(error)
                    log.write(f"\nfleet: {self.op} {outcome.result}: {_first_error(error)}\n")
            finally:
                outcome.duration = time.monotonic() - start
        if outcome.result == "succeeded" and self.op == "up" and self.verify_args is not None:
            if self.cancelled.is_set():  # deployed: never "cancelled", but not verified either
                outcome.verdict = {"verdict": "not-verified", "ok": False}
                outcome.detail = "deployed; verify did not run: the run was interrupted"
                self.progress.update(stack.name, "succeeded, not verified (interrupted)", milestone=True)
                return
            self.progress.update(stack.name, "verifying the client address", milestone=True)
            outcome.verdict = checks.run_verify(stack.name, self.verify_args, self.verify_timeout)
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
            preview = selected.preview(
                on_output=write,
                on_error=write,
                on_event=on_event,
                color="never",
                refresh=True if self.drift else None,  # the change summary, not the CLI's
            )  # --expect-no-changes error, tells the drift: the same message with any CLI
            outcome.changes = format_changes(preview.change_summary)
            if self.drift and outcome.changes != "none":
                outcome.result, outcome.detail = "failed", f"drift: the cluster differs ({outcome.changes})"
                return
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


def run_operation(
    args: argparse.Namespace, stacks: list[StackFile], options: list[str], timeout: float, out: IO[str]
) -> int:
    waves = plan_waves(stacks, args.waves) if args.command == "up" else [stacks]
    log_dir = (args.log_dir or ROOT / ".fleet" / args.command).resolve()
    print(describe(), file=sys.stderr)
    progress = Progress([s.name for wave in waves for s in wave])
    runner = Runner(args.command, stacks, args.parallel, log_dir, progress)
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--log-dir {log_dir}: {error.strerror or error}") from None
    if runner.env.get("PULUMI_BACKEND_URL", "").startswith("file://"):
        Path(runner.env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    runner.drift = bool(getattr(args, "drift", False))
    verify = args.command == "up" and not args.no_verify
    if verify:
        runner.verify_args, runner.verify_timeout = options, timeout
    outcomes, interrupted = runner.run_all(waves)
    print(outcome_table(outcomes, verify), file=out)
    if interrupted:
        return 130
    return 0 if all(o.result in ("succeeded", "skipped") for o in outcomes) and not _gated(outcomes) else 1


def _gated(outcomes: list[Outcome]) -> bool:
    """Whether a failure kept a later wave from starting (its stacks are skipped with that reason)."""
    return any(o.result == "skipped" and o.detail.startswith("wave ") for o in outcomes)
