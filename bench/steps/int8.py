"""int8: ONNX Runtime dynamic quantization of an (optimized) ONNX artifact.

Weights are int8 ahead of time; activations are quantized per batch at run time, so no calibration
data is needed. Accuracy is measured on the quantized model itself, in ONNX Runtime.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext


class Int8Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight_type: Literal["qint8", "quint8"] = "qint8"
    per_channel: bool = False
    # 7-bit weights avoid int16 saturation in the u8s8 kernels of CPUs without VNNI (ORT's advice)
    reduce_range: bool = False


def build(ctx: BuildContext) -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from bench.steps.onnx_export import onnx_parameter_count

    p: Int8Params = ctx.params
    ctx.progress("dynamic int8 quantization", 0, 1)
    src = Path(ctx.parent_dir) / "model.onnx"
    quantize_dynamic(str(src), str(ctx.out_dir / "model.onnx"), per_channel=p.per_channel,
                     reduce_range=p.reduce_range,
                     weight_type=QuantType.QInt8 if p.weight_type == "qint8" else QuantType.QUInt8,
                     # the fused com.microsoft ops of the optimized graph defeat ONNX shape inference
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    for f in Path(ctx.parent_dir).iterdir():
        if f.is_file() and f.name not in ("model.onnx", "manifest.json"):
            shutil.copy(f, ctx.out_dir / f.name)
    ctx.progress("dynamic int8 quantization", 1, 1)
    return {"parameters": onnx_parameter_count(ctx.out_dir / "model.onnx"),
            "quantization": {"method": "onnxruntime dynamic", **p.model_dump()}}


register_step(StepSpec(name="int8", summary="ONNX Runtime dynamic int8 quantization", build=build,
                       output_format="onnx", input_formats=frozenset({"onnx"}), params=Int8Params))
