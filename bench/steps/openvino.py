"""openvino / openvino-int8: OpenVINO IR for the OpenVINO runtime (x86 CPUs).

`openvino` converts the PyTorch model (any family's Hugging Face artifact) with `openvino.convert_model`
(traced on real train batches, dynamic batch and sequence axes) into an fp32 IR, saved uncompressed
(fp32 weights), and checks it against PyTorch on real batches as the ONNX export is checked.
`openvino-int8` is NNCF post-training quantization of that IR: int8 weights and activations with
ranges calibrated on `calibration_batches` train batches (NNCF's transformer scheme: SmoothQuant, and
the attention's softmax and LayerNorm left in float). Its agreement with the fp32 IR on validation
batches is recorded in the manifest; accuracy is measured on the quantized model itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.runtimes.openvino import openvino_unsupported_reason
from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, calibration_batches, logit_agreement

CHECK_BATCHES = 2  # validation batches of 16 for each check against the parent


class OpenVinoInt8Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    calibration_batches: int = Field(16, ge=1)  # train batches NNCF collects activation ranges on
    calibration_batch_size: int = Field(32, ge=1)
    preset: Literal["mixed", "performance"] = "mixed"  # mixed: symmetric weights, asymmetric activations
    fast_bias_correction: bool = True


def _copy_side_files(parent_dir: Path, out_dir: Path, skip: tuple[str, ...]) -> None:
    """The tokenizer, config and artifact info travel with the model."""
    for f in Path(parent_dir).iterdir():
        if f.is_file() and f.name not in (*skip, "manifest.json") and f.suffix in (".json", ".txt", ".model"):
            shutil.copy(f, out_dir / f.name)


def _ir_logits(out_dir: Path, threads: int, batches: list[dict]):
    import numpy as np

    from bench.runtimes.openvino import load

    session = load(out_dir, "cpu", threads)
    return np.concatenate([session.logits(session.run(session.prepare(b))) for b in batches])


def _convert(model, batches: list[dict]):
    """The PyTorch model as an ov.Model whose inputs are the batches' keys and whose one output is the logits."""
    import openvino as ov
    import torch

    if hasattr(model.config, "use_cache"):
        model.config.use_cache = False  # no KV cache outputs (decoder families)
    example = {k: torch.from_numpy(v) for k, v in batches[0].items()}
    with torch.no_grad():
        ov_model = ov.convert_model(model, example_input=example)
    logits = next((o for o in ov_model.outputs if "logits" in o.get_names()), ov_model.outputs[0])
    if len(ov_model.outputs) > 1:
        ov_model = ov.Model([logits], ov_model.get_parameters(), "logits")
    return ov_model


def build_fp32(ctx: BuildContext) -> dict:
    import numpy as np
    import openvino as ov
    import torch

    from bench.models import parameter_count, read_artifact_info
    from bench.steps.base import load_parent
    from bench.steps.onnx_export import MAX_LOGIT_DIFF, export_input_names

    if read_artifact_info(ctx.parent_dir).get("kind") == "lora":
        raise ValueError("convert a merged model: use the chain lora -> merge -> openvino")
    model, tokenizer, _ = load_parent(ctx)
    model = model.float().eval()
    names = export_input_names(model, tokenizer)
    ctx.progress("convert to OpenVINO IR", 0, 2)
    ov_model = _convert(model, calibration_batches(ctx, tokenizer, names, 1, 8))
    ov.save_model(ov_model, ctx.out_dir / "model.xml", compress_to_fp16=False)
    tokenizer.save_pretrained(ctx.out_dir)
    _copy_side_files(ctx.parent_dir, ctx.out_dir, ())
    ctx.progress("check against PyTorch", 1, 2)
    check = calibration_batches(ctx, tokenizer, names, CHECK_BATCHES, 16, ctx.val_path)
    with torch.inference_mode():
        ref = np.concatenate([model(**{k: torch.from_numpy(v) for k, v in b.items()}).logits.numpy() for b in check])
    diff = float(np.abs(_ir_logits(ctx.out_dir, ctx.threads, check) - ref).max())
    if diff > MAX_LOGIT_DIFF:
        raise RuntimeError(f"the OpenVINO IR disagrees with PyTorch: max |logit difference| {diff:.3g} > {MAX_LOGIT_DIFF}")
    ctx.progress("check against PyTorch", 2, 2)
    return {"parameters": parameter_count(model), "inputs": list(names), "openvino": ov.get_version(),
            "conversion": "openvino.convert_model from PyTorch, fp32 weights", "max_abs_logit_diff_vs_parent": diff}


def build_int8(ctx: BuildContext) -> dict:
    import os

    # NNCF sends usage telemetry by default; its one switch is this variable (read at import; this worker only)
    os.environ.setdefault("NNCF_CI", "1")
    import nncf
    import openvino as ov

    from bench.models import load_tokenizer

    p: OpenVinoInt8Params = ctx.params
    model = ov.Core().read_model(str(Path(ctx.parent_dir) / "model.xml"))
    tokenizer = load_tokenizer(ctx.parent_dir)
    names = [i.get_any_name() for i in model.inputs]
    batches = calibration_batches(ctx, tokenizer, names, p.calibration_batches, p.calibration_batch_size)
    ctx.progress(f"NNCF int8 calibration on {len(batches)} train batches", 0, 2)
    quantized = nncf.quantize(model, nncf.Dataset(batches), preset=nncf.QuantizationPreset(p.preset),
                              model_type=nncf.ModelType.TRANSFORMER, subset_size=len(batches),
                              fast_bias_correction=p.fast_bias_correction)
    ov.save_model(quantized, ctx.out_dir / "model.xml", compress_to_fp16=False)
    _copy_side_files(ctx.parent_dir, ctx.out_dir, ("model.xml", "model.bin"))
    ctx.progress("check against the fp32 IR", 1, 2)
    check = calibration_batches(ctx, tokenizer, names, CHECK_BATCHES, 16, ctx.val_path)
    agreement = logit_agreement(_ir_logits(ctx.out_dir, ctx.threads, check),
                                _ir_logits(Path(ctx.parent_dir), ctx.threads, check))
    ctx.progress("check against the fp32 IR", 2, 2)
    parent = json.loads((Path(ctx.parent_dir) / "manifest.json").read_text())
    return {"parameters": parent["parameters"], "openvino": ov.get_version(), "nncf": nncf.__version__,
            "quantization": {"method": "NNCF post-training quantization (OpenVINO IR)",
                             "calibration_samples": sum(len(b[names[0]]) for b in batches), **p.model_dump()},
            **agreement}


def _unsupported(device: str) -> str | None:
    reason = openvino_unsupported_reason(device)
    if reason is None:
        try:
            import nncf  # noqa: F401
        except ImportError as e:
            return f"nncf is not importable ({e}): pip install 'bench[openvino]' (openvino, nncf)"
    return reason


register_step(StepSpec(name="openvino", summary="OpenVINO IR, fp32 (openvino.convert_model from PyTorch)",
                       build=build_fp32, output_format="openvino", input_formats=frozenset({"hf"}),
                       devices=frozenset({"cpu"}), unsupported_reason=openvino_unsupported_reason))
register_step(StepSpec(name="openvino-int8", summary="OpenVINO int8: NNCF post-training quantization, calibrated",
                       build=build_int8, output_format="openvino", input_formats=frozenset({"openvino"}),
                       params=OpenVinoInt8Params, devices=frozenset({"cpu"}), unsupported_reason=_unsupported))
