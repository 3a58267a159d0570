"""GPU measurement helpers: the profile for the GPU found here, NVML sampling of power, memory and
utilization around a timed region, energy per inference, and other processes on the device.

NVML comes from `nvidia-ml-py` (`import pynvml`), never the deprecated `pynvml` wrapper package.
Where NVML or a counter is missing, the result says `not measured` and why; it never reports zero.
Energy: the total-energy counter (mJ, Volta and newer) is read before and after; where it is missing,
sampled power is integrated with the trapezoidal rule, and the record says which method was used.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field

J_PER_KWH = 3.6e6


def match_profile(gpu_name: str | None, profiles: list) -> object | None:
    """The CUDA profile whose `gpu_name_contains` appears in the GPU's name as a whole word
    ("L4" matches "NVIDIA L4", not "NVIDIA L40S"); the longest such token wins."""
    if not gpu_name:
        return None
    hits = [p for p in profiles if p.device == "cuda" and p.gpu_name_contains
            and re.search(rf"(?<![A-Za-z0-9]){re.escape(p.gpu_name_contains)}(?![A-Za-z0-9])", gpu_name, re.IGNORECASE)]
    return max(hits, key=lambda p: len(p.gpu_name_contains)) if hits else None


def energy_from_power_j(times_s: list[float], power_w: list[float]) -> float:
    """Trapezoidal integral of sampled power over time, in joules."""
    if len(times_s) != len(power_w) or len(times_s) < 2:
        raise ValueError("need at least two (time, power) samples of equal count")
    return sum((t1 - t0) * (p0 + p1) / 2 for t0, t1, p0, p1 in zip(times_s, times_s[1:], power_w, power_w[1:], strict=False))


def energy_cost_usd(energy_j: float, price_usd_per_kwh: float) -> float:
    # $ = J / (3.6e6 J per kWh) * $/kWh
    return energy_j / J_PER_KWH * price_usd_per_kwh


def summarize_energy(energy_j: float | None, method: str, inferences: int, price_usd_per_kwh: float | None,
                     reason: str | None = None) -> dict:
    if energy_j is None:
        return {"status": "not measured", "reason": reason or "no energy source"}
    per = energy_j / inferences
    out = {"status": "ok", "method": method, "energy_j": energy_j, "inferences": inferences,
           "energy_per_inference_j": per}
    if price_usd_per_kwh:
        out["usd_per_million_energy"] = energy_cost_usd(per * 1e6, price_usd_per_kwh)
    return out


class DeviceBusy(Exception):
    """Other processes use the GPU and the suite says `measure.gpu_isolation = "refuse"`."""


ISOLATION_POLICIES = ("off", "warn", "refuse")


def describe_processes(others: list[dict]) -> str:
    return ", ".join(f"pid {p['pid']} ({p['memory_mib']:.0f} MiB)" for p in others)


def check_isolation(policy: str, others: list[dict] | None, when: str) -> str | None:
    """optimum-benchmark's device isolation: other processes on the measured GPU distort every figure.
    Returns a warning (policy `warn`), raises DeviceBusy (policy `refuse`), or None when isolated,
    when the policy is `off`, or when NVML cannot tell (the record then says `unknown`)."""
    if policy == "off" or not others:
        return None
    text = f"{when}: {len(others)} other process(es) on the GPU: {describe_processes(others)}"
    if policy == "refuse":
        raise DeviceBusy(f"{text}; the suite sets measure.gpu_isolation = \"refuse\": stop them, or set it to "
                         "\"warn\" to measure anyway with a warning in the record")
    return text


def _clock_summary(values: list[float]) -> dict | None:
    return {"start": values[0], "end": values[-1], "min": min(values), "max": max(values)} if values else None


@dataclass
class NvmlMonitor:
    """Samples NVML every `interval_s` in a thread while the block runs: power, utilization, this
    process's memory, SM and memory clocks, and the other processes on the device.

    >>> with NvmlMonitor(device_index=0) as mon: ...timed work...
    >>> mon.result(inferences=n, price_usd_per_kwh=None)
    """

    device_index: int = 0
    interval_s: float = 0.05
    reason: str | None = None  # why nothing is measured, when so
    _nvml: object = None
    _handle: object = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    samples: list[dict] = field(default_factory=list)  # t_s, power_w, util_pct, mine_mib, sm_mhz, mem_mhz
    others: dict[int, float] = field(default_factory=dict)  # other processes seen: pid -> most MiB used
    energy_start_mj: int | None = None
    energy_end_mj: int | None = None
    wall_s: float = 0.0

    def __enter__(self) -> NvmlMonitor:
        try:
            import pynvml  # from nvidia-ml-py
        except ImportError:
            self.reason = "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
            return self
        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(self.device_index)
        except Exception as e:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            self.reason = f"NVML unavailable: {e}"
            return self
        self._nvml = pynvml
        self.energy_start_mj = self._energy_mj()
        self._t0 = time.perf_counter()
        self._sample_once()  # clocks at the start, even for a block shorter than one interval
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._nvml is None:
            return
        self._stop.set()
        self._thread.join()
        self._sample_once()  # and at the end
        self.wall_s = time.perf_counter() - self._t0
        self.energy_end_mj = self._energy_mj()
        self._nvml.nvmlShutdown()

    def _energy_mj(self) -> int | None:
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception:  # pre-Volta GPUs and some virtual GPUs have no counter
            return None

    def _read(self, fn, *args):
        try:
            return fn(self._handle, *args)
        except Exception:
            return None

    def _sample_once(self) -> None:
        n = self._nvml
        pid = os.getpid()
        power_mw = self._read(n.nvmlDeviceGetPowerUsage)
        util = self._read(n.nvmlDeviceGetUtilizationRates)
        procs = self._read(n.nvmlDeviceGetComputeRunningProcesses) or []
        mine = next((p.usedGpuMemory for p in procs if p.pid == pid and p.usedGpuMemory is not None), None)
        for p in procs:
            if p.pid != pid:
                self.others[p.pid] = max(self.others.get(p.pid, 0.0), (p.usedGpuMemory or 0) / 2**20)
        self.samples.append({"t_s": time.perf_counter() - self._t0,
                             "power_w": None if power_mw is None else power_mw / 1000,
                             "util_pct": None if util is None else float(util.gpu),
                             "mine_mib": None if mine is None else mine / 2**20,
                             "sm_mhz": self._read(n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_SM),
                             "mem_mhz": self._read(n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_MEM)})

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample_once()

    def _series(self, key: str) -> list[float]:
        return [x[key] for x in self.samples if x[key] is not None]

    def result(self, inferences: int, price_usd_per_kwh: float | None = None) -> dict:
        if self._nvml is None:
            return {"status": "not measured", "reason": self.reason}
        powered = [(x["t_s"], x["power_w"]) for x in self.samples if x["power_w"] is not None]
        if self.energy_start_mj is not None and self.energy_end_mj is not None:
            energy = summarize_energy((self.energy_end_mj - self.energy_start_mj) / 1000, "NVML total-energy counter",
                                      inferences, price_usd_per_kwh)
        elif len(powered) >= 2:
            energy = summarize_energy(energy_from_power_j([t for t, _ in powered], [p for _, p in powered]),
                                      f"integrated NVML power samples (every {self.interval_s * 1000:g} ms)",
                                      inferences, price_usd_per_kwh)
        else:
            energy = summarize_energy(None, "", inferences, None,
                                      reason="no energy counter and fewer than two power samples")
        util, mem = self._series("util_pct"), self._series("mine_mib")
        return {"status": "ok", "energy": energy, "samples": len(self.samples),
                "mean_power_w": sum(p for _, p in powered) / len(powered) if powered else None,
                "mean_utilization_pct": sum(util) / len(util) if util else None,
                "peak_process_memory_nvml_mib": max(mem) if mem else None,
                "sm_clock_mhz": _clock_summary(self._series("sm_mhz")),
                "memory_clock_mhz": _clock_summary(self._series("mem_mhz")),
                "other_processes_during": [{"pid": k, "memory_mib": v} for k, v in sorted(self.others.items())]}


def other_gpu_processes(device_index: int = 0) -> list[dict] | None:
    """Processes other than this one using the GPU (device isolation), or None if NVML cannot tell."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        procs = list(pynvml.nvmlDeviceGetComputeRunningProcesses(handle)) + \
            list(pynvml.nvmlDeviceGetGraphicsRunningProcesses(handle))
        return [{"pid": p.pid, "memory_mib": (p.usedGpuMemory or 0) / 2**20} for p in procs if p.pid != os.getpid()]
    except Exception:
        return None
    finally:
        pynvml.nvmlShutdown()
