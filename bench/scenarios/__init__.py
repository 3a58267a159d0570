"""The scenario axis, one module each; importing the package registers them in measuring order."""

from bench.scenarios import accuracy, offline, server  # noqa: F401  (registration)
from bench.scenarios.base import SCENARIOS, PlannedCell, Scenario, register_scenario

__all__ = ["SCENARIOS", "PlannedCell", "Scenario", "register_scenario"]
