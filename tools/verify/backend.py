"""The one rule for which Pulumi backend (and passphrase) the project's commands use.

The project's default, a file backend in `<project>/.pulumi-state` with an empty passphrase, applies
only when the user has no backend of their own. The user has one when any of these holds, checked in
this order (the first one named is the one the CLI uses):

1. `PULUMI_BACKEND_URL` is set and not empty: "used instead of the currently logged in backend"
   (pulumi/pulumi, sdk/go/common/workspace/creds.go, `PulumiBackendURLEnvVar`);
2. `pulumi login` recorded a current backend: the `current` key of `credentials.json` in
   `PULUMI_CREDENTIALS_PATH`, else `PULUMI_HOME`, else `~/.pulumi` (the same file, `getCredsFilePath`
   and `Credentials.Current`; paths.go `GetPulumiHomeDir`);
3. `PULUMI_ACCESS_TOKEN` is set: the CLI, with no login recorded, logs into Pulumi Cloud
   (https://api.pulumi.com) with that token, as CI with Pulumi Cloud does.

With a backend of the user's, nothing is set: the CLI finds it itself, and the passphrase is the
user's business (an empty default would encrypt a shared backend's new stacks with an empty passphrase).
With the project's default, `PULUMI_CONFIG_PASSPHRASE=""` is added unless the user set
`PULUMI_CONFIG_PASSPHRASE` (even empty) or a non-empty `PULUMI_CONFIG_PASSPHRASE_FILE`: the CLI reads
a PULUMI_CONFIG_PASSPHRASE, even an empty one, before the file, and ignores an empty file name
(pulumi/pulumi, pkg/secrets/passphrase: `readPassphrase`).

Standard library only, and runnable as a script, so the Makefile asks it before any virtualenv exists:

    python3 tools/verify/backend.py            # prints `export ...` lines for eval, and says which
                                                 # backend on stderr ("backend: ...")
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PULUMI_CLOUD = "https://api.pulumi.com"


def state_dir(root: Path = ROOT) -> Path:
    return root / ".pulumi-state"


def credentials_file(environ: Mapping[str, str]) -> Path:
    """Where `pulumi login` records the current backend (creds.go `getCredsFilePath`)."""
    folder = environ.get("PULUMI_CREDENTIALS_PATH") or environ.get("PULUMI_HOME")
    return Path(folder) / "credentials.json" if folder else Path.home() / ".pulumi" / "credentials.json"


def logged_in(environ: Mapping[str, str]) -> str | None:
    """The backend `pulumi login` made current, if any (an unreadable file counts as none)."""
    try:
        data = json.loads(credentials_file(environ).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    current = data.get("current") if isinstance(data, dict) else None
    return current if isinstance(current, str) and current else None


def users_backend(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(the backend, why) when the user has a backend of their own, else None."""
    if environ.get("PULUMI_BACKEND_URL"):
        return environ["PULUMI_BACKEND_URL"], "PULUMI_BACKEND_URL"
    current = logged_in(environ)
    if current:
        return current, f"your `pulumi login`, {credentials_file(environ)}"
    if environ.get("PULUMI_ACCESS_TOKEN"):
        return PULUMI_CLOUD, "Pulumi Cloud with PULUMI_ACCESS_TOKEN"
    return None


def backend_defaults(environ: Mapping[str, str] | None = None, root: Path = ROOT) -> dict[str, str]:
    """The variables to add to `environ` (os.environ by default): none when the user has a backend,
    else the project's file backend and, unless the user chose one, the empty passphrase."""
    environ = os.environ if environ is None else environ
    if users_backend(environ):
        return {}
    env = {"PULUMI_BACKEND_URL": f"file://{state_dir(root)}"}
    if "PULUMI_CONFIG_PASSPHRASE" not in environ and not environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        env["PULUMI_CONFIG_PASSPHRASE"] = ""
    return env


def describe(environ: Mapping[str, str] | None = None, root: Path = ROOT) -> str:
    """One line saying which backend a command uses, and why."""
    environ = os.environ if environ is None else environ
    own = users_backend(environ)
    if own:
        return f"backend: {own[0]} ({own[1]})"
    return (
        f"backend: file://{state_dir(root)} (the project's default: no PULUMI_BACKEND_URL, "
        "no `pulumi login`, no PULUMI_ACCESS_TOKEN; the state stays on this machine)"
    )


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def exports(environ: Mapping[str, str] | None = None, root: Path = ROOT) -> str:
    """`export` lines for a POSIX shell: the defaults, and the user's own passphrase settings (so that
    `eval "$(make env)"` in another shell gets what the targets get)."""
    environ = os.environ if environ is None else environ
    values = {**backend_defaults(environ, root)}
    for name in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        if name in environ and name not in values and (environ[name] or name != "PULUMI_BACKEND_URL"):
            values[name] = environ[name]
    lines = [f"export {name}={_quoted(value)}" for name, value in values.items()]
    if environ.get("PULUMI_BACKEND_URL") == "":
        lines.insert(0, "unset PULUMI_BACKEND_URL")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the `export` lines (stdout) and the backend line (stderr); make the state folder."""
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--describe"]):
        print("usage: python3 tools/verify/backend.py [--describe]", file=sys.stderr)
        return 2
    print(describe(), file=sys.stderr)
    if argv:
        return 0
    if "PULUMI_BACKEND_URL" in backend_defaults():
        state_dir().mkdir(exist_ok=True)
    text = exports()
    if text:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
