"""torch.compile (TorchInductor) runtime for Hugging Face model directories (fp32 or bf16 as stored).

Compilation happens outside the timed region: `prepare` runs the compiled model once on every batch
whose shape it has not seen (the offline cell prepares all of its batches before timing starts, so
every shape the timed loop uses is compiled by then), and times that first call as compile time.
`describe` records the compile time, the graphs compiled, and the graphs compiled after warm-up
(torch._dynamo's counters): a recompilation inside the timed region would show there, not hide in the
latency. Default `dynamic=None`: one static graph for the first shape; a later new shape (the accuracy
cell's length-sorted batches) compiles one graph with dynamic sizes, after which no shape recompiles.
"""

from __future__ import annotations

from pathlib import Path

from bench.runtimes.torch_eager import TorchSession
from bench.specs import RuntimeSpec, register_runtime

BACKEND = "inductor"


def graphs_compiled() -> int:
    """Graphs torch._dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


class CompiledTorchSession(TorchSession):
    def __init__(self, model, device: str):
        super().__init__(model, device)
        from bench.timing import wall_clock_s

        self.clock = wall_clock_s
        self.eager = self.model
        self.model = self.torch.compile(self.eager, backend=BACKEND)
        self.shapes: dict[tuple, float] = {}  # shape -> seconds its first (compiling) call took
        self.graphs_at_start = graphs_compiled()
        self.graphs_after_warmup = self.graphs_at_start

    def prepare(self, encoded):
        prepared = super().prepare(encoded)
        shape = tuple(tuple(t.shape) for t in prepared.values())
        if shape not in self.shapes:
            t0 = self.clock()
            self.run(prepared)
            self.synchronize()
            self.shapes[shape] = self.clock() - t0
            self.graphs_after_warmup = graphs_compiled()
        return prepared

    def describe(self) -> dict:
        compiled = graphs_compiled()
        return {**super().describe(), "compiler": f"torch.compile(backend={BACKEND!r}, dynamic=None)",
                "compile": {"compile_s": round(sum(self.shapes.values()), 3),
                            "first_call_s_per_shape": {"x".join(map(str, s[0])): round(v, 3)
                                                       for s, v in self.shapes.items()},
                            "graphs_compiled": compiled - self.graphs_at_start,
                            "graphs_compiled_after_warmup": compiled - self.graphs_after_warmup}}


def load(artifact_dir: Path, device: str, threads: int) -> CompiledTorchSession:
    import torch

    from bench.models import load_artifact_model

    torch.set_num_threads(threads)
    return CompiledTorchSession(load_artifact_model(artifact_dir), device)


def compile_unsupported_reason(device: str) -> str | None:
    """Why inductor cannot compile here: no C++ compiler (CPU), no Triton or CUDA (GPU), or None."""
    import torch

    if not torch._dynamo.is_dynamo_supported():
        return "torch.compile is not supported on this Python version (torch._dynamo.is_dynamo_supported())"
    if device == "cuda":
        from torch.utils._triton import has_triton

        if not torch.cuda.is_available():
            return "torch reports no CUDA device (torch.cuda.is_available() is False)"
        if not has_triton():
            return "TorchInductor on CUDA needs Triton, which is not importable here"
        return None
    from torch._inductor import exc
    from torch._inductor.cpp_builder import get_cpp_compiler

    try:
        get_cpp_compiler()  # $CXX, else g++: what inductor itself would run
    except exc.InvalidCxxCompiler as e:
        return f"TorchInductor on CPU needs a C++ compiler and found none ({str(e).strip()}): set CXX or install g++"
    return None


register_runtime(RuntimeSpec(name="torch-compile", summary="PyTorch with torch.compile (TorchInductor)", load=load,
                             formats=frozenset({"hf"}), devices=frozenset({"cpu", "cuda"}),
                             unsupported_reason=compile_unsupported_reason))
