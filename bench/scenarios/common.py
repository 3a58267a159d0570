"""Worker-side helpers shared by the scenarios: load the runtime session, read memory and GPU isolation.
Only the worker calls these; heavy modules are imported inside them."""

from __future__ import annotations

from pathlib import Path

from bench.errors import Unsupported
from bench.jobspec import CellJob


def load_session(job: CellJob):
    """The job's artifact loaded by its runtime; Unsupported where the runtime cannot run on the device."""
    from bench.registry import RUNTIMES

    spec = RUNTIMES[job.runtime]
    reason = spec.unsupported_reason(job.device)
    if reason:
        raise Unsupported(f"runtime {spec.name} on {job.device}: {reason}")
    return spec.load(Path(job.artifact_dir), job.device, job.threads)


def load_test_split(job: CellJob):
    """(the test split, the artifact's tokenizer)."""
    from bench.data import read_split
    from bench.models import load_tokenizer

    return read_split(Path(job.test_path)), load_tokenizer(Path(job.artifact_dir))


def host_memory() -> dict:
    from bench.train import peak_rss_mib

    return {"peak_rss_mib": round(peak_rss_mib(), 1)}


def cuda_memory(gpu: dict | None) -> dict:
    """On CUDA: PyTorch's allocator peaks (where torch ran the model) and the NVML figure, named so."""
    import sys

    out = {}
    if gpu is not None:
        out["gpu_nvml"] = gpu
        if gpu.get("peak_process_memory_nvml_mib") is not None:
            out["gpu_peak_nvml_used_mib"] = gpu["peak_process_memory_nvml_mib"]
    torch = sys.modules.get("torch")
    if gpu is not None and torch is not None and torch.cuda.is_initialized():
        out["gpu_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu_max_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
    return out


def isolation_check(job: CellJob, when: str) -> dict:
    """Other processes on the GPU at `when` (before/after): warned about, or refused (DeviceBusy)."""
    from bench.gpu import check_isolation, other_gpu_processes

    others = other_gpu_processes()
    return {"others": others, "warning": check_isolation(job.gpu_isolation, others, when)}


CPU_WINDOW_BEFORE_S = 0.5  # how long the CPU is watched, idle, before an offline or server cell's session loads


def cpu_before(job: CellJob) -> dict | None:
    """The CPU over a short idle window before the cell (this worker sleeps; its parent, the bench
    runner, and its tree are not "others"); None where measure.cpu_isolation is off."""
    import os

    from bench.cpuload import measure_window

    if job.cpu_isolation == "off":
        return None
    return cpu_isolation(job.cpu_isolation, measure_window(CPU_WINDOW_BEFORE_S, "before", os.getppid()))


def cpu_isolation(policy: str, load) -> dict:
    """A bench.cpuload.CpuLoad as the record keeps it, with its warning (policy `warn`); raises
    CpuBusy (policy `refuse`) where other processes or steal took the CPU."""
    from bench.cpuload import check_cpu_isolation

    return {**load.to_dict(), "warning": check_cpu_isolation(policy, load)}


def max_memory(results) -> dict:
    """Each numeric memory figure of several processes (ProcessResults) at the largest any reached;
    others as the first process had them."""
    memory: dict = {}
    for r in results:
        for k, v in (r.memory or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                memory[k] = max(memory.get(k, v), v)
            else:
                memory.setdefault(k, v)
    return memory
