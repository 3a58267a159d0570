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


def validation_figures(model, tokenizer, ctx: BuildContext) -> dict:
    """The task's primary metric on the validation split, in PyTorch, for the manifest (a sanity figure,
    not a result): {"val_metric": name, "val_value": value, "val_accuracy": accuracy or None (a regression
    has none)}; {} without a validation split. Scored as the accuracy cell scores (tuning.score_logits)."""
    import numpy as np

    from bench.data import read_task_info
    from bench.tuning import score_logits, validation_logits

    logits, val = validation_logits(model, tokenizer, ctx)
    if logits is None:
        return {}
    info = read_task_info(Path(ctx.val_path))
    metric = info.get("metric", "accuracy")
    accuracy = None if logits.shape[-1] == 1 else float(np.mean(logits.argmax(-1) == np.asarray(val.labels)))
    return {"val_metric": metric, "val_value": score_logits(logits, val.labels, metric, info), "val_accuracy": accuracy}


def unmarked_pair_reason(tokenizer, pair_column: str) -> str | None:
    """Why `tokenizer` cannot serve a pair task, or None: it must mark where the second text starts, by a
    token between the two (BERT's [SEP], RoBERTa's </s></s>, Llama's <s>) or a segment id (token_type_ids).
    GPT-2's and Qwen2's tokenizers join the two texts with nothing between them."""
    one = tokenizer("query", add_special_tokens=False)["input_ids"]
    single = tokenizer("query")["input_ids"]
    pair = tokenizer("query", "query")
    if len(pair["input_ids"]) > len(single) + len(one) or any(pair.get("token_type_ids") or []):
        return None
    return (f"a pair task (task.text_pair_column = '{pair_column}') needs a tokenizer that marks where the second "
            f"text starts; this model's {type(tokenizer).__name__} joins the two texts with no separator token "
            "and no segment id, so the model could not tell the first text from the second")
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


def calibration_batches(ctx: BuildContext, tokenizer, input_names, n_batches: int, batch_size: int,
                        split_path: Path | None = None) -> list[dict]:
    """Up to `n_batches` tokenized batches of the train split (or `split_path`; pairs too), padded to the
    longest text of each batch and truncated at finetune.max_length: int64 numpy arrays keyed by
    `input_names`, the data a post-training quantizer calibrates its activation ranges on (train only:
    validation and test stay unseen). ValueError where the split is empty."""
    import numpy as np

    from bench.data import read_split, tokenize

    path = split_path or ctx.train_path
    train = read_split(path)
    if not train.texts:
        raise ValueError(f"{path}: the split is empty; calibration needs texts")
    out = []
    for start in range(0, min(len(train.texts), n_batches * batch_size), batch_size):
        stop = start + batch_size
        enc = tokenize(tokenizer, train.texts[start:stop], None if train.pairs is None else train.pairs[start:stop],
                       padding="longest", truncation=True, max_length=ctx.finetune.max_length, return_tensors="np")
        out.append({k: np.ascontiguousarray(enc[k], dtype=np.int64) for k in input_names})
    return out


def logit_agreement(logits, reference) -> dict:
    """How a quantized artifact's logits follow its parent's on the same batches: the largest absolute
    difference and the share of rows whose top-1 class is the same (1.0 for a single-output regression)."""
    import numpy as np

    same = logits.argmax(-1) == reference.argmax(-1)
    return {"max_abs_logit_diff_vs_parent": float(np.abs(logits - reference).max()),
            "top1_agreement_vs_parent": float(np.mean(same))}
