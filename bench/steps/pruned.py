"""pruned: remove the least important attention heads and FFN neurons (structured), then a short
recovery fine-tune. See bench/surgery.py for the importance score."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, load_parent, save_hf, tuning_info, validation_figures


class PruneParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    heads_fraction: float = Field(0.5, ge=0, lt=1)  # of all heads (KV groups in grouped-query attention), ranked globally
    ffn_fraction: float = Field(0.5, ge=0, lt=1)  # of each layer's FFN neurons
    importance_examples: int = Field(512, ge=1)  # train examples used to score importance
    recovery_epochs: float = Field(1.0, ge=0)
    recovery_learning_rate: float = Field(5e-5, gt=0, lt=1)


def recover(ctx: BuildContext, pruned, tokenizer, train) -> tuple:
    """(the model, the recovery fine-tune's stats, the tuning record): the pruned model itself where
    recovery_epochs is 0 (nothing trains, nothing is tuned), else its recovery at the step's settings or
    tuned (bench/tuning.py; each trial starts from the same pruned model)."""
    import copy

    from bench.train import train_classifier
    from bench.tuning import train_with_budget

    p: PruneParams = ctx.params
    if p.recovery_epochs == 0:
        return pruned, None, None

    def train_once(learning_rate: float, epochs: float, description: str):
        model = copy.deepcopy(pruned) if ctx.tuning else pruned
        settings = ctx.finetune.model_copy(update={"epochs": epochs, "max_steps": None})
        return model, train_classifier(model, tokenizer, train, settings, learning_rate=learning_rate,
                                       progress=ctx.progress, description=description)

    return train_with_budget(ctx, train_once, learning_rate=p.recovery_learning_rate, epochs=p.recovery_epochs,
                             tokenizer=tokenizer, description="recovery fine-tune")


def build(ctx: BuildContext) -> dict:
    import torch

    from bench import surgery
    from bench.data import tokenize
    from bench.models import parameter_count, write_artifact_info
    from bench.timing import wall_clock_s

    p: PruneParams = ctx.params
    model, tokenizer, train = load_parent(ctx)
    surgery.layout_of(model)  # refuses a family it cannot prune (Unsupported) before any work
    before = parameter_count(model)
    n = min(p.importance_examples, len(train.texts))
    bs = ctx.finetune.batch_size
    batches = []
    for i in range(0, n, bs):
        enc = tokenize(tokenizer, train.texts[i:i + bs], None if train.pairs is None else train.pairs[i:i + bs],
                       padding="longest", truncation=True, max_length=ctx.finetune.max_length, return_tensors="pt")
        regression = model.config.num_labels == 1
        batches.append((enc, torch.tensor(train.labels[i:i + bs], dtype=torch.float32 if regression else torch.long)))
    ctx.progress("head and FFN importance", 0, 1)
    t0 = wall_clock_s()
    head_scores, ffn_scores = surgery.head_and_ffn_importance(model, batches)
    keep_heads, keep_ffn = surgery.choose(head_scores, ffn_scores, p.heads_fraction, p.ffn_fraction)
    surgery.prune(model, keep_heads, keep_ffn)
    importance_s = wall_clock_s() - t0
    model, recovery, tuning = recover(ctx, model.to(ctx.device), tokenizer, train)
    model = model.cpu()
    save_hf(model, tokenizer, ctx.out_dir)
    shape = surgery.shape_of(model)
    write_artifact_info(ctx.out_dir, {"pruned": shape})  # the loader rebuilds these shapes
    return {"parameters": parameter_count(model), "parent_parameters": before, "pruned": shape,
            "kept_heads": keep_heads, "importance_wall_s": importance_s, "train": recovery,
            **validation_figures(model, tokenizer, ctx), **tuning_info(tuning)}


register_step(StepSpec(name="pruned", version=3, summary="structured pruning of heads and FFN neurons + recovery fine-tune",
                       build=build, output_format="hf", input_formats=frozenset({"hf"}), params=PruneParams,
                       trains=True))
