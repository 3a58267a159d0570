"""The CPU-load sampler sees a real busy-loop process. The machine running the tests may be busy with
anything, so figures are compared with an idle sample of the same child (stopped) in the same test,
never with absolute thresholds."""

import os
import signal
import subprocess
import sys
import time

import pytest

from bench import cpuload
from bench.cpuload import CpuBusy, CpuLoad, CpuSampler, check_cpu_isolation, measure_window, process_tree


@pytest.fixture
def spinner():
    """A child process spinning on the CPU, stopped (SIGSTOP) until the test lets it run."""
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    os.kill(child.pid, signal.SIGSTOP)
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def child_cpu_s(sampler: CpuSampler, pid: int) -> float:
    first, last = sampler.readings[0], sampler.readings[-1]
    return last.processes.get(pid, ("", 0.0))[1] - first.processes.get(pid, ("", 0.0))[1]


@pytest.mark.parametrize("use_psutil", [True, False] if cpuload.psutil else [False])
def test_sampler_sees_a_busy_child(spinner, use_psutil):
    with CpuSampler(interval_s=0.2, use_psutil=use_psutil) as idle:
        time.sleep(0.8)  # blocking: the child is stopped
    os.kill(spinner.pid, signal.SIGCONT)
    with CpuSampler(interval_s=0.2, use_psutil=use_psutil) as busy:
        time.sleep(1.5)
    assert len(busy.readings) >= 4  # the thread sampled in between
    assert child_cpu_s(busy, spinner.pid) > child_cpu_s(idle, spinner.pid) + 0.1
    result = busy.result()
    assert result.others_cpu_s >= child_cpu_s(busy, spinner.pid)
    assert result.source == ("psutil" if use_psutil else "/proc") and result.window == "during"


def test_own_tree_is_excluded(spinner):
    assert spinner.pid in process_tree(os.getpid())
    os.kill(spinner.pid, signal.SIGCONT)
    with CpuSampler(exclude_root_pid=os.getpid(), interval_s=0.2) as sampler:
        time.sleep(0.5)
    assert spinner.pid not in sampler.readings[-1].processes
    assert os.getpid() not in sampler.readings[-1].processes


def test_measure_window_blocks_for_its_duration():
    load = measure_window(0.3, window="before")
    assert 0.3 <= load.duration_s < 2 and load.window == "before" and load.usable_cores >= 1
    assert 0 <= load.steal_pct <= 100 and load.others_pct >= 0


def _load(others_pct=0.0, steal_pct=0.0) -> CpuLoad:
    return CpuLoad(window="during", duration_s=2.0, usable_cores=2, loadavg_1m=1.5, busy_pct=90.0,
                   steal_pct=steal_pct, others_cpu_s=others_pct / 100 * 4.0, others_pct=others_pct,
                   top_others=((4242, "stress", 2.0),))


def test_isolation_policies():
    assert check_cpu_isolation("warn", _load(others_pct=cpuload.OTHERS_PCT_MAX / 2)) is None
    busy = _load(others_pct=50.0)
    assert check_cpu_isolation("off", busy) is None
    warning = check_cpu_isolation("warn", busy)
    assert "other processes used 50% of the 2 usable cores" in warning and "pid 4242 stress" in warning
    with pytest.raises(CpuBusy, match=r'measure\.cpu_isolation = "refuse"'):
        check_cpu_isolation("refuse", busy)
    assert "steal time 20%" in check_cpu_isolation("warn", _load(steal_pct=20.0))
    with pytest.raises(ValueError, match="not one of off, warn, refuse"):
        check_cpu_isolation("strict", busy)
