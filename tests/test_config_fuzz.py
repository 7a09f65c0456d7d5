"""Config fuzzing: arbitrary and near-miss stack configs either validate or are rejected with
messages naming a key — never a traceback, never a resource registered before the rejection.
The number of cases tried is printed in the test summary."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from source_ip.config import NAMESPACE, ConfigError, parse_config
from tests.conftest import STACKS, stack_raw_config
from tools.program import ProgramRun, run_program

FUZZ_COUNTS: Counter[str] = Counter()

KNOWN = ["platform", "routing", "sourceIp", "istio", "gateway", "gateways", "echo", "metallb", "allowlist", "accessLogs"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def typo(word: str, position: int) -> str:
    """Drop one character (a common typo); short words get one added instead."""
    if len(word) <= 3:
        return word + "x"
    i = position % len(word)
    return word[:i] + word[i + 1 :]


@st.composite
def near_miss(draw: st.DrawFn) -> dict[str, str]:
    """A shipped stack's config with a few mutations: typos, wrong types, odd values, dropped keys."""
    config: dict[str, Any] = {
        k.split(":", 1)[1]: json.loads(v) if v[:1] in "{[" else v
        for k, v in stack_raw_config(draw(st.sampled_from(STACKS))).items()
        if k.startswith(f"{NAMESPACE}:")
    }
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(config) or KNOWN))
        action = draw(st.sampled_from(["typo", "value", "nested", "drop", "nested-typo"]))
        if action == "typo" and key in config:
            config[typo(key, draw(st.integers(0, 20)))] = config.pop(key)
        elif action == "value":
            config[key] = draw(json_values)
        elif action == "drop":
            config.pop(key, None)
        elif isinstance(config.get(key), dict) and config[key]:
            inner = draw(st.sampled_from(sorted(config[key])))
            if action == "nested":
                config[key][inner] = draw(json_values)
            else:
                config[key][typo(inner, draw(st.integers(0, 20)))] = config[key].pop(inner)
    return {f"{NAMESPACE}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


arbitrary = st.dictionaries(
    st.sampled_from(KNOWN) | st.text(min_size=1, max_size=10),
    json_values.map(lambda v: v if isinstance(v, str) else json.dumps(v)),
    max_size=6,
).map(lambda d: {f"{NAMESPACE}:{k}": v for k, v in d.items()})


def check_parse(raw: dict[str, str]) -> None:
    try:
        parse_config(raw)
        FUZZ_COUNTS["accepted"] += 1
    except Exception as error:
        if not isinstance(error, ConfigError):
            FUZZ_COUNTS["crashes"] += 1
            raise
        FUZZ_COUNTS["rejected"] += 1
        assert error.problems
        for problem in error.problems:
            assert problem.key.startswith(f"{NAMESPACE}:"), problem
            assert str(problem).startswith(problem.key + ": ")
    FUZZ_COUNTS["parsed"] += 1


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arbitrary | near_miss())
def test_parsing_never_crashes(raw: dict[str, Any]) -> None:
    check_parse(raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_miss())
def test_program_registers_nothing_before_a_rejection(raw: dict[str, str]) -> None:
    record = ProgramRun()
    try:
        run_program(raw, record=record)
        FUZZ_COUNTS["program-ran"] += 1
        assert record.resources
    except Exception as error:
        if not isinstance(error, ConfigError):
            FUZZ_COUNTS["crashes"] += 1
            raise
        FUZZ_COUNTS["program-rejected"] += 1
        assert record.resources == [] and error.problems
