"""TensorRT runtime: executes a serialized engine with torch-owned device buffers on one CUDA stream.

`run` enqueues on the stream; `synchronize` waits for it, so the timing module reads the clock after
the work, not after the launch. Inputs are prepared on the device beforehand (compute-only timing).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.runtimes.base import Session
from bench.specs import RuntimeSpec, register_runtime


class TensorRTSession(Session):
    def __init__(self, engine_path: Path):
        import tensorrt as trt
        import torch

        self.torch, self.trt = torch, trt
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = tuple(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.device = "cuda"

    def prepare(self, encoded):
        return {k: self.torch.from_numpy(np.ascontiguousarray(encoded[k], dtype=np.int64)).cuda()
                for k in self.input_names}

    def run(self, prepared):
        torch = self.torch
        # inputs may have just been copied on the default stream (end-to-end timing): order after them
        self.stream.wait_stream(torch.cuda.current_stream())
        batch, seq = next(iter(prepared.values())).shape
        with torch.cuda.stream(self.stream):
            for name, tensor in prepared.items():
                self.context.set_input_shape(name, (batch, seq))
                self.context.set_tensor_address(name, tensor.data_ptr())
            out = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=torch.float32,
                              device="cuda")
            self.context.set_tensor_address(self.output_name, out.data_ptr())
            self.context.execute_async_v3(self.stream.cuda_stream)
        return out

    def logits(self, output) -> np.ndarray:
        self.synchronize()
        return output.float().cpu().numpy()

    def synchronize(self) -> None:
        self.stream.synchronize()

    def device_clock(self):
        from bench.timing import DeviceClock

        return DeviceClock(self.torch, self.stream)

    def describe(self) -> dict:
        return {"tensorrt": self.trt.__version__}


def load(artifact_dir: Path, device: str, threads: int) -> TensorRTSession:
    return TensorRTSession(Path(artifact_dir) / "model.engine")


def unsupported_reason(device: str) -> str | None:
    from bench.steps.tensorrt import tensorrt_unsupported_reason

    return tensorrt_unsupported_reason(device)


register_runtime(RuntimeSpec(name="tensorrt", summary="NVIDIA TensorRT engine (CUDA)", load=load,
                             formats=frozenset({"trt"}), devices=frozenset({"cuda"}),
                             unsupported_reason=unsupported_reason))
