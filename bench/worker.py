"""The worker: one fresh `spawn` process per build step or measured cell.

It loads what it needs, does one job (a bench.jobspec dataclass), and sends one message back over a
pipe: ("result", ProcessResult or a build's dict),
("unsupported", reason) or ("error", message); while working it may send ("progress", text, done,
total). Its stdout and stderr go to a log file whose tail the parent keeps when the worker fails.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

from bench.errors import Unsupported

PROGRESS_INTERVAL_S = 0.25
# a cell refused because something else used the device (measure.gpu_isolation / cpu_isolation = "refuse")
BUSY_KINDS = {"DeviceBusy": "device_busy", "CpuBusy": "cpu_busy"}


def _redirect_output(log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _progress_sender(conn):
    from bench.timing import wall_clock_s

    last = [0.0]

    def send(text: str, done: int, total: int) -> None:
        now = wall_clock_s()
        if done >= total or now - last[0] >= PROGRESS_INTERVAL_S:
            last[0] = now
            conn.send(("progress", text, done, total))

    return send


def main(conn, job, log_path: str) -> None:
    _redirect_output(log_path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from bench import jobs
        from bench.registry import load_all

        load_all()
        result = jobs.run(job, _progress_sender(conn))
        conn.send(("result", result))
    except Unsupported as e:
        conn.send(("unsupported", str(e)))
    except BaseException as e:
        traceback.print_exc()
        sys.stderr.flush()
        # host MemoryError and torch.cuda.OutOfMemoryError are out-of-memory failures, not bugs
        kind = ("oom" if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError"
                else BUSY_KINDS.get(type(e).__name__, "exception"))
        conn.send(("error", f"{type(e).__name__}: {e}", kind))
    finally:
        conn.close()


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
