"""What a build step or runtime module registers: its spec, and the tables it registers into.

Step and runtime modules import this module (never bench.registry, which imports them to load the
whole registry): the plugins sit below the registry, and the import graph stays acyclic. A name
registered twice is an error at import time. Nothing here imports torch at module level.
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
    # The step trains (full, lora, distilled, pruned's recovery): a suite's [tuning] gives it its budget.
    trains: bool = False

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
DEFAULT_RUNTIME_FOR_FORMAT = {"hf": "torch", "hf-lora": "torch", "onnx": "onnxruntime", "trt": "tensorrt",
                             "openvino": "openvino"}
ROOT_STEP = "full"  # the step a chain starts from when its first step needs a parent
# format -> the step that makes it from a Hugging Face model: the parent a "+"-named chain leaves implicit
# (distilled+int8 is full -> distilled -> onnx -> int8; distilled+openvino-int8 inserts openvino)
CONVERTER_FOR_FORMAT = {"onnx": "onnx", "openvino": "openvino"}


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
