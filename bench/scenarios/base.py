"""The scenario axis: what is measured in a cell (accuracy, offline latency, server load).

Each scenario module registers one `Scenario`: it plans its cells for a variant, makes the job for one
cell, runs that job in the worker, pools its processes into the fields of a cell record, and says how
a finished cell prints. A duplicate name is an error at import. Light: the `run` functions import
torch and the rest inside themselves, so importing this package imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from bench.config import Suite, Variant
    from bench.jobspec import CellJob
    from bench.record import CellRecord
    from bench.results import ProcessResult

Progress = Callable[[str, int, int], None]  # (text, done, total), sent to the parent


class PlannedCell(NamedTuple):
    """A cell to measure, before it is measured: (scenario, batch size, sequence length, traffic model:
    the server scenario's, None elsewhere)."""

    scenario: str
    batch_size: int | None = None
    seq_len: int | None = None
    traffic: str | None = None


@dataclass(frozen=True)
class Scenario:
    """name; plan_cells(suite, variant) -> cells; make_job(suite, cell, common job fields) -> job;
    run(job, progress) -> ProcessResult (in the worker); pool(results, job) -> CellRecord fields
    (throughput, memory, energy, quality, ...); echo(ok cell) -> one terminal line (rich markup);
    processes(suite) -> how many fresh processes measure one cell; processes_recorded: the record's
    settings say how many (a scenario that can repeat)."""

    name: str
    plan_cells: Callable[[Suite, Variant], list[PlannedCell]]
    make_job: Callable[[Suite, PlannedCell, dict], CellJob]
    run: Callable[[CellJob, Progress], ProcessResult]
    pool: Callable[[list[ProcessResult], CellJob], dict[str, Any]]
    echo: Callable[[CellRecord], str]
    processes: Callable[[Suite], int] = lambda suite: 1
    processes_recorded: bool = False


SCENARIOS: dict[str, Scenario] = {}  # in registration order, which is the order cells are measured in


def register_scenario(scenario: Scenario) -> Scenario:
    """Add a scenario; a second one of the same name is an error (at import, not at run time)."""
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} is registered twice")
    SCENARIOS[scenario.name] = scenario
    return scenario


def single_process(results: list[ProcessResult], job: CellJob) -> dict[str, Any]:
    """The cell fields of a scenario measured in one process: its result as it came."""
    (r,) = results
    return {"processes": (r.for_record(),), "throughput_samples_per_s": r.throughput_samples_per_s,
            "memory": r.memory, "quality": r.quality, "server": r.server, "energy": r.energy,
            "isolation": r.isolation}
