"""The executor interface: run one job, with a log, a time-out, a memory limit and progress, and say
how it ended. The runner's scheduling (rounds, partial/, resume) works against this alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

OnProgress = Callable[[str, int, int], None]  # (text, done, total)


@dataclass(frozen=True)
class Outcome:
    """How a job ended: ok (with its result), unsupported (with the reason) or failed (with its kind)."""

    status: str  # ok | unsupported | failed
    result: Any = None  # ProcessResult for a cell, a dict for a build
    reason: str | None = None
    error_kind: str | None = None  # exception | signal | timeout | oom | no_result | device_busy | cpu_busy | node_lost
    error_tail: str | None = None
    wall_s: float = 0.0
    node: dict | None = None  # the cluster node that ran it: {"node_id", "host", "address"}; None: this machine


class Executor(Protocol):
    # Optional `slots: int` attribute: how many jobs it runs at once on separate machines (default 1).
    def run(self, job, log_path: Path, timeout_s: float, on_progress: OnProgress | None = None,
            memory_limit_mib: float | None = None) -> Outcome:
        """Run `job` to its end; never raises for a failure of the job itself (that is an Outcome)."""
        ...
