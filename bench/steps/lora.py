"""lora: LoRA fine-tuning of the base model with peft; `merge` folds the adapters into the weights.

The `lora` artifact is served unmerged (base + adapters, as a multi-adapter server would), so its
latency shows the adapters' overhead; `lora-merged` (chain lora -> merge) has the plain model's cost.

Which layers get adapters: by default every linear layer of the backbone (attention and MLP
projections of each family, under its own names), as QLoRA recommends (Dettmers et al. 2023: adapting
every linear layer is what matches full fine-tuning). peft's per-architecture default adapts only the
query and value projections, and has no entry for DistilBERT or ModernBERT. The classification head is
trained in full (peft's modules_to_save for sequence classification). A suite's `target_modules` is
matched as peft matches it (a module's full name, or its name after a "."); one that matches nothing is
refused, naming the model's layers.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bench.errors import BenchError
from bench.specs import StepSpec, register_step
from bench.steps.base import BuildContext, save_hf, tuning_info, validation_figures

DEFAULT_TARGETS = "every linear layer of the backbone"


class LoraParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rank: int = Field(8, ge=1, le=256)
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.1, ge=0, lt=1)
    # None: every linear layer of the backbone; else module names as peft matches them
    target_modules: list[str] | None = Field(None, min_length=1)
    learning_rate: float = Field(5e-4, gt=0, lt=1)  # LoRA wants ~10x a full fine-tune's rate
    epochs: float | None = Field(None, gt=0)  # default: finetune.epochs


def matches(module_name: str, target: str) -> bool:
    """peft's rule for a list of target modules: the full name, or the name after a "."."""
    return module_name == target or module_name.endswith("." + target)


def unmatched_targets_message(targets: list[str], module_names: list[str], where: str, model: Path) -> str | None:
    """Why some of `targets` adapt nothing in a model with these module names (naming its layers), or None.
    Every entry must match: a misspelt one would otherwise leave its layers silently unadapted."""
    missing = [t for t in targets if not any(matches(m, t) or t.endswith("." + m) for m in module_names)]
    if not missing:
        return None
    leaves = sorted({m.rsplit(".", 1)[-1] for m in module_names if not m.rsplit(".", 1)[-1].isdigit()})
    return (f"{where}: steps.lora.target_modules: {', '.join(map(repr, missing))} match no module of the model "
            f"{model}; "
            f"its layers are named: {', '.join(leaves)}")


def weight_module_names(model_dir: Path) -> list[str]:
    """Names of the modules that hold a 2-D weight, from the safetensors headers (no model is loaded)."""
    from safetensors import safe_open

    names = []
    for f in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(f), framework="numpy") as st:
            names += [k.removesuffix(".weight") for k in st.keys()
                      if k.endswith(".weight") and len(st.get_slice(k).get_shape()) == 2]
    return names


def check_suite_targets(target_modules: list[str] | None, base_model_dir: Path, suite_path: str) -> None:
    """Refuse (BenchError, exit 2) a suite's target_modules that match no layer of the base model; runs
    before anything is written, from the weights' names alone (no model is loaded)."""
    if target_modules and (msg := unmatched_targets_message(target_modules, weight_module_names(base_model_dir),
                                                             suite_path, base_model_dir)):
        raise BenchError(msg)


def linear_module_names(model) -> list[str]:
    """Full names of the layers LoRA can adapt in the backbone (torch Linear, GPT-2's Conv1D), head excluded."""
    import torch
    from transformers.pytorch_utils import Conv1D

    prefix = model.base_model_prefix
    backbone = getattr(model, prefix, None)
    if backbone is None:
        raise BenchError(f"{type(model).__name__} has no backbone at '{prefix}': set steps.lora.target_modules")
    return [f"{prefix}.{name}" for name, m in backbone.named_modules() if isinstance(m, torch.nn.Linear | Conv1D)]


