"""int8-static: ONNX Runtime static int8 quantization (QDQ) of an (optimized) ONNX artifact.

Weights and activations are int8 ahead of time; the activations' ranges come from calibration on
`calibration_batches` train batches (a CalibrationDataReader over real, tokenized train texts), so
nothing is quantized per batch at run time, unlike the dynamic `int8` step. The graph keeps float
inputs and outputs with QuantizeLinear/DequantizeLinear pairs around the quantized operators; ONNX
Runtime fuses them into int8 kernels when it loads the model. On the ORT-optimized transformer graph,
the MatMuls outside the fused Attention operator are the ones quantized (ORT's QDQ registry has no
Attention entry); per-channel weight scales by default (more accurate on small hidden sizes).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, calibration_batches, logit_agreement

QUANT_TYPES = {"qint8": "QInt8", "quint8": "QUInt8"}
CALIBRATION_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


class Int8StaticParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    calibration_batches: int = Field(16, ge=1)  # train batches the activation ranges are calibrated on
    calibration_batch_size: int = Field(32, ge=1)
    calibrate_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    # S8S8 with QDQ is ONNX Runtime's first choice for accuracy and speed (its quantization guide)
    activation_type: Literal["qint8", "quint8"] = "qint8"
    weight_type: Literal["qint8", "quint8"] = "qint8"
    per_channel: bool = True
    # 7-bit weights avoid int16 saturation in the u8s8 kernels of CPUs without VNNI (ORT's advice)
    reduce_range: bool = False


def _reader(batches: list[dict]):
    from onnxruntime.quantization import CalibrationDataReader

    class TrainBatches(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(batches)

        def get_next(self):
            return next(self.batches, None)

    return TrainBatches()


def _ort_logits(model_path: Path, batches: list[dict], threads: int):
    import numpy as np

    from bench.runtimes.onnxruntime import open_session

    session = open_session(model_path, "cpu", threads)
    return np.concatenate([session.run(None, b)[0] for b in batches])


def build(ctx: BuildContext) -> dict:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from bench.models import load_tokenizer
    from bench.runtimes.onnxruntime import open_session
    from bench.steps.onnx_export import onnx_parameter_count

    p: Int8StaticParams = ctx.params
    src, out = Path(ctx.parent_dir) / "model.onnx", ctx.out_dir / "model.onnx"
    tokenizer = load_tokenizer(ctx.parent_dir)
    names = [i.name for i in open_session(src, "cpu", ctx.threads).get_inputs()]
    batches = calibration_batches(ctx, tokenizer, names, p.calibration_batches, p.calibration_batch_size)
    ctx.progress(f"static int8 calibration on {len(batches)} train batches", 0, 2)
    quantize_static(str(src), str(out), _reader(batches), quant_format=QuantFormat.QDQ, per_channel=p.per_channel,
                    reduce_range=p.reduce_range, activation_type=getattr(QuantType, QUANT_TYPES[p.activation_type]),
                    weight_type=getattr(QuantType, QUANT_TYPES[p.weight_type]),
                    calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[p.calibrate_method]),
                    # the fused com.microsoft ops of the optimized graph defeat ONNX shape inference
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    for f in Path(ctx.parent_dir).iterdir():
        if f.is_file() and f.name not in ("model.onnx", "manifest.json"):
            shutil.copy(f, ctx.out_dir / f.name)
    ctx.progress("check against the fp32 model", 1, 2)
    check = calibration_batches(ctx, tokenizer, names, 2, 16, ctx.val_path)
    agreement = logit_agreement(_ort_logits(out, check, ctx.threads), _ort_logits(src, check, ctx.threads))
    ctx.progress("check against the fp32 model", 2, 2)
    return {"parameters": onnx_parameter_count(out), **agreement,
            "quantization": {"method": "onnxruntime static (QDQ, calibrated)", "format": "QDQ",
                             "calibration_samples": sum(len(b[names[0]]) for b in batches), **p.model_dump()}}


register_step(StepSpec(name="int8-static", summary="ONNX Runtime static int8 (QDQ, calibrated on train batches)",
                       build=build, output_format="onnx", input_formats=frozenset({"onnx"}), params=Int8StaticParams))
