"""tensorrt-fp16 / tensorrt-int8: an ONNX artifact compiled to a TensorRT engine (TensorRT Python API).

The engine is valid only for the GPU and TensorRT version it was built with, so the cache key
includes both (StepSpec.hardware_specific). int8 uses entropy calibration on train-split batches.
Where CUDA or TensorRT is absent the step says so and the variant is recorded `unsupported`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext


class TensorRTParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_batch_size: int = Field(64, ge=1)
    max_seq_len: int = Field(256, ge=8)
    opt_batch_size: int = Field(32, ge=1)
    opt_seq_len: int = Field(128, ge=8)
    workspace_mib: int = Field(4096, ge=64)
    calibration_batches: int = Field(16, ge=1)  # int8 only


def tensorrt_unsupported_reason(device: str) -> str | None:
    try:
        import tensorrt  # noqa: F401
    except ImportError as e:
        return (f"TensorRT is not importable here ({e}); install NVIDIA's tensorrt packages on a CUDA machine "
                "(its libraries are not on PyPI mirrors without NVIDIA's index)")
    except OSError as e:  # the wheel is present but its shared libraries are not
        return f"TensorRT's libraries failed to load: {e}"
    import torch

    if not torch.cuda.is_available():
        return "TensorRT needs a CUDA GPU and torch reports none"
    return None


def calibration_batches(tokenizer, split, p: TensorRTParams) -> list[dict]:
    """int8 calibration input: `p.calibration_batches` batches of `p.opt_batch_size` train examples (text pairs
    where the task has them, so token_type_ids hold both segments), padded to `p.opt_seq_len`; int64 numpy
    arrays by input name. A split smaller than one batch is cycled. ValueError on an empty split."""
    from bench.data import tokenize

    if not split.texts:
        raise ValueError("TensorRT int8 calibration needs train examples and the train split is empty")
    bs, n = p.opt_batch_size, len(split.texts)
    count = max(1, min(p.calibration_batches, n // bs))
    idx = [i % n for i in range(count * bs)]
    texts = [split.texts[i] for i in idx]
    pairs = None if split.pairs is None else [split.pairs[i] for i in idx]
    return [{k: v.astype("int64") for k, v in tokenize(
                tokenizer, texts[b * bs:(b + 1) * bs], None if pairs is None else pairs[b * bs:(b + 1) * bs],
                padding="max_length", truncation=True, max_length=p.opt_seq_len, return_tensors="np").items()}
            for b in range(count)]


def _calibrator(trt, batches):
    import torch

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.batches = list(batches)
            self.index = 0
            self.device_inputs = {}

        def get_batch_size(self):
            return int(next(iter(self.batches[0].values())).shape[0])

        def get_batch(self, names):
            if self.index >= len(self.batches):
                return None
            batch = self.batches[self.index]
            self.index += 1
            self.device_inputs = {n: torch.from_numpy(batch[n]).to(torch.int64).cuda() for n in names}
            return [int(self.device_inputs[n].data_ptr()) for n in names]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache):
            return None

    return EntropyCalibrator()


def _build(ctx: BuildContext, precision: str) -> dict:
    import tensorrt as trt

    from bench.data import read_split
    from bench.models import load_tokenizer

    p: TensorRTParams = ctx.params
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    onnx_path = Path(ctx.parent_dir) / "model.onnx"
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, p.workspace_mib << 20)
    profile = builder.create_optimization_profile()
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    for name in names:
        profile.set_shape(name, (1, 1), (p.opt_batch_size, p.opt_seq_len), (p.max_batch_size, p.max_seq_len))
    config.add_optimization_profile(profile)
    config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        batches = calibration_batches(load_tokenizer(ctx.parent_dir), read_split(ctx.train_path), p)
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _calibrator(trt, batches)
        config.set_calibration_profile(profile)
    ctx.progress(f"TensorRT {precision} engine build", 0, 1)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT failed to build the engine; see the log above")
    (ctx.out_dir / "model.engine").write_bytes(bytes(engine))
    for f in Path(ctx.parent_dir).iterdir():
        if f.is_file() and f.suffix in (".json", ".txt") and f.name != "manifest.json":
            shutil.copy(f, ctx.out_dir / f.name)
    ctx.progress(f"TensorRT {precision} engine build", 1, 1)
    from bench.steps.onnx_export import onnx_parameter_count

    return {"parameters": onnx_parameter_count(onnx_path), "precision": precision, "tensorrt": trt.__version__,
            "inputs": names, "profile": p.model_dump()}


def build_fp16(ctx: BuildContext) -> dict:
    return _build(ctx, "fp16")


def build_int8(ctx: BuildContext) -> dict:
    return _build(ctx, "int8")


for _name, _fn, _what in (("tensorrt-fp16", build_fp16, "fp16"), ("tensorrt-int8", build_int8, "int8 (calibrated)")):
    register_step(StepSpec(name=_name, summary=f"TensorRT engine, {_what}", build=_fn, output_format="trt",
                           input_formats=frozenset({"onnx"}), params=TensorRTParams, devices=frozenset({"cuda"}),
                           unsupported_reason=tensorrt_unsupported_reason, hardware_specific=True))
