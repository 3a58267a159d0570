"""What every build step receives, and helpers the steps share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from bench.config import FineTune, Tuning


@dataclass
class BuildContext:
    out_dir: Path  # write the artifact here (a private staging directory)
    parent_dir: Path | None  # the parent artifact, None for a step that starts from the base model
    base_model_dir: Path
    params: BaseModel  # the step's validated parameters from the suite's [steps.<name>]
    finetune: FineTune
    train_path: Path
    val_path: Path
    label_names: tuple[str, ...]
    device: str
    threads: int
    trust_remote_code: bool
    eval_batch_size: int
    progress: Callable[[str, int, int], None]
    tuning: Tuning | None = None  # [tuning], its metric resolved, where this step is tuned (bench/tuning.py)


def validation_accuracy(model, tokenizer, ctx: BuildContext) -> float | None:
    """Accuracy on the validation split, in PyTorch; a sanity figure for the manifest, not a result."""
    import numpy as np

    from bench.data import read_split
    from bench.evaluate import predict_logits
    from bench.runtimes.torch_eager import TorchSession

    val = read_split(ctx.val_path)
    if not val.texts:
        return None
    logits = predict_logits(TorchSession(model, ctx.device), tokenizer, val.texts, pairs=val.pairs,
                            max_length=ctx.finetune.max_length, batch_size=ctx.eval_batch_size)
    if logits.shape[-1] == 1:
        return None  # a regression has no accuracy; the accuracy cell reports its RMSE
    return float(np.mean(logits.argmax(-1) == np.asarray(val.labels)))


def tuning_info(record: dict | None) -> dict:
    """The manifest's `tuning` entry where the step was tuned (bench/tuning.py); nothing where it was not,
    so an untuned manifest reads as it always did."""
    return {} if record is None else {"tuning": record}


def save_hf(model, tokenizer, out_dir: Path) -> None:
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def load_parent(ctx: BuildContext):
    """The parent artifact's model and tokenizer, and the train split, with the run's thread count."""
    import torch

    from bench.data import read_split
    from bench.models import load_artifact_model, load_tokenizer

    torch.set_num_threads(ctx.threads)
    return load_artifact_model(ctx.parent_dir), load_tokenizer(ctx.parent_dir), read_split(ctx.train_path)
