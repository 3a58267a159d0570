"""Scheduling the measured cells against an Executor: scenario by scenario, and within one, in rounds
(one process of every cell per round), with each finished process saved under partial/ so an
interrupted run resumes without losing one or measuring one twice.

Rounds spread each cell's processes over the whole phase: a machine that is slow for a few minutes
then slows one process of every cell, not every process of one cell, and the spread between processes
(which `bench compare` tests on) includes that drift.

An executor with several `slots` (the nodes of one profile on a cluster, bench/executors/ray.py) runs
up to that many cells of a round at once, one per slot; the round still ends before the next begins.
The executor, not the scheduler, keeps two jobs off one machine.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.executors.base import Executor, OnProgress, Outcome
from bench.record import cell_id, write_atomic
from bench.results import ProcessResult, split_pooled_latency
from bench.runsetup import utc_now


@dataclass
class PendingCell:
    """A cell to measure: its job, and the results of its processes so far (also under partial/)."""

    variant: str
    steps: tuple[str, ...]
    manifest: dict
    scenario: str
    batch_size: int | None
    seq_len: int | None
    job: object  # a bench.jobspec CellJob
    processes: int = 1
    results: list[ProcessResult] = field(default_factory=list)
    wall_s: float = 0.0
    started_at: str | None = None  # when its first process started (not when it was planned)
    nodes: list[dict] = field(default_factory=list)  # cluster node of each process run so far (Outcome.node)
    traffic: str | None = None  # the server scenario's traffic model (PlannedCell.traffic)

    @property
    def cell_id(self) -> str:
        return cell_id(self.variant, self.scenario, self.batch_size, self.seq_len, self.traffic)

    @property
    def log_name(self) -> str:
        return self.cell_id.replace("/", "_")


def _stored_result(d: dict) -> ProcessResult:
    """A process under partial/: a ProcessResult dict, or a worker's dict of schema 1 (a run
    interrupted under an older bench)."""
    if "latency" not in d:
        return ProcessResult.from_dict(d)
    (p,) = split_pooled_latency(d["latency"])
    return dataclasses.replace(p, memory=d.get("memory"), energy=d.get("energy"), isolation=d.get("isolation"),
                               runtime_info=d.get("runtime_info"))


@dataclass
class Scheduler:
    """Runs cells' processes with `executor`; `progress_for(log name)` gives a worker's progress callback
    and `describe(text)` says what is being measured."""

    executor: Executor
    run_dir: Path
    timeout_s: float
    memory_limit_mib: float | None = None
    progress_for: Callable[[str], OnProgress | None] = lambda name: None
    describe: Callable[[str], None] = lambda text: None

    def partial_path(self, cell: PendingCell) -> Path:
        return self.run_dir / "partial" / f"{cell.log_name}.json"

    def load_partial(self, cell: PendingCell) -> None:
        path = self.partial_path(cell)
        if path.is_file():
            saved = json.loads(path.read_text())
            cell.results = [_stored_result(r) for r in saved["results"]]
            cell.wall_s, cell.started_at = saved["wall_s"], saved["started_at"]
            cell.nodes = list(saved.get("nodes") or [])

    def save_partial(self, cell: PendingCell) -> None:
        write_atomic(self.partial_path(cell), json.dumps({
            "cell_id": cell.cell_id, "started_at": cell.started_at, "wall_s": cell.wall_s,
            "nodes": cell.nodes, "results": [r.to_dict() for r in cell.results]}))

    def run_one_process(self, cell: PendingCell) -> Outcome | None:
        """Run the cell's next process. Once the cell is finished (all processes, or the first failure: a
        cell is kept whole or not at all) its outcome, whose result is the list of ProcessResults; else None."""
        i = len(cell.results)
        cell.started_at = cell.started_at or utc_now()
        name = cell.log_name + (f"-p{i + 1}" if cell.processes > 1 else "")
        outcome = self.executor.run(cell.job, self.run_dir / "logs" / f"{name}.log", self.timeout_s,
                                    self.progress_for(name), memory_limit_mib=self.memory_limit_mib)
        cell.wall_s += outcome.wall_s
        if outcome.node is not None:
            cell.nodes.append(outcome.node)
        if outcome.status != "ok":
            if cell.processes > 1:
                outcome = dataclasses.replace(outcome, reason=f"process {i + 1} of {cell.processes}: {outcome.reason}")
        else:
            cell.results.append(outcome.result)
            if len(cell.results) < cell.processes:
                self.save_partial(cell)
                return None
            outcome = dataclasses.replace(outcome, result=list(cell.results))
        self.partial_path(cell).unlink(missing_ok=True)
        return dataclasses.replace(outcome, wall_s=cell.wall_s)

    def run_rounds(self, cells: list[PendingCell], scenarios: list[str], is_done: Callable[[str], bool],
                   finish: Callable[[PendingCell, Outcome], None]) -> None:
        """Scenario by scenario (in the given order), round by round; a process measured before a resume,
        or a cell already in the record (`is_done(cell_id)`), is skipped. With the executor's `slots` > 1,
        a round's cells run that many at a time, and `finish` is called from their threads."""
        slots = max(1, int(getattr(self.executor, "slots", 1)))
        for scenario in scenarios:
            pending = [c for c in cells if c.scenario == scenario]
            for r in range(max((c.processes for c in pending), default=0)):
                todo = [c for c in pending if len(c.results) <= r < c.processes and not is_done(c.cell_id)]
                if slots == 1 or len(todo) < 2:
                    for cell in todo:
                        self._run_in_round(cell, r, finish)
                    continue
                self._run_side_by_side(todo, r, finish, slots)

    def _run_side_by_side(self, todo: list[PendingCell], r: int, finish, slots: int) -> None:
        """Round `r` of `todo` in `slots` daemon threads (a Ctrl-C does not wait for them), each taking the
        next cell when its last ends; returns when all have ended, raising the first error of any."""
        queue, errors, lock = list(todo), [], threading.Lock()

        def slot() -> None:
            while True:
                with lock:
                    if not queue or errors:  # a failed slot stops the others taking new cells
                        return
                    cell = queue.pop(0)
                self._run_in_round(cell, r, finish)

        run_in_threads([(f"bench-slot-{i}", slot) for i in range(min(slots, len(todo)))], errors)

    def _run_in_round(self, cell: PendingCell, r: int, finish: Callable[[PendingCell, Outcome], None]) -> None:
        label = f" (process {r + 1} of {cell.processes})" if cell.processes > 1 else ""
        self.describe(f"measuring {cell.cell_id}{label}")
        outcome = self.run_one_process(cell)
        if outcome is not None:
            finish(cell, outcome)


def run_in_threads(targets: list[tuple[str, Callable[[], None]]], errors: list[BaseException] | None = None) -> None:
    """Run each (thread name, target) in a daemon thread (a Ctrl-C in the main thread does not wait for
    them), wait for all, and raise the first error any raised. `errors` (shared with the targets, which
    may read it to stop early) collects them."""
    errors = [] if errors is None else errors

    def guarded(target: Callable[[], None]) -> None:
        try:
            target()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(target,), name=name, daemon=True) for name, target in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
