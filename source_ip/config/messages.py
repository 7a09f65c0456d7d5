"""How a refused config is told: one line per problem, naming the key, the value and what is allowed."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

import pulumi
from pydantic import (
    BaseModel,
)

from source_ip import facts
from source_ip.facts import (
    PLATFORMS,
)

NAMESPACE = "istio-source-ip"
"""The Pulumi config namespace of every key the program reads."""


@dataclass(frozen=True)
class Problem:
    key: str
    """Full config key, e.g. `istio-source-ip:gateway.replicas`."""
    value: Any
    message: str

    def __str__(self) -> str:
        got = "" if self.value is _MISSING else f" (got {_shown(self.value)})"
        message = _clip(self.message, _MESSAGE_MAX)
        return f"{_clip(self.key, _SHOWN_MAX)}: {message.split(';', 1)[0]}{got}{_tail(message)}"


_SHOWN_MAX = 200
"""How much of a value or key a message repeats; the rest is cut, with a marker saying how long it was."""
_MESSAGE_MAX = 2000


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [cut: {len(text)} characters in all]"


def _shown(value: Any) -> str:
    """The value as JSON, cut to a readable length; never an error (huge integers, deep nesting)."""
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        if isinstance(value, int):
            return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
        text = _clip(repr(value), _SHOWN_MAX) if isinstance(value, str) else type(value).__name__
    return _clip(text, _SHOWN_MAX)


def _tail(message: str) -> str:
    _, sep, rest = message.partition(";")
    return f";{rest}" if sep else ""


_MISSING = object()


class ConfigError(pulumi.RunError):
    """Invalid stack config. Raised before any resource is registered; shown without a traceback."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"invalid stack config, nothing was deployed:\n{lines}")


def _key(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{NAMESPACE}:{path}"


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The config model at a key path (list indexes and `| None` are looked through)."""
    model: type[BaseModel] = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        found = _model_in(field.annotation) if field else None
        if found is None:
            return None
        model = found
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _problem(root: type[BaseModel], error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        allowed = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
        typed = str(loc[-1])
        close = difflib.get_close_matches(typed, allowed, n=1) if len(typed) <= _SHOWN_MAX else []
        hint = f"; did you mean {close[0]!r}?" if close else ""
        head = str(loc[-1]).split(".", 1)[0].split("[", 1)[0]
        if len(loc) == 1 and head != loc[-1] and head in allowed:
            # `pulumi config set istio-source-ip:gateway.replicas 3` makes one flat key;
            # --path makes the object.
            hint = (
                f"; this sets one flat key named {loc[-1]!r}: set the nested value with "
                f"pulumi config set --path '{NAMESPACE}:{loc[-1]}' <value>"
            )
        return Problem(
            _key(loc), error["input"], f"unknown key; allowed keys here: {', '.join(allowed)}{hint}"
        )
    if kind == "missing":
        platforms = f"; allowed: {', '.join(sorted(PLATFORMS))}" if loc == ("platform",) else ""
        return Problem(_key(loc), _MISSING, f"is required{platforms}")
    if kind == "int_parsing_size":  # more digits than int() reads (sys.get_int_max_str_digits())
        return Problem(
            _key(loc),
            error["input"],
            f"is a number with more digits than any key takes; allowed: replicas and maxReplicas 1 to "
            f"{facts.INT32_MAX}, numTrustedProxies 0 to {facts.UINT32_MAX}",
        )
    message = error["msg"].removeprefix("Value error, ")
    if kind == "literal_error":
        message = f"not an allowed value; {message[0].lower()}{message[1:]}"
    elif not kind.startswith("value_error"):
        message = f"wrong value; allowed: {message[0].lower()}{message[1:]}"
    return Problem(_key(loc), error["input"], message)
