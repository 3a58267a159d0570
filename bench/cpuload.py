"""Is the CPU busy with something else? Load average, steal time, busy share of the usable cores and the
CPU time of other processes, before, during and after a timed region (issue #16: a cell that shared
2 cores with another process measured 544 ms p50 against 10.9 ms alone, and nothing was flagged).

Counters come from psutil where it is importable, else from /proc (Linux). "Other processes" leaves
out the measuring process and, when `exclude_root_pid` is given (a worker passes its parent, the bench
runner), that process and all its descendants.

>>> before = measure_window(0.5)                     # blocking: two readings 0.5 s apart
>>> with CpuSampler(exclude_root_pid=os.getppid()) as sampler: ...timed work...
>>> during = sampler.result()
>>> warning = check_cpu_isolation("warn", during)    # str | None, or raises CpuBusy on "refuse"
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

try:
    import psutil
except ImportError:  # the measure extra installs it; /proc is the fallback on Linux
    psutil = None

SAMPLE_INTERVAL_S = 0.5
# Other processes using more than this share of the usable cores' time, or steal above its bound,
# flag a cell: 10% of 2 cores is one core busy a fifth of the time, already visible in a p99.
OTHERS_PCT_MAX = 10.0
STEAL_PCT_MAX = 5.0
TOP_PROCESSES = 5
ISOLATION_POLICIES = ("off", "warn", "refuse")


class CpuBusy(Exception):
    """Other processes use the CPU and the suite says `measure.cpu_isolation = "refuse"`."""


@dataclass(frozen=True)
class CpuTimes:
    """Cumulative seconds over the usable cores at one instant."""

    busy_s: float  # user + nice + system + irq + softirq (guest time is inside user)
    steal_s: float
    total_s: float


@dataclass(frozen=True)
class Reading:
    t_s: float  # time.monotonic()
    cpu: CpuTimes
    processes: dict[int, tuple[str, float]]  # pid -> (name, cumulative user + system CPU s)
    loadavg_1m: float


@dataclass(frozen=True)
class CpuLoad:
    """The CPU's state over one window. Percentages are of the usable cores' time in the window."""

    window: str  # "before", "during", "after"
    duration_s: float
    usable_cores: int
    loadavg_1m: float  # the highest seen in the window
    busy_pct: float  # all processes, this one included
    steal_pct: float  # time the hypervisor gave the vCPUs to another guest
    others_cpu_s: float
    others_pct: float  # others_cpu_s / (duration_s * usable_cores) * 100
    top_others: tuple[tuple[int, str, float], ...] = field(default=())  # (pid, name, cpu_s), most first
    source: str = "psutil"

    def to_dict(self) -> dict:
        return asdict(self)


# ---- counters ----------------------------------------------------------------------------------------

def usable_cpu_ids() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def _cpu_times_proc(cpus: list[int]) -> CpuTimes:
    busy = steal = total = 0.0
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    wanted = {f"cpu{i}" for i in cpus}
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] in wanted:
            # user nice system idle iowait irq softirq steal guest guest_nice (proc(5)); guest is in user
            v = [int(x) for x in parts[1:9]]
            busy += (v[0] + v[1] + v[2] + v[5] + v[6]) * tick_s
            steal += v[7] * tick_s
            total += sum(v) * tick_s
    return CpuTimes(busy, steal, total)


def _cpu_times_psutil(cpus: list[int]) -> CpuTimes:
    per_cpu = psutil.cpu_times(percpu=True)
    busy = steal = total = 0.0
    for i in cpus:
        t = per_cpu[i]
        busy += t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
        steal += getattr(t, "steal", 0.0)
        total += sum(getattr(t, k) for k in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
                     if hasattr(t, k))
    return CpuTimes(busy, steal, total)


def _processes_proc() -> dict[int, tuple[str, int, float]]:
    """pid -> (name, ppid, user + system CPU s), from /proc/<pid>/stat (fields 4, 14, 15 in proc(5))."""
    tick_s = 1 / os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # the process ended between listing and reading
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        out[int(entry.name)] = (name, int(rest[1]), (int(rest[11]) + int(rest[12])) * tick_s)
    return out


def _processes_psutil() -> dict[int, tuple[str, int, float]]:
    out = {}
    for p in psutil.process_iter(["name", "ppid", "cpu_times"]):
        times = p.info["cpu_times"]
        if times is not None:
            out[p.pid] = (p.info["name"] or "?", p.info["ppid"] or 0, times.user + times.system)
    return out


def process_tree(root_pid: int, table: dict[int, tuple[str, int, float]] | None = None) -> set[int]:
    """root_pid and all its descendants."""
    table = table if table is not None else (_processes_psutil() if psutil else _processes_proc())
    tree, grew = {root_pid}, True
    while grew:
        children = {pid for pid, (_, ppid, _) in table.items() if ppid in tree and pid not in tree}
        tree |= children
        grew = bool(children)
    return tree


def read(exclude_root_pid: int | None = None, use_psutil: bool | None = None) -> Reading:
    """One instant: CPU counters, other processes' CPU time, load average."""
    fast = psutil is not None if use_psutil is None else use_psutil
    cpus = usable_cpu_ids()
    table = _processes_psutil() if fast else _processes_proc()
    excluded = {os.getpid()} | (process_tree(exclude_root_pid, table) if exclude_root_pid else set())
    others = {pid: (name, cpu_s) for pid, (name, _, cpu_s) in table.items() if pid not in excluded}
    return Reading(t_s=time.monotonic(), cpu=_cpu_times_psutil(cpus) if fast else _cpu_times_proc(cpus),
                   processes=others, loadavg_1m=os.getloadavg()[0])


