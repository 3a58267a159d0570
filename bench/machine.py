"""What bench runs on: CPU vendor, model, microarchitecture, the ISA features that change a result,
usable cores and memory, and the NVIDIA GPUs. Read from /proc/cpuinfo (and `lscpu`, `nvidia-smi`
where they are on PATH), never from torch, so the parent can call it before any worker starts.

Every parser takes text, so the tests read captured or reconstructed fixtures on any CPU.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.config import ISA_FEATURES

# bench's canonical ISA feature names: the features that change which kernels ONNX Runtime and torch
# pick (int8 dot products, bf16 matmuls, tiles), as the kernel's /proc/cpuinfo flags spell them.
X86_FEATURE_FLAGS = {  # canonical name -> the cpuinfo flag that proves it
    "avx2": "avx2",
    "avx512": "avx512f",
    "avx512_vnni": "avx512_vnni",
    "avx_vnni": "avx_vnni",
    "avx512_bf16": "avx512_bf16",
    "amx": "amx_tile",
}
ARM_FEATURE_FLAGS = {"neon": "asimd", "sve": "sve", "sve2": "sve2", "arm_bf16": "bf16", "arm_i8mm": "i8mm"}
assert ISA_FEATURES == tuple(X86_FEATURE_FLAGS) + tuple(ARM_FEATURE_FLAGS), "config.ISA_FEATURES and the flag maps differ"
ISA_LABELS = {"avx2": "AVX2", "avx512": "AVX-512", "avx512_vnni": "VNNI", "avx_vnni": "AVX-VNNI",
              "avx512_bf16": "BF16", "amx": "AMX", "neon": "NEON", "sve": "SVE", "sve2": "SVE2",
              "arm_bf16": "BF16", "arm_i8mm": "I8MM"}
# the features describe() names as absent when missing (the ones a profile's price hinges on)
KEY_FEATURES = {"x86_64": ("avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx"),
                "aarch64": ("neon", "sve", "sve2", "arm_bf16", "arm_i8mm")}

VENDORS = {"AuthenticAMD": "AMD", "GenuineIntel": "Intel", "HygonGenuine": "Hygon"}
# Arm MIDR implementer codes: Linux arch/arm64/include/asm/cputype.h (ARM_CPU_IMP_*)
ARM_IMPLEMENTERS = {0x41: "ARM", 0xC0: "Ampere", 0x61: "Apple", 0x48: "HiSilicon", 0x4E: "NVIDIA"}

# AMD (family, first model, last model) -> microarchitecture. Source: Linux
# arch/x86/kernel/cpu/amd.c, bsp_init_amd() (X86_FEATURE_ZEN1..ZEN5 model ranges, v6.10).
AMD_MODELS = [
    (0x17, 0x00, 0x2F, "Zen/Zen+"), (0x17, 0x50, 0x5F, "Zen/Zen+"),
    (0x17, 0x30, 0x4F, "Zen 2"), (0x17, 0x60, 0x7F, "Zen 2"), (0x17, 0x90, 0x91, "Zen 2"),
    (0x17, 0xA0, 0xAF, "Zen 2"),
    (0x19, 0x00, 0x0F, "Zen 3"), (0x19, 0x20, 0x5F, "Zen 3"),  # Milan 0x01, Vermeer 0x21, Cezanne 0x50
    (0x19, 0x10, 0x1F, "Zen 4"), (0x19, 0x60, 0xAF, "Zen 4"),  # Genoa 0x11, Raphael 0x61, Bergamo 0xA0
    (0x1A, 0x00, 0x2F, "Zen 5"), (0x1A, 0x40, 0x4F, "Zen 5"), (0x1A, 0x60, 0x7F, "Zen 5"),  # Turin 0x02
]
# Intel family 6 model -> microarchitecture. Source: Linux arch/x86/include/asm/intel-family.h.
# Model 0x55 is Skylake-SP, Cascade Lake or Cooper Lake by stepping (see _intel_0x55).
INTEL_FAMILY6_MODELS = {
    0x6A: "Ice Lake", 0x6C: "Ice Lake", 0x8F: "Sapphire Rapids", 0xCF: "Emerald Rapids",
    0xAD: "Granite Rapids", 0xAE: "Granite Rapids", 0xAF: "Sierra Forest",
    0x8C: "Tiger Lake", 0x8D: "Tiger Lake", 0x97: "Alder Lake", 0x9A: "Alder Lake",
    0xB7: "Raptor Lake", 0xBA: "Raptor Lake", 0xBF: "Raptor Lake", 0xAA: "Meteor Lake",
    0xC6: "Arrow Lake", 0xBD: "Lunar Lake",
}
# Arm Ltd (implementer 0x41) MIDR part number -> core. Source: Linux arch/arm64/include/asm/cputype.h
# (ARM_CPU_PART_NEOVERSE_*); the Graviton generations are AWS's naming of these cores.
ARM_PARTS = {
    0xD0C: "Neoverse N1",  # AWS Graviton2, Ampere Altra
    0xD40: "Neoverse V1",  # AWS Graviton3
    0xD49: "Neoverse N2",  # Microsoft Cobalt 100
    0xD4F: "Neoverse V2",  # AWS Graviton4, NVIDIA Grace, Google Axion
    0xD8E: "Neoverse N3",
    0xD84: "Neoverse V3",
}


@dataclass(frozen=True)
class Gpu:
    name: str  # as nvidia-smi / NVML spell it, e.g. "NVIDIA H100 80GB HBM3"
    memory_mib: float
    driver: str


@dataclass(frozen=True)
class Machine:
    """One machine's identity. On aarch64, cpu_family is the architecture (8), cpu_model the MIDR part
    number (0xd40) and cpu_stepping the revision; memory_mib is None where it could not be read."""

    cpu_vendor: str  # "AMD", "Intel", "ARM", "Ampere", ... or the raw vendor string
    cpu_model_name: str
    cpu_family: int | None
    cpu_model: int | None
    cpu_stepping: int | None
    microarchitecture: str | None  # "Zen 3", "Sapphire Rapids", "Neoverse V1"; None when not in the tables
    isa: tuple[str, ...]  # canonical names (ISA_FEATURES), in that order
    usable_cores: int
    memory_mib: float | None
    arch: str  # "x86_64" or "aarch64"
    gpus: tuple[Gpu, ...] = field(default=())

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Machine:
        gpus = tuple(Gpu(**g) for g in data.get("gpus", ()))
        return cls(**{**data, "isa": tuple(data["isa"]), "gpus": gpus})

    def describe(self) -> str:
        """One human line: 'AMD EPYC (Zen 3, AVX2; no AVX-512/VNNI/BF16/AMX), 2 vCPUs, 23.5 GiB'."""
        has = [ISA_LABELS[f] for f in self.isa]
        lacks = [ISA_LABELS[f] for f in KEY_FEATURES.get(self.arch, ()) if f not in self.isa]
        features = ", ".join(has) + (f"; no {'/'.join(lacks)}" if lacks else "")
        inner = ", ".join(x for x in (self.microarchitecture or "unknown microarchitecture", features) if x)
        memory = "memory unknown" if self.memory_mib is None else f"{self.memory_mib / 1024:.1f} GiB"
        line = f"{self.cpu_model_name} ({inner}), {self.usable_cores} vCPUs, {memory}"
        for name, count in _gpu_counts(self.gpus).items():
            gpu = next(g for g in self.gpus if g.name == name)
            line += f", {count}x {name} ({gpu.memory_mib / 1024:.0f} GiB, driver {gpu.driver})"
        return line


def _gpu_counts(gpus: tuple[Gpu, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for g in gpus:
        counts[g.name] = counts.get(g.name, 0) + 1
    return counts


# ---- microarchitecture ---------------------------------------------------------------------------

def _intel_0x55(stepping: int | None) -> str:
    # intel-family.h: SKYLAKE_X steppings 0-4 are Skylake-SP, 5-7 Cascade Lake, 10-11 Cooper Lake
    if stepping is not None and 5 <= stepping <= 7:
        return "Cascade Lake"
    if stepping is not None and stepping >= 10:
        return "Cooper Lake"
    return "Skylake-SP"


def microarchitecture(vendor: str, family: int | None, model: int | None, stepping: int | None = None,
                      arm_part: int | None = None) -> str | None:
    """The microarchitecture a CPU's identity means, from the tables above; None when unknown."""
    if vendor == "AMD" and family is not None and model is not None:
        return next((name for fam, lo, hi, name in AMD_MODELS if fam == family and lo <= model <= hi), None)
    if vendor == "Intel" and family == 6 and model is not None:
        return _intel_0x55(stepping) if model == 0x55 else INTEL_FAMILY6_MODELS.get(model)
    if vendor == "ARM" and arm_part is not None:
        return ARM_PARTS.get(arm_part)
    return None


