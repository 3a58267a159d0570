"""What every build step receives, and helpers the steps share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from bench.config import FineTune


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
