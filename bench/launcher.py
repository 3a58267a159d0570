"""The parent side of a worker: start it, block until it answers, dies or runs out of time.

The parent never polls in a loop: it blocks in `multiprocessing.connection.wait` on the pipe and the
process sentinel, so on a 2-core machine it takes no CPU from the measurement.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path

from bench import worker
from bench.timing import wall_clock_s


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | unsupported | failed
    result: dict | None = None
    reason: str | None = None
    error_kind: str | None = None  # exception | signal | timeout | oom | no_result | device_busy
    error_tail: str | None = None
    wall_s: float = 0.0


def _describe_exit(code: int | None) -> tuple[str, str]:
    if code is not None and code < 0:
        sig = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return "oom", f"worker killed by {sig} (most often the kernel's out-of-memory killer)"
        return "signal", f"worker died from signal {sig}"
    return "no_result", f"worker exited with code {code} without sending a result"


MEMORY_CHECK_INTERVAL_S = 0.5


def rss_mib(pid: int) -> float | None:
    """Resident set size of a process, from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def run_job(job: dict, log_path: Path, timeout_s: float, on_progress=None,
            memory_limit_mib: float | None = None) -> Outcome:
    """Run `job` in a fresh worker. With `memory_limit_mib`, the parent wakes every half second (a
    sleep in `wait`, not a spin) to read the worker's RSS and kills it past the limit."""
    ctx = mp.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=worker.main, args=(sender, job, str(log_path)), daemon=True)
    t0 = wall_clock_s()
    process.start()
    sender.close()
    try:
        while True:
            remaining = timeout_s - (wall_clock_s() - t0)
            step = min(remaining, MEMORY_CHECK_INTERVAL_S) if memory_limit_mib else remaining
            ready = wait([receiver, process.sentinel], timeout=max(0.0, step))
            if not ready and memory_limit_mib and remaining > step:
                rss = rss_mib(process.pid)
                if rss is not None and rss > memory_limit_mib:
                    process.kill()
                    process.join()
                    return Outcome("failed", reason=f"worker exceeded the memory limit of {memory_limit_mib:g} MiB "
                                   f"(RSS {rss:.0f} MiB); killed", error_kind="oom",
                                   error_tail=worker.log_tail(log_path), wall_s=wall_clock_s() - t0)
                continue
            if not ready:
                process.kill()
                process.join()
                return Outcome("failed", reason=f"timed out after {timeout_s:g} s", error_kind="timeout",
                               error_tail=worker.log_tail(log_path), wall_s=wall_clock_s() - t0)
            if receiver in ready:
                try:
                    message = receiver.recv()
                except EOFError:  # the worker is gone without a last word
                    process.join()
                    kind, reason = _describe_exit(process.exitcode)
                    return Outcome("failed", reason=reason, error_kind=kind,
                                   error_tail=worker.log_tail(log_path), wall_s=wall_clock_s() - t0)
                tag = message[0]
                if tag == "progress":
                    if on_progress:
                        on_progress(*message[1:])
                    continue
                process.join()
                wall = wall_clock_s() - t0
                if tag == "result":
                    return Outcome("ok", result=message[1], wall_s=wall)
                if tag == "unsupported":
                    return Outcome("unsupported", reason=message[1], wall_s=wall)
                return Outcome("failed", reason=message[1], error_kind=message[2] if len(message) > 2 else "exception",
                               error_tail=worker.log_tail(log_path), wall_s=wall)
            # Only the sentinel: drain the pipe once more on the next turn (a result may be in flight).
            if not receiver.poll():
                process.join()
                kind, reason = _describe_exit(process.exitcode)
                return Outcome("failed", reason=reason, error_kind=kind,
                               error_tail=worker.log_tail(log_path), wall_s=wall_clock_s() - t0)
    finally:
        if process.is_alive():
            process.kill()
            process.join()
        receiver.close()
