"""ONNX Runtime for exported (and optionally quantized) ONNX artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.registry import RuntimeSpec, register_runtime
from bench.runtimes.base import Session

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


class OrtSession(Session):
    def __init__(self, session, device: str):
        self.session = session
        self.device = device
        self.input_names = tuple(i.name for i in session.get_inputs())

    def prepare(self, encoded):
        return {k: np.ascontiguousarray(encoded[k], dtype=np.int64) for k in self.input_names}

    def run(self, prepared):
        # On CPU, InferenceSession.run returns when the work is done; CUDA outputs are copied back to
        # host numpy arrays, which also synchronizes.
        return self.session.run(None, prepared)[0]

    def logits(self, output) -> np.ndarray:
        return np.asarray(output, dtype=np.float32)

    def describe(self) -> dict:
        return {"providers": self.session.get_providers()}


def load(artifact_dir: Path, device: str, threads: int) -> OrtSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(Path(artifact_dir) / "model.onnx"), options, providers=PROVIDERS[device])
    return OrtSession(session, device)


def unsupported_reason(device: str) -> str | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return "onnxruntime is not installed"
    wanted = PROVIDERS[device][0]
    if wanted not in ort.get_available_providers():
        return f"onnxruntime has no {wanted} here (available: {', '.join(ort.get_available_providers())})"
    return None


register_runtime(RuntimeSpec(name="onnxruntime", summary="ONNX Runtime (CPU or CUDA execution provider)",
                             load=load, formats=frozenset({"onnx"}), devices=frozenset({"cpu", "cuda"}),
                             unsupported_reason=unsupported_reason))