# ---- parsing ---------------------------------------------------------------------------------------

def _key_values(text: str, stop_at_blank: bool) -> dict[str, str]:
    """`key : value` lines; '#' lines are fixture comments. cpuinfo repeats a block per processor:
    the first block is enough for identity (stop_at_blank), and processors are counted apart."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if stop_at_blank and out:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def _int(value: str | None) -> int | None:
    try:
        return int(value, 0) if value else None  # "25", "0xd40"
    except ValueError:
        return None


def _isa(flags: set[str], arch: str) -> tuple[str, ...]:
    table = ARM_FEATURE_FLAGS if arch == "aarch64" else X86_FEATURE_FLAGS
    return tuple(name for name, flag in table.items() if flag in flags)


def _arm_identity(info: dict[str, str], lscpu: dict[str, str]) -> tuple[str, str, int | None, int | None, int | None]:
    implementer = _int(info.get("CPU implementer"))
    vendor = ARM_IMPLEMENTERS.get(implementer, lscpu.get("Vendor ID", "unknown"))
    part = _int(info.get("CPU part"))
    core = ARM_PARTS.get(part) if vendor == "ARM" else None
    # /proc/cpuinfo on arm64 has no model name; lscpu names the core from its own MIDR table
    name = lscpu.get("Model name") or core or f"{vendor} part {info.get('CPU part', '?')}"
    return vendor, name, _int(info.get("CPU architecture")), part, _int(info.get("CPU revision"))


def parse_cpuinfo(text: str, lscpu: str | None = None, *, usable_cores: int | None = None,
                  memory_mib: float | None = None, gpus: tuple[Gpu, ...] = ()) -> Machine:
    """A Machine from /proc/cpuinfo text (x86_64 or aarch64) and, optionally, `lscpu` output (which
    names arm64 cores). usable_cores defaults to the processors listed; memory_mib stays None unless
    given. Raises ValueError when the text is not cpuinfo."""
    info, extra = _key_values(text, stop_at_blank=True), _key_values(lscpu or "", stop_at_blank=False)
    processors = sum(1 for line in text.splitlines() if line.split(":")[0].strip() == "processor")
    if "vendor_id" in info:
        arch = "x86_64"
        vendor = VENDORS.get(info["vendor_id"], info["vendor_id"])
        name, family = info.get("model name", extra.get("Model name", "unknown")), _int(info.get("cpu family"))
        model, stepping = _int(info.get("model")), _int(info.get("stepping"))
        uarch = microarchitecture(vendor, family, model, stepping)
        flags = set(info.get("flags", "").split())
    elif "CPU implementer" in info:
        arch = "aarch64"
        vendor, name, family, model, stepping = _arm_identity(info, extra)
        uarch = microarchitecture(vendor, family, model, stepping, arm_part=model)
        flags = set(info.get("Features", "").split())
    else:
        raise ValueError("not /proc/cpuinfo text: found neither 'vendor_id' (x86) nor 'CPU implementer' (arm64)")
    return Machine(cpu_vendor=vendor, cpu_model_name=name, cpu_family=family, cpu_model=model,
                   cpu_stepping=stepping, microarchitecture=uarch, isa=_isa(flags, arch),
                   usable_cores=usable_cores or processors or 1, memory_mib=memory_mib, arch=arch, gpus=gpus)


def parse_nvidia_smi(csv: str) -> tuple[Gpu, ...]:
    """GPUs from `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv[,noheader][,nounits]`.
    Memory may carry its unit ("81559 MiB"). Raises ValueError on a line that is not three fields."""
    gpus = []
    for line in csv.splitlines():
        if not line.strip() or line.startswith("#") or line.lower().startswith("name,"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3:
            raise ValueError(f"nvidia-smi line {line!r}: expected name, memory.total, driver_version")
        gpus.append(Gpu(name=parts[0], memory_mib=float(parts[1].split()[0]), driver=parts[2]))
    return tuple(gpus)


# ---- live detection --------------------------------------------------------------------------------

def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def cgroup_cpu_limit() -> float | None:
    """CPUs the cgroup lets this process use (cgroup v2 cpu.max, else v1 cfs quota/period); None: no limit."""
    v2 = _read("/sys/fs/cgroup/cpu.max")
    if v2:
        quota, period = v2.split()[:2]  # "max 100000" or "200000 100000"
        return None if quota == "max" else int(quota) / int(period)
    quota, period = _int((_read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") or "").strip()), \
        _int((_read("/sys/fs/cgroup/cpu/cpu.cfs_period_us") or "").strip())
    return quota / period if quota and quota > 0 and period else None


def usable_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by the cgroup quota (rounded up)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit()
    return max(1, min(cores, math.ceil(limit))) if limit else cores


def memory_mib() -> float | None:
    """MemTotal, capped by the cgroup memory limit (v2 memory.max, v1 limit_in_bytes)."""
    meminfo = _read("/proc/meminfo") or ""
    total_kib = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), None)
    total = total_kib / 1024 if total_kib else None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        limit = _int((_read(path) or "").strip())
        if limit and total and limit / 2**20 < total:  # v1 says "no limit" with a huge number
            return limit / 2**20
    return total


def _run(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def detect() -> Machine:
    """This machine, live. nvidia-smi is asked only if it is on PATH; torch is never imported."""
    cpuinfo = _read("/proc/cpuinfo")
    smi = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"])
    gpus = parse_nvidia_smi(smi) if smi else ()
    if not cpuinfo:  # not Linux: what the platform module can tell
        return Machine(cpu_vendor="unknown", cpu_model_name=platform.processor() or "unknown", cpu_family=None,
                       cpu_model=None, cpu_stepping=None, microarchitecture=None, isa=(),
                       usable_cores=usable_cores(), memory_mib=None, arch=platform.machine(), gpus=gpus)
    return parse_cpuinfo(cpuinfo, _run(["lscpu"]), usable_cores=usable_cores(), memory_mib=memory_mib(), gpus=gpus)