def choose_targets(model, requested: list[str] | None, model_dir: Path) -> tuple[list[str], str]:
    """The modules to adapt (peft's target_modules) and where the choice came from."""
    if requested is None:
        return linear_module_names(model), f"default: {DEFAULT_TARGETS}"
    names = [n for n, m in model.named_modules() if n and not list(m.children())]
    if msg := unmatched_targets_message(requested, names, "build step lora", model_dir):
        raise BenchError(msg)
    return requested, "suite"


def adapted_modules(model) -> list[str]:
    from peft.tuners.lora import LoraLayer

    return [n for n, m in model.named_modules() if isinstance(m, LoraLayer)]


def lora_model(ctx: BuildContext, targets: list[str]):
    """The base classifier with fresh LoRA adapters on `targets`, seeded: the head and the adapters'
    initialization are the same for every trial."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    from bench.models import load_classifier

    p: LoraParams = ctx.params
    torch.manual_seed(ctx.finetune.seed)
    base = load_classifier(ctx.base_model_dir, len(ctx.label_names), ctx.label_names,
                           trust_remote_code=ctx.trust_remote_code)
    return get_peft_model(base, LoraConfig(task_type=TaskType.SEQ_CLS, r=p.rank, lora_alpha=p.alpha,
                                           lora_dropout=p.dropout, target_modules=targets)).to(ctx.device)


def build(ctx: BuildContext) -> dict:
    import torch

    from bench.data import read_split
    from bench.models import load_classifier, load_tokenizer, parameter_count, write_artifact_info
    from bench.train import train_classifier
    from bench.tuning import train_with_budget

    p: LoraParams = ctx.params
    torch.set_num_threads(ctx.threads)
    base = load_classifier(ctx.base_model_dir, len(ctx.label_names), ctx.label_names,
                           trust_remote_code=ctx.trust_remote_code)
    total = parameter_count(base)
    targets, source = choose_targets(base, p.target_modules, ctx.base_model_dir)
    del base
    tokenizer = load_tokenizer(ctx.base_model_dir, ctx.trust_remote_code)
    data = read_split(ctx.train_path)

    def train_once(learning_rate: float, epochs: float, description: str):
        model = lora_model(ctx, targets)
        settings = ctx.finetune.model_copy(update={"epochs": epochs})
        return model, train_classifier(model, tokenizer, data, settings, learning_rate=learning_rate,
                                       progress=ctx.progress, description=description)

    model, train, tuning = train_with_budget(ctx, train_once, learning_rate=p.learning_rate,
                                             epochs=p.epochs or ctx.finetune.epochs, tokenizer=tokenizer,
                                             description="LoRA fine-tune")
    adapted = adapted_modules(model)
    model = model.cpu()
    save_hf(model, tokenizer, ctx.out_dir)
    write_artifact_info(ctx.out_dir, {"kind": "lora", "base_model_dir": str(ctx.base_model_dir),
                                      "label_names": list(ctx.label_names)})
    return {"parameters": parameter_count(model), "base_parameters": total, "train": train,
            "lora_targets": {"source": source, "layer_names": sorted({n.rsplit(".", 1)[-1] for n in adapted}),
                             "adapted_modules": len(adapted),
                             "trainable_parameters": train["trainable_parameters"]},
            **validation_figures(model, tokenizer, ctx), **tuning_info(tuning)}


def merge(ctx: BuildContext) -> dict:
    from bench.models import load_artifact_model, load_tokenizer, parameter_count

    merged = load_artifact_model(ctx.parent_dir).merge_and_unload()
    tokenizer = load_tokenizer(ctx.parent_dir)
    save_hf(merged, tokenizer, ctx.out_dir)
    return {"parameters": parameter_count(merged), **validation_figures(merged, tokenizer, ctx)}


register_step(StepSpec(name="lora", version=3, summary="LoRA fine-tune (peft), served with unmerged adapters", build=build,
                       output_format="hf-lora", params=LoraParams, trains=True))
register_step(StepSpec(name="merge", summary="merge LoRA adapters into the weights", build=merge,
                       output_format="hf", input_formats=frozenset({"hf-lora"})))
