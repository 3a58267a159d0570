"""OpenVINO runtime for OpenVINO IR artifacts (model.xml + model.bin), on x86 CPUs.

Compiled for latency as ONNX Runtime is run here: one stream, one synchronous infer request, `threads`
inference threads. The inference precision is pinned to what the IR says (f32 for the fp32 IR; the
int8 IR's quantized layers run in int8 either way): OpenVINO's CPU plugin would otherwise run an fp32
model in bf16 on CPUs with AVX512-BF16 or AMX, and the `openvino` variant would not be fp32.
"""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np

from bench.runtimes.base import Session
from bench.specs import RuntimeSpec, register_runtime

X86 = ("x86_64", "amd64", "i686", "x86")


class OpenVinoSession(Session):
    """`prepare` makes int64 feeds for the model's inputs; `run` infers on one request whose output
    buffer is shared (no copy in the timed call); `logits` copies it out."""

    def __init__(self, compiled, core):
        self.compiled, self.core = compiled, core
        self.request = compiled.create_infer_request()
        self.input_names = tuple(i.get_any_name() for i in compiled.inputs)

    def prepare(self, encoded):
        return {k: np.ascontiguousarray(encoded[k], dtype=np.int64) for k in self.input_names}

    def run(self, prepared):
        return self.request.infer(prepared, share_inputs=True, share_outputs=True)[0]

    def logits(self, output) -> np.ndarray:
        return np.array(output, dtype=np.float32)  # a copy: the request reuses its output buffer

    def describe(self) -> dict:
        import openvino as ov

        keys = ("INFERENCE_NUM_THREADS", "NUM_STREAMS", "INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT")
        props = {k: str(self.compiled.get_property(k)) for k in keys}
        return {"openvino": ov.get_version(), "device": "CPU", **props,
                "cpu_capabilities": list(self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))}


def compile_ir(xml_path: Path, threads: int):
    """(compiled model, core): CPU plugin, latency hint, one stream, fp32 inference precision."""
    import openvino as ov

    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "INFERENCE_PRECISION_HINT": "f32"}
    if threads > 0:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    return core.compile_model(str(xml_path), "CPU", config), core


def load(artifact_dir: Path, device: str, threads: int) -> OpenVinoSession:
    return OpenVinoSession(*compile_ir(Path(artifact_dir) / "model.xml", threads))


def openvino_unsupported_reason(device: str) -> str | None:
    """Why OpenVINO cannot run here (a CPU device, an x86 CPU, the package importable), or None."""
    if device != "cpu":
        return f"bench runs OpenVINO on CPU only, and this run's device is {device}"
    machine = platform.machine().lower()
    if machine not in X86:
        return (f"bench runs OpenVINO on x86 CPUs only, and this CPU is {machine} (OpenVINO's ARM plugin "
                "and NNCF's int8 kernels there are not validated by bench)")
    try:
        import openvino  # noqa: F401
    except ImportError as e:
        return f"openvino is not importable ({e}): pip install 'bench[openvino]' (openvino, nncf)"
    return None


register_runtime(RuntimeSpec(name="openvino", summary="OpenVINO (CPU plugin, x86)", load=load,
                             formats=frozenset({"openvino"}), devices=frozenset({"cpu"}),
                             unsupported_reason=openvino_unsupported_reason))
