"""lora: LoRA fine-tuning of the base model with peft; `merge` folds the adapters into the weights.

The `lora` artifact is served unmerged (base + adapters, as a multi-adapter server would), so its
latency shows the adapters' overhead; `lora-merged` (chain lora -> merge) has the plain model's cost.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, save_hf, validation_accuracy


class LoraParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rank: int = Field(8, ge=1, le=256)
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    # BERT module names; "dense" covers the attention output and both FFN projections
    target_modules: list[str] = ["query", "key", "value", "dense"]
    learning_rate: float = Field(5e-4, gt=0, lt=1)  # LoRA wants ~10x a full fine-tune's rate
    epochs: float | None = Field(None, gt=0)  # default: finetune.epochs


def build(ctx: BuildContext) -> dict:
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    from bench.data import read_split
    from bench.models import load_classifier, load_tokenizer, parameter_count, write_artifact_info
    from bench.train import train_classifier

    p: LoraParams = ctx.params
    torch.set_num_threads(ctx.threads)
    torch.manual_seed(ctx.finetune.seed)
    base = load_classifier(ctx.base_model_dir, len(ctx.label_names), ctx.label_names,
                           trust_remote_code=ctx.trust_remote_code)
    total = parameter_count(base)
    model = get_peft_model(base, LoraConfig(task_type=TaskType.SEQ_CLS, r=p.rank, lora_alpha=p.alpha,
                                            lora_dropout=p.dropout, target_modules=p.target_modules)).to(ctx.device)
    tokenizer = load_tokenizer(ctx.base_model_dir, ctx.trust_remote_code)
    settings = ctx.finetune.model_copy(update={"epochs": p.epochs or ctx.finetune.epochs})
    train = train_classifier(model, tokenizer, read_split(ctx.train_path), settings, learning_rate=p.learning_rate,
                             progress=ctx.progress, description="LoRA fine-tune")
    model = model.cpu()
    save_hf(model, tokenizer, ctx.out_dir)
    write_artifact_info(ctx.out_dir, {"kind": "lora", "base_model_dir": str(ctx.base_model_dir),
                                      "label_names": list(ctx.label_names)})
    return {"parameters": parameter_count(model), "base_parameters": total, "train": train,
            "val_accuracy": validation_accuracy(model, tokenizer, ctx)}


def merge(ctx: BuildContext) -> dict:
    from bench.models import load_artifact_model, load_tokenizer, parameter_count

    merged = load_artifact_model(ctx.parent_dir).merge_and_unload()
    tokenizer = load_tokenizer(ctx.parent_dir)
    save_hf(merged, tokenizer, ctx.out_dir)
    return {"parameters": parameter_count(merged), "val_accuracy": validation_accuracy(merged, tokenizer, ctx)}


register_step(StepSpec(name="lora", version=2, summary="LoRA fine-tune (peft), served with unmerged adapters", build=build,
                       output_format="hf-lora", params=LoraParams))
register_step(StepSpec(name="merge", summary="merge LoRA adapters into the weights", build=merge,
                       output_format="hf", input_formats=frozenset({"hf-lora"})))
