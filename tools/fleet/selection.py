"""Selection: the project's Pulumi.<stack>.yaml files, which of them a command runs, and in which waves.

A stack file that cannot be read, or whose name Pulumi would refuse, fails only a command that
selects it (by --stacks, --waves or --all); --platform passes it over with a warning, since its
platform cannot be known."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.yamlio import SAFE_LOADER

from .facts import STACK_NAME, WAVE_KEY
from .kinds import NAMESPACE, ROOT, UsageError


@dataclass(frozen=True)
class StackFile:
    name: str
    platform: str
    wave: int | None = None
    problem: str | None = None
    local: bool = False
    """Its kubernetes:context is a kind cluster's (kind-...): a laptop's, never a CI default."""
    """Why this stack cannot run (its file cannot be read, its name or wave is refused), else None."""


def name_problem(name: str) -> str | None:
    """Why Pulumi would refuse `name` as a stack name (tools/fleet/facts.py STACK_NAME), or None."""
    if STACK_NAME.fullmatch(name):
        return None
    if not name or len(name) > 100:
        return "a stack name has 1 to 100 characters"
    bad = next(c for c in name if not STACK_NAME.fullmatch(c))
    return f"a stack name holds only letters, digits, '-', '_' and '.', not {bad!r}"


def _read(name: str, path: Path) -> StackFile:
    problem = name_problem(name)
    if problem:
        return StackFile(name, "?", problem=f"{path.name}: Pulumi refuses the stack name {name!r}: {problem}")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        return StackFile(name, "?", problem=f"{path.name} cannot be read as YAML: {first}")
    config = data.get("config") if isinstance(data, dict) else None
    config = config if isinstance(config, dict) else {}
    platform = config.get(f"{NAMESPACE}:platform")
    platform = platform if isinstance(platform, str) else "?"
    wave = config.get(WAVE_KEY)
    if wave is not None and (isinstance(wave, bool) or not isinstance(wave, int) or wave < 0):
        return StackFile(
            name,
            platform,
            problem=f"{path.name}: {WAVE_KEY} must be a whole number (0, 1, 2, ...; lowest first): {wave!r}",
        )
    context = config.get("kubernetes:context")
    return StackFile(name, platform, wave, local=isinstance(context, str) and context.startswith("kind-"))


def discover(root: Path | None = None) -> dict[str, StackFile]:
    """Every Pulumi.<stack>.yaml of the project, with its platform ("?" if unset) and wave; a file that
    cannot be used carries its problem instead of stopping the others."""
    paths = {
        p.name.removeprefix("Pulumi.").removesuffix(".yaml"): p for p in (root or ROOT).glob("Pulumi.*.yaml")
    }
    return {name: _read(name, path) for name, path in sorted(paths.items())}


def _names(flag: str, value: str, known: dict[str, StackFile]) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise UsageError(f"{flag} is empty: name at least one stack (e.g. {flag} dev,aws)")
    for name in names:
        problem = name_problem(name)
        if problem:
            raise UsageError(f"{flag} {value!r}: Pulumi refuses the stack name {name!r}: {problem}")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"{flag}: unknown stack {', '.join(repr(n) for n in unknown)}: "
            "there is no Pulumi.<stack>.yaml for it; "
            f"known: {', '.join(known) or 'none'}"
        )
    return list(dict.fromkeys(names))


def select(
    stacks: str | None,
    every: bool,
    platform: str | None,
    root: Path | None = None,
    waves: str | None = None,
) -> list[StackFile]:
    known = discover(root)
    chosen_by = [
        flag for flag, given in (("--stacks", stacks), ("--all", every), ("--waves", waves)) if given
    ]
    if not chosen_by and platform is None:
        raise UsageError("choose the stacks: --stacks a,b, --all, --waves 'a;b,c' or --platform NAME")
    if len(chosen_by) > 1:
        raise UsageError(f"{' and '.join(chosen_by)} exclude each other: give one of them")
    if waves is not None:
        names = [n for wave in parse_waves(waves, known) for n in wave]
        chosen = [known[n] for n in names]
    elif stacks is not None:
        chosen = [known[n] for n in _names("--stacks", stacks, known)]
    else:
        chosen = list(known.values())
    if platform is not None:
        passed_over = [s for s in chosen if s.problem and not (stacks or waves)]
        for stack in passed_over:
            print(f"warning: --platform {platform}: passed over {stack.problem}", file=sys.stderr)
        chosen = [s for s in chosen if s.platform == platform and s not in passed_over]
    broken = [s for s in chosen if s.problem]
    if broken:
        raise UsageError(
            f"{chosen_by[0]} selects stack {broken[0].name!r}, which cannot run: {broken[0].problem}"
        )
    if not chosen:
        platforms = sorted({s.platform for s in known.values()})
        raise UsageError(
            f"the selection is empty: no stack has platform {platform!r}"
            + (f" among --stacks {stacks}" if stacks else "")
            + f"; platforms of the stacks: {', '.join(platforms) or 'none'}"
        )
    return chosen


def parse_waves(value: str, known: dict[str, StackFile]) -> list[list[str]]:
    """--waves "a;b,c;d": waves separated by `;`, the stacks of a wave by `,`; each stack once."""
    waves = [[n.strip() for n in part.split(",") if n.strip()] for part in value.split(";")]
    if not value.strip() or any(not wave for wave in waves):
        raise UsageError(
            f"--waves {value!r}: every wave needs a stack; waves are separated by ';' and the stacks "
            "of a wave by ',', e.g. --waves 'canary;eu-1,eu-2;us-1'"
        )
    seen: set[str] = set()
    for wave in waves:
        _names("--waves", ",".join(wave), known)
        again = [n for n in wave if n in seen]
        if again:
            raise UsageError(f"--waves {value!r}: stack {again[0]!r} is in two waves; put it in one")
        seen.update(wave)
    return waves


def plan_waves(chosen: list[StackFile], waves: str | None) -> list[list[StackFile]]:
    """The rollout order: --waves as given; else by each stack file's fleet:wave (lowest first), the
    stacks without one in a last wave; a selection where no file has a wave is one wave."""
    by_name = {s.name: s for s in chosen}
    if waves is not None:
        return [[by_name[n] for n in wave] for wave in parse_waves(waves, by_name)]
    numbers = sorted({s.wave for s in chosen if s.wave is not None})
    planned = [[s for s in chosen if s.wave == n] for n in numbers]
    rest = [s for s in chosen if s.wave is None]
    return [*planned, rest] if rest else planned
