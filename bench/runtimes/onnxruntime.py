"""ONNX Runtime for exported (and optionally quantized) ONNX artifacts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.runtimes.base import Session
from bench.specs import RuntimeSpec, register_runtime

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
# ORT's CPU SkipLayerNormalization kernel is slower than the Add + LayerNormalization it replaces: at
# 32x64x384 on 2 threads (ORT 1.32, AMD EPYC AVX2) 2.26 ms against 0.46 ms, and MiniLM-L6 int8 at batch
# 32 ran 187 ms with the fusion and 169 ms without. CUDA keeps ORT's default (not measured: no GPU here).
DISABLED_OPTIMIZERS = {"cpu": ["SkipLayerNormFusion"], "cuda": []}


class OrtSession(Session):
    """On CPU, feeds are numpy arrays. On CUDA, `prepare` copies the inputs to the device once and binds
    them with I/O binding, and the output stays on the device, so `run` times the compute only; the
    end-to-end figure (bench.jobs) prepares inside the timed call, copies included."""

    def __init__(self, session, device: str):
        self.session = session
        self.device = device
        self.disabled_optimizers = DISABLED_OPTIMIZERS[device]
        self.input_names = tuple(i.name for i in session.get_inputs())
        self.output_name = session.get_outputs()[0].name

    def prepare(self, encoded):
        feeds = {k: np.ascontiguousarray(encoded[k], dtype=np.int64) for k in self.input_names}
        if self.device != "cuda":
            return feeds
        import onnxruntime as ort

        binding = self.session.io_binding()
        for name, array in feeds.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(array, "cuda", 0))
        binding.bind_output(self.output_name, "cuda")
        return binding

    def run(self, prepared):
        if self.device == "cuda":
            # Run synchronizes the execution provider before it returns (RunOptions'
            # disable_synchronize_execution_providers is off by default): the host clock reads after the work
            self.session.run_with_iobinding(prepared)
            return prepared
        return self.session.run(None, prepared)[0]

    def logits(self, output) -> np.ndarray:
        if self.device == "cuda":
            return np.asarray(output.copy_outputs_to_cpu()[0], dtype=np.float32)
        return np.asarray(output, dtype=np.float32)

    def describe(self) -> dict:
        return {"providers": self.session.get_providers(),
                "inputs": "I/O binding, on the device" if self.device == "cuda" else "numpy feeds",
                "disabled_optimizers": self.disabled_optimizers}


def open_session(model_path: Path, device: str, threads: int, optimized_model_path: Path | None = None):
    """An InferenceSession as bench measures it; `optimized_model_path` saves the graph ORT will run."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    return ort.InferenceSession(str(model_path), options, providers=PROVIDERS[device],
                                disabled_optimizers=DISABLED_OPTIMIZERS[device])


def load(artifact_dir: Path, device: str, threads: int) -> OrtSession:
    return OrtSession(open_session(Path(artifact_dir) / "model.onnx", device, threads), device)


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
