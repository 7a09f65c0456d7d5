"""Config fuzzing: arbitrary and near-miss stack configs either validate or are rejected with
messages naming a key — never a traceback, never a resource registered before the rejection.
The number of cases tried is printed in the test summary."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from source_ip.config import (
    ConfigError,
)
from tests.config_fuzzing import FUZZ_COUNTS, arbitrary, check_parse, near_miss, risky
from tools.program import ProgramRun, run_program


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arbitrary | near_miss())
def test_parsing_never_crashes(raw: dict[str, Any]) -> None:
    check_parse(raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(risky())
def test_risky_configs_are_refused_by_key_or_accepted_without_a_bypass(raw: dict[str, str]) -> None:
    before = FUZZ_COUNTS["accepted"]
    check_parse(raw)
    FUZZ_COUNTS["risky-accepted" if FUZZ_COUNTS["accepted"] > before else "risky-refused"] += 1


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
