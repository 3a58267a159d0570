"""full: fine-tune every weight of the base model on the train split (the reference variant); with a
suite's [tuning], the best of its trials on the validation split (bench/tuning.py)."""

from __future__ import annotations

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, save_hf, tuning_info, validation_figures


def build(ctx: BuildContext) -> dict:
    import torch

    from bench.data import read_split
    from bench.models import load_classifier, load_tokenizer, parameter_count
    from bench.train import train_classifier
    from bench.tuning import train_with_budget

    torch.set_num_threads(ctx.threads)
    tokenizer = load_tokenizer(ctx.base_model_dir, ctx.trust_remote_code)
    data = read_split(ctx.train_path)

    def train_once(learning_rate: float, epochs: float, description: str):
        torch.manual_seed(ctx.finetune.seed)  # the new classifier head's initialization
        model = load_classifier(ctx.base_model_dir, len(ctx.label_names), ctx.label_names,
                                trust_remote_code=ctx.trust_remote_code).to(ctx.device)
        settings = ctx.finetune.model_copy(update={"epochs": epochs})
        return model, train_classifier(model, tokenizer, data, settings, learning_rate=learning_rate,
                                       progress=ctx.progress, description=description)

    model, train, tuning = train_with_budget(ctx, train_once, learning_rate=ctx.finetune.learning_rate,
                                             epochs=ctx.finetune.epochs, tokenizer=tokenizer, description="fine-tune")
    save_hf(model.cpu(), tokenizer, ctx.out_dir)
    return {"parameters": parameter_count(model), "train": train,
            **validation_figures(model, tokenizer, ctx), **tuning_info(tuning)}


register_step(StepSpec(name="full", version=2, summary="full fine-tune of the base model", build=build, output_format="hf",
                       trains=True))
