"""fleet: run many stacks at once and get one client-IP verdict per cluster.

Modules, by job: `kinds` (the usage error, the project's facts), `selection` (stack files and the
selection), `report` (outcomes, tables, live progress), `runner` (the Automation API and the
interrupts), `checks` (verify per stack, the verdict table), `operator` (Pulumi Kubernetes Operator
objects), `cli`. The reference is docs/fleet.md.
"""

from .checks import arrived, run_verify, verdict_markdown, verdict_table, verify_fleet, verify_options
from .cli import main, parser
from .kinds import NAMESPACE, OPERATIONS, ROOT, UsageError
from .operator import check_operator_args, stack_object, write_operator
from .report import Outcome, Progress, format_changes, outcome_table, table
from .runner import Runner, run_operation
from .selection import StackFile, discover, select

__all__ = [
    "NAMESPACE",
    "OPERATIONS",
    "ROOT",
    "Outcome",
    "Progress",
    "Runner",
    "StackFile",
    "UsageError",
    "arrived",
    "check_operator_args",
    "discover",
    "format_changes",
    "main",
    "outcome_table",
    "parser",
    "run_operation",
    "run_verify",
    "select",
    "stack_object",
    "table",
    "verdict_markdown",
    "verdict_table",
    "verify_fleet",
    "verify_options",
    "write_operator",
]
