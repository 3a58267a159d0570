"""The local executor: each job in a fresh `spawn` process on this machine (bench/launcher.py)."""

from __future__ import annotations

from pathlib import Path

from bench.executors.base import OnProgress, Outcome


class LocalExecutor:
    """Today's launcher and worker: a blocking wait, every failure kind an Outcome."""

    def run(self, job, log_path: Path, timeout_s: float, on_progress: OnProgress | None = None,
            memory_limit_mib: float | None = None) -> Outcome:
        from bench import launcher

        return launcher.run_job(job, log_path, timeout_s, on_progress, memory_limit_mib=memory_limit_mib)