# ---- windows -------------------------------------------------------------------------------------------

def _others_delta(first: Reading, last: Reading) -> dict[int, tuple[str, float]]:
    """CPU seconds each other process used between two readings; one that appeared in between counts
    in full (it started inside the window)."""
    out = {}
    for pid, (name, cpu_s) in last.processes.items():
        before = first.processes.get(pid, (name, 0.0))[1]
        if cpu_s - before > 0:
            out[pid] = (name, cpu_s - before)
    return out


def summarize(window: str, first: Reading, last: Reading, peak_loadavg_1m: float | None = None,
              source: str = "psutil") -> CpuLoad:
    cores = len(usable_cpu_ids())
    duration_s = max(last.t_s - first.t_s, 1e-9)
    total_s = max(last.cpu.total_s - first.cpu.total_s, 1e-9)
    others = _others_delta(first, last)
    others_cpu_s = sum(cpu_s for _, cpu_s in others.values())
    top = sorted(((pid, name, cpu_s) for pid, (name, cpu_s) in others.items()), key=lambda x: -x[2])
    return CpuLoad(window=window, duration_s=duration_s, usable_cores=cores,
                   loadavg_1m=max(first.loadavg_1m, last.loadavg_1m, peak_loadavg_1m or 0.0),
                   busy_pct=100 * (last.cpu.busy_s - first.cpu.busy_s) / total_s,
                   steal_pct=100 * (last.cpu.steal_s - first.cpu.steal_s) / total_s,
                   others_cpu_s=others_cpu_s, others_pct=100 * others_cpu_s / (duration_s * cores),
                   top_others=tuple(top[:TOP_PROCESSES]), source=source)


def measure_window(duration_s: float = SAMPLE_INTERVAL_S, window: str = "before",
                   exclude_root_pid: int | None = None, use_psutil: bool | None = None) -> CpuLoad:
    """The CPU's state over the next `duration_s` (a blocking sleep: this process adds nothing)."""
    first = read(exclude_root_pid, use_psutil)
    time.sleep(duration_s)
    last = read(exclude_root_pid, use_psutil)
    return summarize(window, first, last, source=_source(use_psutil))


def window_since(first: Reading, window: str = "during", exclude_root_pid: int | None = None) -> CpuLoad:
    """The CPU's state from reading `first` to now: two readings and no thread, so a timed region
    between them runs undisturbed."""
    return summarize(window, first, read(exclude_root_pid), source=_source(None))


def _source(use_psutil: bool | None) -> str:
    return "psutil" if (psutil is not None if use_psutil is None else use_psutil) else "/proc"


class CpuSampler:
    """Samples every `interval_s` in a background thread (a blocking Event.wait, no spinning) while the
    block runs; result() summarizes the whole block, with the highest load average seen in it."""

    def __init__(self, exclude_root_pid: int | None = None, interval_s: float = SAMPLE_INTERVAL_S,
                 use_psutil: bool | None = None):
        self.exclude_root_pid, self.interval_s, self.use_psutil = exclude_root_pid, interval_s, use_psutil
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.readings: list[Reading] = []

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.readings.append(read(self.exclude_root_pid, self.use_psutil))

    def __enter__(self) -> CpuSampler:
        self.readings = [read(self.exclude_root_pid, self.use_psutil)]
        self._thread = threading.Thread(target=self._sample, name="bench-cpuload", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.readings.append(read(self.exclude_root_pid, self.use_psutil))

    def result(self, window: str = "during") -> CpuLoad:
        """Raises RuntimeError before the block has run."""
        if len(self.readings) < 2:
            raise RuntimeError("CpuSampler.result() needs the `with` block to have run")
        peak = max(r.loadavg_1m for r in self.readings)
        return summarize(window, self.readings[0], self.readings[-1], peak, _source(self.use_psutil))


def check_cpu_isolation(policy: str, load: CpuLoad) -> str | None:
    """A warning (policy `warn`), CpuBusy raised (policy `refuse`), or None when the CPU was free enough
    (other processes under OTHERS_PCT_MAX % of the usable cores, steal under STEAL_PCT_MAX %) or the
    policy is `off`. Raises ValueError on an unknown policy."""
    if policy not in ISOLATION_POLICIES:
        raise ValueError(f"measure.cpu_isolation: {policy!r} is not one of {', '.join(ISOLATION_POLICIES)}")
    problems = []
    if load.others_pct > OTHERS_PCT_MAX:
        top = ", ".join(f"pid {pid} {name} {cpu_s:.1f} s" for pid, name, cpu_s in load.top_others)
        problems.append(f"other processes used {load.others_pct:.0f}% of the {load.usable_cores} usable cores "
                        f"(limit {OTHERS_PCT_MAX:g}%): {top}")
    if load.steal_pct > STEAL_PCT_MAX:
        problems.append(f"steal time {load.steal_pct:.0f}% (limit {STEAL_PCT_MAX:g}%): the hypervisor "
                        "gave these vCPUs to another guest")
    if policy == "off" or not problems:
        return None
    text = f"{load.window} the cell ({load.duration_s:.1f} s, load average {load.loadavg_1m:.2f}): " + "; ".join(problems)
    if policy == "refuse":
        raise CpuBusy(f"{text}; the suite sets measure.cpu_isolation = \"refuse\": stop them, or set it to "
                      "\"warn\" to measure anyway with a warning in the record")
    return text
