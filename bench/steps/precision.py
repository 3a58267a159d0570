"""bf16 and fp16: the parent's weights cast to a 16-bit float type, run in PyTorch.

bf16 is fast on CPUs with AMX or AVX512-BF16 and on CUDA; elsewhere PyTorch emulates it and it is
slower than fp32; the manifest says which this machine is, and the measurement shows it. fp16 is
offered on CUDA only (CPU fp16 kernels are emulated).
"""

from __future__ import annotations

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, save_hf, validation_figures


def cpu_bf16_kernels() -> str:
    from bench.env import cpu_info

    flags = cpu_info()["cpu_flags"]
    if flags.get("amx_bf16") or flags.get("avx512_bf16"):
        return "native (AMX or AVX512-BF16)"
    return "emulated: this CPU has neither AMX nor AVX512-BF16, so bf16 is expected to be slower than fp32"


def _cast(ctx: BuildContext, dtype_name: str) -> dict:
    import torch

    from bench.models import (
        load_artifact_model,
        load_tokenizer,
        parameter_count,
        read_artifact_info,
        write_artifact_info,
    )

    info = read_artifact_info(ctx.parent_dir)
    if info.get("kind") == "lora":
        raise ValueError("cast a merged model: use the chain lora -> merge -> " + dtype_name)
    model = load_artifact_model(ctx.parent_dir).to(getattr(torch, dtype_name))
    model.config.dtype = dtype_name
    tokenizer = load_tokenizer(ctx.parent_dir)
    save_hf(model, tokenizer, ctx.out_dir)
    if info:
        write_artifact_info(ctx.out_dir, info)  # e.g. the pruned shapes
    out = {"parameters": parameter_count(model), "dtype": dtype_name,
           **validation_figures(model, tokenizer, ctx)}
    if ctx.device == "cpu":
        out["cpu_bf16_kernels"] = cpu_bf16_kernels()
    return out


def build_bf16(ctx: BuildContext) -> dict:
    return _cast(ctx, "bfloat16")


def build_fp16(ctx: BuildContext) -> dict:
    return _cast(ctx, "float16")


register_step(StepSpec(name="bf16", summary="bfloat16 weights and compute (PyTorch)", build=build_bf16,
                       output_format="hf", input_formats=frozenset({"hf"})))
register_step(StepSpec(name="fp16", summary="float16 weights and compute (PyTorch, CUDA)", build=build_fp16,
                       output_format="hf", input_formats=frozenset({"hf"}), devices=frozenset({"cuda"})))
