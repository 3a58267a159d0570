"""Re-measure offline cells of a finished run in fresh worker processes, round-robin across cells.

Shared by the benchmarks: round r measures every cell once before round r + 1 starts, so machine drift
over minutes falls between processes (and, within a round, on every cell alike) rather than on one
cell. The job is the one `bench run` gave the cell: same built artifact, runtime, threads, batch,
sequence length and stop rule.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import launcher
from bench.jobfactory import stored_cell_job
from bench.jobspec import OfflineJob, StopRule
from bench.record import RunRecord


def offline_job(run: RunRecord, run_dir: Path, cell) -> OfflineJob:
    return stored_cell_job(run, run_dir, cell, seed=0, stop_rule=StopRule(**cell.settings["stop_rule"]))


def remeasure(run: RunRecord, run_dir: Path, cells: list, repeats: int, log_dir: Path,
              on_result: Callable[[int, object, object], None]) -> None:
    """`repeats` rounds; in each, one fresh process per cell. on_result(round, cell, ProcessResult).
    Each process may take the run's measure.cell_timeout_s (a torch.compile cell compiles first)."""
    timeout_s = float(run.suite.get("measure", {}).get("cell_timeout_s", 600))
    for r in range(repeats):
        for c in cells:
            log = log_dir / f"{c.cell_id.replace('/', '_')}-{r}.log"
            outcome = launcher.run_job(offline_job(run, run_dir, c), log, timeout_s)
            if outcome.status != "ok":
                sys.exit(f"{c.cell_id} round {r + 1}: {outcome.status}: {outcome.reason} (log: {log})")
            on_result(r, c, outcome.result)
