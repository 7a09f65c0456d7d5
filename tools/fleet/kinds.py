"""What every part of the fleet shares: the usage error (exit 2) and the project's facts."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
NAMESPACE = "istio-source-ip"
OPERATIONS = ("preview", "up", "destroy")


class UsageError(Exception):
    """Bad input: exit 2, nothing run, nothing written."""
