"""The checked registry of build steps and runtimes (peft's `register_peft_method`, made strict).

A *variant* is a chain of build steps (e.g. ["full", "onnx", "int8"]); each step turns its parent
artifact into a new one. A *runtime* loads and executes an artifact of a given format. Both are
found by name; registering a name twice is an error at import time, naming an unknown one is an
error at config-validation time. Step and runtime modules import nothing heavy at module level, so
the registry (and so `bench --help` and suite validation) loads without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def cuda_missing() -> str | None:
    """Why this process cannot use CUDA, or None (imports torch: call it in a worker)."""
    import torch

    if not torch.cuda.is_available():
        return "this run's device is cuda and torch reports no CUDA device (torch.cuda.is_available() is False)"
    return None


@dataclass(frozen=True)
class StepSpec:
    name: str
    summary: str
    build: Callable  # build(ctx: BuildContext) -> BuildOutput, heavy imports inside
    output_format: str  # "hf" (a Hugging Face model directory) or "onnx"
    input_formats: frozenset[str] = frozenset()  # empty: the step starts from the base model
    params: type[BaseModel] = NoParams
    devices: frozenset[str] = frozenset({"cpu", "cuda"})
    # Bump when the step's code changes what it builds, so cached artifacts are rebuilt.
    version: int = 1
    # Returns None where the step can build here, else why not (runs in the worker, may import heavy things).
    unsupported_reason: Callable[[str], str | None] | None = None
    # The artifact depends on the GPU and library versions it was built with (a TensorRT engine).
    hardware_specific: bool = False

    def why_unsupported(self, device: str) -> str | None:
        """Every reason the step cannot build here (the wrong device, and what its own check finds)."""
        reasons = []
        if device not in self.devices:
            reasons.append(f"step '{self.name}' runs on {' or '.join(sorted(self.devices))}, "
                           f"and this run's device is {device}")
        elif device == "cuda" and (missing := cuda_missing()):
            reasons.append(missing)
        if self.unsupported_reason:
            found = self.unsupported_reason(device if device in self.devices else sorted(self.devices)[0])
            if found:
                reasons.append(found)
        return "; ".join(reasons) or None


@dataclass(frozen=True)
class RuntimeSpec:
    name: str
    summary: str
    load: Callable  # load(artifact_dir, device, threads) -> runtimes.Session
    formats: frozenset[str]
    devices: frozenset[str] = frozenset({"cpu"})
    # Returns None where the runtime can run here, else the reason it cannot.
    unsupported_reason: Callable[[str], str | None] = field(default=lambda device: None)


STEPS: dict[str, StepSpec] = {}
RUNTIMES: dict[str, RuntimeSpec] = {}
DEFAULT_RUNTIME_FOR_FORMAT = {"hf": "torch", "hf-lora": "torch", "onnx": "onnxruntime", "trt": "tensorrt"}
ROOT_STEP = "full"  # the step a chain starts from when its first step needs a parent


def expand_chain(names: list[str]) -> list[str]:
    """Insert the parents a "+"-named chain leaves implicit: "distilled+int8" is
    full -> distilled -> onnx -> int8. Unknown names are left for validation to report."""
    out: list[str] = []
    fmt: str | None = None
    for name in names:
        step = STEPS.get(name)
        if step is not None and step.input_formats:
            if fmt is None:
                out.append(ROOT_STEP)
                fmt = STEPS[ROOT_STEP].output_format
            if fmt not in step.input_formats and "onnx" in step.input_formats and fmt == "hf":
                out.append("onnx")
                fmt = "onnx"
        out.append(name)
        fmt = step.output_format if step is not None else fmt
    return out


def register_step(spec: StepSpec) -> StepSpec:
    if spec.name in STEPS:
        raise ValueError(f"build step {spec.name!r} is registered twice")
    if spec.output_format not in DEFAULT_RUNTIME_FOR_FORMAT:
        raise ValueError(f"build step {spec.name!r}: unknown output format {spec.output_format!r}")
    STEPS[spec.name] = spec
    return spec


def register_runtime(spec: RuntimeSpec) -> RuntimeSpec:
    if spec.name in RUNTIMES:
        raise ValueError(f"runtime {spec.name!r} is registered twice")
    RUNTIMES[spec.name] = spec
    return spec


def load_all() -> None:
    """Import every step and runtime module so that the registry is complete."""
    import bench.runtimes  # noqa: F401
    import bench.steps  # noqa: F401
