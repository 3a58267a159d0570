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
# transformers' model_type -> the ORT transformer optimizer's (onnxruntime.transformers.optimizer.MODEL_TYPES).
# The BERT optimizer fuses the attention, LayerNorm and GELU patterns these encoders share (what optimum
# maps them to); GPT-2's own optimizer knows its Conv1D attention. Families not listed (DeBERTa's
# disentangled attention, ModernBERT, rotary decoders) are exported plain: ORT's own graph optimizations
# still run when the session loads, and the check against PyTorch holds for every family.
ORT_OPTIMIZER_MODEL_TYPE = {"bert": "bert", "roberta": "bert", "xlm-roberta": "bert", "electra": "bert",
                            "distilbert": "bert", "gpt2": "gpt2"}


def onnx_parameter_count(path: Path) -> int:
    import numpy as np
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return int(sum(np.prod(t.dims) for t in model.graph.initializer))


def export_input_names(model, tokenizer) -> tuple[str, ...]:
    """The inputs the tokenizer produces and the model's forward takes (no token_type_ids where either lacks them)."""
    from bench.models import forward_input_names

    return tuple(n for n in forward_input_names(model) if n in tokenizer.model_input_names)


def export(model, tokenizer, path: Path, texts, pairs=None) -> tuple[str, ...]:
    """Export the logits of `model` for the tokenizer's inputs (batch x sequence, int64), without a KV cache.
    A pair task's examples are traced as pairs, so token_type_ids carry both segments."""
    import inspect

    import torch

    from bench.data import tokenize

    names = export_input_names(model, tokenizer)
    enc = tokenize(tokenizer, texts[:4], None if pairs is None else pairs[:4], padding="longest", truncation=True,
                   max_length=64, return_tensors="pt")

    class Logits(torch.nn.Module):  # inputs by keyword: positional order differs by family (GPT-2's 2nd is the cache)
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            extra = {"use_cache": False} if "use_cache" in inspect.signature(model.forward).parameters else {}
            return self.model(**dict(zip(names, tensors, strict=True)), **extra, return_dict=True).logits

    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with torch.inference_mode():
        torch.onnx.export(Logits().eval(), tuple(enc[n] for n in names), str(path), input_names=list(names),
                          output_names=["logits"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    return names


def optimize(raw: Path, out: Path, config, pruned: bool) -> dict:
    """ORT's transformer optimizer for the families it knows, a copy of the plain export otherwise."""
    from collections import Counter

    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    ort_type = ORT_OPTIMIZER_MODEL_TYPE.get(config.model_type)
    if ort_type is None:
        shutil.copy(raw, out)
        return {"ort_transformer_optimizer": f"not applied: it has no optimizer for model_type "
                                             f"'{config.model_type}' (plain export; ORT's session optimizations run)"}
    # A pruned model has fewer heads per layer than its config says: the optimizer reads them from the graph.
    num_heads, hidden = (0, 0) if pruned else (config.num_attention_heads, config.hidden_size)
    fusions = FusionOptions(ort_type)
    fusions.enable_skip_layer_norm = False
    opt = optimize_model(str(raw), model_type=ort_type, num_heads=num_heads, hidden_size=hidden, opt_level=1,
                         optimization_options=fusions)
    opt.save_model_to_file(str(out))
    fused = Counter(n.op_type for n in opt.model.graph.node if n.domain == "com.microsoft")
    return {"ort_transformer_optimizer": "applied", "ort_model_type": ort_type, "fused_operators": dict(fused)}


def check_against_torch(model, tokenizer, onnx_path: Path, texts, pairs=None) -> float:
    """max |ONNX logit - PyTorch logit| over 8 examples (text pairs where the task has them)."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from bench.data import tokenize

    enc = tokenize(tokenizer, texts[:8], None if pairs is None else pairs[:8], padding="longest", truncation=True,
                   max_length=128, return_tensors="np")
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
    split = read_split(ctx.val_path)
    split = split if split.texts else read_split(ctx.train_path)
    ctx.progress("export to ONNX", 0, 2)
    raw = ctx.out_dir / "exported.onnx"
    inputs = export(model, tokenizer, raw, split.texts, split.pairs)
    ctx.progress("ORT transformer optimizer", 1, 2)
    config = AutoConfig.from_pretrained(ctx.parent_dir)
    opt_info = optimize(raw, ctx.out_dir / "model.onnx", config, pruned="pruned" in info)
    raw.unlink()
    tokenizer.save_pretrained(ctx.out_dir)
    shutil.copy(Path(ctx.parent_dir) / "config.json", ctx.out_dir / "config.json")
    ctx.progress("ORT transformer optimizer", 2, 2)
    diff = check_against_torch(model, tokenizer, ctx.out_dir / "model.onnx", split.texts, split.pairs)
    if diff > MAX_LOGIT_DIFF:
        raise RuntimeError(f"the ONNX model disagrees with PyTorch: max |logit difference| {diff:.3g} > {MAX_LOGIT_DIFF}")
    return {"parameters": onnx_parameter_count(ctx.out_dir / "model.onnx"), "opset": OPSET, "inputs": list(inputs),
            "max_abs_logit_diff_vs_parent": diff, **opt_info}


register_step(StepSpec(name="onnx", version=3, summary="ONNX export (fp32) + ORT transformer optimizer", build=build,
                       output_format="onnx", input_formats=frozenset({"hf"})))
