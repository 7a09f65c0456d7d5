"""Typed stack config, validated before any resource is registered.

The config contract lives in namespace `istio-source-ip`. `parse_config` takes the raw
key/value strings exactly as the Pulumi CLI hands them to the program (objects and lists as
JSON strings) and returns a `StackConfig`, or raises `ConfigError` listing every problem as
`istio-source-ip:<key path>: <what is wrong> (got <value>); <what is allowed>`.

The package by job: `models` (the keys, their types, defaults and meanings, and single-value checks),
`rules` (rules that span keys), `messages` (how a problem is told); this module reads and validates.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import sys
from typing import Any

import pulumi
from pydantic import ValidationError

from source_ip.config.messages import _SHOWN_MAX, NAMESPACE, ConfigError, Problem, _clip, _problem
from source_ip.config.models import (
    PROGRAM_COMPONENTS,
    AddressSpan,
    EchoConfig,
    GatewayConfig,
    GatewayEntry,
    GatewayItem,
    IstioConfig,
    MetalLBConfig,
    SourceIpChoice,
    StackConfig,
    parse_address_range,
)
from source_ip.config.rules import _upsert_problems, declared_namespaces, semantic_problems

__all__ = [
    "NAMESPACE",
    "PROGRAM_COMPONENTS",
    "AddressSpan",
    "ConfigError",
    "EchoConfig",
    "GatewayConfig",
    "GatewayEntry",
    "GatewayItem",
    "IstioConfig",
    "MetalLBConfig",
    "Problem",
    "SourceIpChoice",
    "StackConfig",
    "declared_namespaces",
    "load_stack_config",
    "near_miss_namespace_warnings",
    "parse_address_range",
    "parse_config",
    "raw_config_from_runtime",
    "semantic_problems",
]


def parse_config(raw: dict[str, str], environ: dict[str, str] | None = None) -> StackConfig:
    """Validate raw `istio-source-ip:*` config strings into a StackConfig, or raise ConfigError.

    `raw` may hold other namespaces' keys too (they are not ours, but `kubernetes:upsertExistingObjects` is
    read); `environ` is the program's environment (default: none), for PULUMI_K8S_UPSERT_EXISTING_OBJECTS.
    """
    values: dict[str, Any] = {}
    undecodable: list[Problem] = []
    for key, value in sorted(raw.items()):
        if _ours(key):
            try:
                values[key.split(":", 1)[1]] = _decode(value)
            except _UndecodableError as error:
                undecodable.append(Problem(key, value, str(error)))
    if undecodable:
        raise ConfigError(undecodable)
    try:
        config = StackConfig.model_validate(values)
    except ValidationError as error:
        problems = [_problem(StackConfig, e) for e in error.errors()]
        raise ConfigError(problems + _problems_elsewhere(values, error, raw, environ or {})) from None
    problems = semantic_problems(config) + _upsert_problems(config, raw, environ or {})
    if problems:
        raise ConfigError(problems)
    return config


def _up_to_a_list(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    for index, part in enumerate(loc):
        if isinstance(part, int):
            return loc[:index]
    return loc


def _problems_elsewhere(
    values: dict[str, Any], error: ValidationError, raw: dict[str, str], environ: dict[str, str]
) -> list[Problem]:
    """The rules' problems in the sections the type check found nothing wrong with, so one round reports
    every problem of a stack file: when the only failures are unknown keys (typos), they are set aside and
    the rest checked again; a rule's problem in a section that held one is left out."""
    # Only unknown keys are set aside: they are read by nothing, so the rest means what it says. A value
    # that failed its type (echo.host, gateway.name, ...) is read by rules of other sections, which would
    # then judge its default instead and report problems the user never wrote.
    if any(e["type"] != "extra_forbidden" for e in error.errors()):
        return []
    locs = [_up_to_a_list(tuple(e["loc"])) for e in error.errors()]
    if ("gateways",) in locs:
        return []
    pruned = copy.deepcopy(values)
    for loc in locs:
        parent: Any = pruned
        for part in loc[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(loc[-1], None)
    try:
        config = StackConfig.model_validate(pruned)
    except ValidationError:
        return []
    sections = {loc[0] for loc in locs}
    return [
        p
        for p in semantic_problems(config) + _upsert_problems(config, raw, environ)
        if p.key.removeprefix(f"{NAMESPACE}:").split(".")[0].split("[")[0] not in sections
    ]


def _ours(key: str) -> bool:
    return key.startswith(f"{NAMESPACE}:")


_MAX_DEPTH = 16
"""No config key is nested more than a few levels (gateways[i].serviceAnnotations.<key> is 3)."""


class _UndecodableError(ValueError):
    pass


def _decode(value: Any) -> Any:
    """The CLI passes objects and lists as JSON strings and scalars as strings. A JSON text nested
    deeper than any key of the config is refused (the decoder itself gives up at about 1,000 levels)."""
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except RecursionError:
        decoded = _TOO_DEEP
    except ValueError as error:
        if "integer string conversion" in str(error):  # sys.get_int_max_str_digits(), 4300 by default
            raise _UndecodableError(
                f"holds an integer of more than {sys.get_int_max_str_digits()} digits, more than any key "
                "of the config takes; allowed: the numbers the config reference describes"
            ) from None
        return value
    if decoded is _TOO_DEEP or _nesting(decoded) > _MAX_DEPTH:
        raise _UndecodableError(
            f"is nested more than {_MAX_DEPTH} levels deep, deeper than any key of the config; allowed: an "
            "object or list as the config reference describes it"
        )
    return decoded


_TOO_DEEP = object()


def _nesting(value: Any) -> int:
    """How deep lists and objects nest in a decoded JSON value (without recursion)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def near_miss_namespace_warnings(raw: dict[str, str]) -> list[str]:
    """A warning for each config key whose namespace is almost `istio-source-ip` (case, a character, `_`
    for `-`): Pulumi passes it to the program, which would ignore it silently."""
    warnings = []
    for key in sorted(raw):
        namespace, sep, name = key.partition(":")
        if not sep or namespace == NAMESPACE:
            continue
        folded = re.sub(r"[^a-z0-9]", "", namespace.lower())
        similar = len(namespace) < 2 * len(NAMESPACE) and (
            difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.85
        )
        near = similar or folded == re.sub(r"[^a-z0-9]", "", NAMESPACE)
        if near:
            warnings.append(
                f"config key {_clip(key, _SHOWN_MAX)} is in namespace {_clip(namespace, _SHOWN_MAX)}, "
                f"not {NAMESPACE}: it is ignored; did you mean {NAMESPACE}:{_clip(name, _SHOWN_MAX)}?"
            )
    return warnings


def raw_config_from_runtime() -> dict[str, str]:
    """Every `istio-source-ip:*` key the Pulumi engine passed to this program.

    The language host passes config as the JSON bag PULUMI_CONFIG; the Automation API and the
    mocks set it in-process. Listing all keys (not just the known ones) is what lets a typo be
    reported instead of silently ignored.
    """
    return {key: value for key, value in _runtime_config().items() if _ours(key)}


def _runtime_config() -> dict[str, str]:
    """Every config key of every namespace the engine passed (near-miss namespaces, provider settings)."""
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def load_stack_config() -> StackConfig:
    """The validated config of the running stack (raises ConfigError before any resource). Keys in a
    namespace that is almost ours are warned about by name first."""
    raw = _runtime_config()
    for warning in near_miss_namespace_warnings(raw):
        pulumi.log.warn(warning)
    return parse_config(raw, dict(os.environ))
