"""PyTorch eager runtime for Hugging Face model directories (fp32 or the dtype the artifact stores)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.runtimes.base import Session
from bench.specs import RuntimeSpec, register_runtime


class TorchSession(Session):
    def __init__(self, model, device: str):
        import torch

        self.torch = torch
        self.model = model.to(device).eval()
        self.device = device
        from bench.models import forward_input_names

        inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps the model
        self.input_names = forward_input_names(inner)

    def prepare(self, encoded):
        return {k: self.torch.from_numpy(np.ascontiguousarray(encoded[k])).to(self.device)
                for k in self.input_names if k in encoded}

    def run(self, prepared):
        with self.torch.inference_mode():
            return self.model(**prepared).logits

    def logits(self, output) -> np.ndarray:
        return output.float().cpu().numpy()

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def device_clock(self):
        if not self.device.startswith("cuda"):
            return None
        from bench.timing import DeviceClock

        return DeviceClock(self.torch)  # the current stream, where the model's kernels run

    def describe(self) -> dict:
        p = next(self.model.parameters())
        return {"dtype": str(p.dtype).removeprefix("torch."), "torch_threads": self.torch.get_num_threads(),
                "attn_implementation": getattr(self.model.config, "_attn_implementation", None)}


def load(artifact_dir: Path, device: str, threads: int) -> TorchSession:
    import torch

    from bench.models import load_artifact_model

    torch.set_num_threads(threads)
    return TorchSession(load_artifact_model(artifact_dir), device)


def unsupported_reason(device: str) -> str | None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return "torch reports no CUDA device (torch.cuda.is_available() is False)"
    return None


register_runtime(RuntimeSpec(name="torch", summary="PyTorch eager (transformers model)", load=load,
                             formats=frozenset({"hf", "hf-lora"}), devices=frozenset({"cpu", "cuda"}),
                             unsupported_reason=unsupported_reason))
