"""onnx: export a Hugging Face artifact to ONNX (fp32) and apply ONNX Runtime's transformer optimizer.

Exported with eager attention: ORT's optimizer fuses attention only from that graph shape. The
TorchScript exporter (`dynamo=False`) is used because it produces the graph the optimizer knows.
Residual Add + LayerNormalization is left unfused in the artifact: whether SkipLayerNormalization pays
depends on the device, so the runtime decides when it loads the model (bench.runtimes.onnxruntime).
The export is checked against PyTorch on a real batch and the difference is kept in the manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext

OPSET = 17
MAX_LOGIT_DIFF = 1e-2  # fp32 export + fusion: differences are ~1e-5; larger means a wrong graph
ORT_OPTIMIZER_MODEL_TYPES = {"bert", "roberta", "distilbert", "electra", "xlm-roberta", "deberta-v2"}


def onnx_parameter_count(path: Path) -> int:
    import numpy as np
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return int(sum(np.prod(t.dims) for t in model.graph.initializer))


def export(model, tokenizer, path: Path, texts) -> tuple[str, ...]:
    import torch

    enc = tokenizer(list(texts[:4]), padding="longest", truncation=True, max_length=64, return_tensors="pt")
    from bench.models import forward_input_names

    names = tuple(n for n in forward_input_names(model) if n in enc)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with torch.inference_mode():
        torch.onnx.export(model, tuple(enc[n] for n in names), str(path), input_names=list(names),
                          output_names=["logits"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return names


def optimize(raw: Path, out: Path, config) -> dict:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    heads = {layer["heads"] for layer in layer_shapes} if (layer_shapes := getattr(config, "bench_layers", None)) else set()
    if config.model_type not in ORT_OPTIMIZER_MODEL_TYPES:
        shutil.copy(raw, out)
        return {"ort_transformer_optimizer": f"skipped: model_type '{config.model_type}' not supported by it"}
    # A pruned model has fewer heads per layer than its config says: let the optimizer read them from the graph.
    num_heads, hidden = (0, 0) if heads else (config.num_attention_heads, config.hidden_size)
    model_type = "bert" if config.model_type == "bert" else config.model_type
    fusions = FusionOptions(model_type)
    fusions.enable_skip_layer_norm = False
    opt = optimize_model(str(raw), model_type=model_type, num_heads=num_heads, hidden_size=hidden, opt_level=1,
                         optimization_options=fusions)
    opt.save_model_to_file(str(out))
    fused = {k: v for k, v in opt.get_fused_operator_statistics().items() if v}
    return {"ort_transformer_optimizer": "applied", "fused_operators": fused}


def check_against_torch(model, tokenizer, onnx_path: Path, texts) -> float:
    import numpy as np
    import onnxruntime as ort
    import torch

    enc = tokenizer(list(texts[:8]), padding="longest", truncation=True, max_length=128, return_tensors="np")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feeds = {i.name: enc[i.name].astype(np.int64) for i in sess.get_inputs()}
    ort_logits = sess.run(None, feeds)[0]
    with torch.inference_mode():
        ref = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).logits.numpy()
    return float(np.abs(ort_logits - ref).max())


def build(ctx: BuildContext) -> dict:
    from transformers import AutoConfig

    from bench.data import read_split
    from bench.models import load_artifact_model, load_tokenizer, read_artifact_info

    info = read_artifact_info(ctx.parent_dir)
    if info.get("kind") == "lora":
        raise ValueError("export a merged model: use the chain lora -> merge -> onnx")
    model = load_artifact_model(ctx.parent_dir, attn_implementation="eager").float()
    tokenizer = load_tokenizer(ctx.parent_dir)
    texts = read_split(ctx.val_path).texts or read_split(ctx.train_path).texts
    ctx.progress("export to ONNX", 0, 2)
    raw = ctx.out_dir / "exported.onnx"
    inputs = export(model, tokenizer, raw, texts)
    ctx.progress("ORT transformer optimizer", 1, 2)
    config = AutoConfig.from_pretrained(ctx.parent_dir)
    if "pruned" in info:
        config.bench_layers = [{"heads": h} for h in info["pruned"]["heads_per_layer"]]
    opt_info = optimize(raw, ctx.out_dir / "model.onnx", config)
    raw.unlink()
    tokenizer.save_pretrained(ctx.out_dir)
    shutil.copy(Path(ctx.parent_dir) / "config.json", ctx.out_dir / "config.json")
    ctx.progress("ORT transformer optimizer", 2, 2)
    diff = check_against_torch(model, tokenizer, ctx.out_dir / "model.onnx", texts)
    if diff > MAX_LOGIT_DIFF:
        raise RuntimeError(f"the ONNX model disagrees with PyTorch: max |logit difference| {diff:.3g} > {MAX_LOGIT_DIFF}")
    return {"parameters": onnx_parameter_count(ctx.out_dir / "model.onnx"), "opset": OPSET, "inputs": list(inputs),
            "max_abs_logit_diff_vs_parent": diff, **opt_info}


register_step(StepSpec(name="onnx", version=2, summary="ONNX export (fp32) + ORT transformer optimizer", build=build,
                       output_format="onnx", input_formats=frozenset({"hf"})))
