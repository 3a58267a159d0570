"""distilled: a smaller student trained by knowledge distillation from its parent (the teacher).

The student starts from a subset of the teacher's layers (DistilBERT: every other layer), found through
the model's own layer list (encoder layers, decoder layers: bench.surgery.layer_list), so any family and
a pruned teacher too (the kept layers keep their pruned shapes). It learns
from soft targets at temperature T plus the hard labels (Hinton et al. 2015):
loss = alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y); for a regression (one
output) alpha * MSE(s, t) + (1 - alpha) * MSE(s, y).
Teacher logits are computed once for the whole train split, before training.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, load_parent, save_hf, tuning_info, validation_figures


class DistillParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    layers: int = Field(3, ge=1)
    temperature: float = Field(2.0, gt=0)
    alpha: float = Field(0.5, ge=0, le=1)
    learning_rate: float = Field(1e-4, gt=0, lt=1)
    epochs: float | None = Field(None, gt=0)  # default: finetune.epochs


def student_layers(n_teacher: int, n_student: int) -> list[int]:
    """Evenly spaced teacher layers, starting at the first (6 -> 3 gives 0, 2, 4)."""
    if n_student > n_teacher:
        raise ValueError(f"a student of {n_student} layers cannot come from a teacher of {n_teacher}")
    step = n_teacher / n_student
    return [int(i * step) for i in range(n_student)]


def make_student(teacher, n_layers: int, pruned: dict | None):
    """A deep copy of the teacher keeping evenly spaced layers; returns it, the kept indices and the pruned
    shape of the kept layers (None for an unpruned teacher)."""
    import copy

    from bench.surgery import keep_layers, layer_list

    found = layer_list(teacher)
    keep = student_layers(len(found[2]) if found else teacher.config.num_hidden_layers, n_layers)
    student = copy.deepcopy(teacher).cpu()
    keep_layers(student, keep)
    shape = {k: [v[i] for i in keep] for k, v in pruned.items()} if pruned else None
    return student, keep, shape


def build(ctx: BuildContext) -> dict:
    import copy

    import torch
    import torch.nn.functional as F

    from bench.evaluate import predict_logits
    from bench.models import parameter_count, read_artifact_info, write_artifact_info
    from bench.runtimes.torch_eager import TorchSession
    from bench.train import train_classifier
    from bench.tuning import train_with_budget

    p: DistillParams = ctx.params
    teacher, tokenizer, train = load_parent(ctx)
    pruned = read_artifact_info(ctx.parent_dir).get("pruned")
    student, keep, shape = make_student(teacher, p.layers, pruned)  # refuses (Unsupported) before any work
    teacher_logits = torch.from_numpy(predict_logits(
        TorchSession(teacher, ctx.device), tokenizer, train.texts, pairs=train.pairs, max_length=ctx.finetune.max_length,
        batch_size=ctx.eval_batch_size, on_batch=lambda d, t: ctx.progress("teacher logits", d, t))).to(ctx.device)
    del teacher
    T, alpha = p.temperature, p.alpha

    def loss_fn(model, enc, labels, batch_idx):
        logits = model(**enc).logits
        if logits.shape[-1] == 1:  # regression: match the teacher's score and the target (MSE both)
            return alpha * F.mse_loss(logits, teacher_logits[batch_idx]) + (1 - alpha) * F.mse_loss(logits[:, 0], labels)
        soft = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(teacher_logits[batch_idx] / T, -1),
                        reduction="batchmean") * T * T
        return alpha * soft + (1 - alpha) * F.cross_entropy(logits, labels)

    def train_once(learning_rate: float, epochs: float, description: str):
        model = copy.deepcopy(student).to(ctx.device)  # every trial starts from the same student
        settings = ctx.finetune.model_copy(update={"epochs": epochs})
        return model, train_classifier(model, tokenizer, train, settings, learning_rate=learning_rate,
                                       progress=ctx.progress, loss_fn=loss_fn, description=description)

    student, train_stats, tuning = train_with_budget(ctx, train_once, learning_rate=p.learning_rate,
                                                     epochs=p.epochs or ctx.finetune.epochs, tokenizer=tokenizer,
                                                     description="distillation")
    save_hf(student.cpu(), tokenizer, ctx.out_dir)
    if shape:  # a pruned teacher's kept layers keep their pruned shapes; the loader rebuilds them
        write_artifact_info(ctx.out_dir, {"pruned": shape})
    return {"parameters": parameter_count(student), "teacher_layers_kept": keep, "train": train_stats,
            **validation_figures(student, tokenizer, ctx), **tuning_info(tuning)}


register_step(StepSpec(name="distilled", version=3, summary="knowledge distillation into a student with fewer layers",
                       build=build, output_format="hf", input_formats=frozenset({"hf"}), params=DistillParams,
                       trains=True))
