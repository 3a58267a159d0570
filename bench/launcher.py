"""The parent side of a worker: start it, block until it answers, dies or runs out of time.

The parent never polls in a loop: it blocks in `multiprocessing.connection.wait` on the pipe and the
process sentinel, so on a 2-core machine it takes no CPU from the measurement.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from multiprocessing.connection import wait
from pathlib import Path

from bench import worker
from bench.executors.base import Outcome
from bench.timing import wall_clock_s

__all__ = ["Outcome", "rss_mib", "run_job"]

MEMORY_CHECK_INTERVAL_S = 0.5


def _describe_exit(code: int | None) -> tuple[str, str]:
    if code is not None and code < 0:
        sig = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return "oom", f"worker killed by {sig} (most often the kernel's out-of-memory killer)"
        return "signal", f"worker died from signal {sig}"
    return "no_result", f"worker exited with code {code} without sending a result"


def rss_mib(pid: int) -> float | None:
    """Resident set size of a process, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


class _Watch:
    """One running worker: its process, the pipe's read end, its log and its clock."""

    def __init__(self, process, receiver, log_path: Path, t0: float):
        self.process, self.receiver, self.log_path, self.t0 = process, receiver, log_path, t0

    def failed(self, reason: str, kind: str) -> Outcome:
        """Kill the worker (if it still runs) and say why, with its log's tail."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()
        return Outcome("failed", reason=reason, error_kind=kind, error_tail=worker.log_tail(self.log_path),
                       wall_s=wall_clock_s() - self.t0)

    def died(self) -> Outcome:
        self.process.join()
        kind, reason = _describe_exit(self.process.exitcode)
        return self.failed(reason, kind)


def _over_memory(watch: _Watch, memory_limit_mib: float) -> Outcome | None:
    rss = rss_mib(watch.process.pid)
    if rss is not None and rss > memory_limit_mib:
        return watch.failed(f"worker exceeded the memory limit of {memory_limit_mib:g} MiB (RSS {rss:.0f} MiB); "
                            "killed", "oom")
    return None


def _answer(watch: _Watch, message: tuple, on_progress) -> Outcome | None:
    """The worker's message as an outcome; None for a progress message (keep waiting)."""
    tag = message[0]
    if tag == "progress":
        if on_progress:
            on_progress(*message[1:])
        return None
    watch.process.join()
    wall = wall_clock_s() - watch.t0
    if tag == "result":
        return Outcome("ok", result=message[1], wall_s=wall)
    if tag == "unsupported":
        return Outcome("unsupported", reason=message[1], wall_s=wall)
    return Outcome("failed", reason=message[1], error_kind=message[2] if len(message) > 2 else "exception",
                   error_tail=worker.log_tail(watch.log_path), wall_s=wall)


def _wait_turn(watch: _Watch, timeout_s: float, on_progress, memory_limit_mib: float | None) -> Outcome | None:
    """Block until the worker speaks, dies, runs out of time or (every half second with a memory limit)
    its RSS is due a check; an outcome once it has ended, else None."""
    remaining = timeout_s - (wall_clock_s() - watch.t0)
    step = min(remaining, MEMORY_CHECK_INTERVAL_S) if memory_limit_mib else remaining
    ready = wait([watch.receiver, watch.process.sentinel], timeout=max(0.0, step))
    if not ready and memory_limit_mib and remaining > step:
        return _over_memory(watch, memory_limit_mib)
    if not ready:
        return watch.failed(f"timed out after {timeout_s:g} s", "timeout")
    if watch.receiver in ready:
        try:
            message = watch.receiver.recv()
        except EOFError:  # the worker is gone without a last word
            return watch.died()
        return _answer(watch, message, on_progress)
    # Only the sentinel: drain the pipe once more on the next turn (a result may be in flight).
    return None if watch.receiver.poll() else watch.died()


def run_job(job, log_path: Path, timeout_s: float, on_progress=None,
            memory_limit_mib: float | None = None) -> Outcome:
    """Run `job` (a bench.jobspec dataclass) in a fresh worker. With `memory_limit_mib`, the parent
    wakes every half second (a sleep in `wait`, not a spin) to read the worker's RSS and kills it past
    the limit."""
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=worker.main, args=(sender, job, str(log_path)), daemon=True)
    watch = _Watch(process, receiver, log_path, wall_clock_s())
    process.start()
    sender.close()
    try:
        while True:
            outcome = _wait_turn(watch, timeout_s, on_progress, memory_limit_mib)
            if outcome is not None:
                return outcome
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        receiver.close()
