"""Selection: the project's Pulumi.<stack>.yaml files and which of them a command runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.yamlio import SAFE_LOADER

from .kinds import NAMESPACE, ROOT, UsageError


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
