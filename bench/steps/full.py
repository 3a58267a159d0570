"""full: fine-tune every weight of the base model on the train split (the reference variant)."""

from __future__ import annotations

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, save_hf, validation_accuracy


def build(ctx: BuildContext) -> dict:
    import torch

    from bench.data import read_split
    from bench.models import load_classifier, load_tokenizer, parameter_count
    from bench.train import train_classifier

    torch.set_num_threads(ctx.threads)
    torch.manual_seed(ctx.finetune.seed)  # the new classifier head's initialization
    model = load_classifier(ctx.base_model_dir, len(ctx.label_names), ctx.label_names,
                            trust_remote_code=ctx.trust_remote_code).to(ctx.device)
    tokenizer = load_tokenizer(ctx.base_model_dir, ctx.trust_remote_code)
    train = train_classifier(model, tokenizer, read_split(ctx.train_path), ctx.finetune,
                             learning_rate=ctx.finetune.learning_rate, progress=ctx.progress)
    save_hf(model.cpu(), tokenizer, ctx.out_dir)
    return {"parameters": parameter_count(model), "train": train,
            "val_accuracy": validation_accuracy(model, tokenizer, ctx)}


register_step(StepSpec(name="full", version=2, summary="full fine-tune of the base model", build=build, output_format="hf"))
