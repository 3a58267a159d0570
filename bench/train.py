"""The training loop shared by every step that trains (full fine-tune; later LoRA, distillation,
recovery after pruning): AdamW with linear warm-up and decay, dynamic padding, seeded order."""

from __future__ import annotations

import math
import resource
from collections.abc import Callable

from bench.config import FineTune
from bench.data import Split, tokenize
from bench.timing import wall_clock_s


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def determinism_settings(seed: int) -> dict:
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    return {"seed": seed, "torch.use_deterministic_algorithms": True, "threads": torch.get_num_threads()}


MEGABATCH = 50  # batches per length-sorted group


def length_grouped_batches(lengths: list[int], batch_size: int, generator) -> list[list[int]]:
    """Shuffle, sort each group of MEGABATCH batches by length, cut batches, shuffle the batches
    (transformers' group_by_length): batches of similar lengths pad far less; every example is
    still seen once per epoch, in a seeded random order."""
    import torch

    batches = []
    for group in torch.randperm(len(lengths), generator=generator).split(batch_size * MEGABATCH):
        ordered = sorted(group.tolist(), key=lambda i: -lengths[i])
        batches += [ordered[j:j + batch_size] for j in range(0, len(ordered), batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


def _optimizer(model, settings: FineTune, learning_rate: float, total_steps: int):
    """AdamW with weight decay on matrices only (not biases or LayerNorm), linear warm-up then decay."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": settings.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=learning_rate)
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total_steps), total_steps)


def train_classifier(model, tokenizer, data: Split, settings: FineTune, *, learning_rate: float,
                     progress: Callable[[str, int, int], None], loss_fn: Callable | None = None,
                     description: str = "fine-tune") -> dict:
    """Train `model` in place: cross-entropy over classes, or MSE where the model has one output
    (num_labels = 1, a regression; transformers picks the loss from num_labels); returns wall time, steps, peak RSS and the loss curve (every 10 steps)."""
    import torch

    seeds = determinism_settings(settings.seed)
    n = len(data.texts)
    steps_per_epoch = math.ceil(n / settings.batch_size)
    total = math.ceil(settings.epochs * steps_per_epoch)
    if settings.max_steps:
        total = min(total, settings.max_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer, schedule = _optimizer(model, settings, learning_rate, total)
    generator = torch.Generator().manual_seed(settings.seed)
    # one output is a regression (transformers then takes MSE, labels as floats); else cross-entropy
    regression = getattr(model.config, "num_labels", 2) == 1
    # the batches go where the model is (a CUDA build trains on the GPU; the tokenizer yields CPU tensors)
    device = next(model.parameters()).device
    labels = torch.tensor(data.labels, dtype=torch.float32 if regression else torch.long, device=device)
    lengths = [len(ids) for ids in tokenize(tokenizer, data.texts, data.pairs, truncation=True,
                                            max_length=settings.max_length)["input_ids"]]
    model.train()
    losses, step, t0 = [], 0, wall_clock_s()
    while step < total:
        for batch in length_grouped_batches(lengths, settings.batch_size, generator):
            if step >= total:
                break
            batch_idx = torch.tensor(batch, device=device)
            enc = tokenize(tokenizer, [data.texts[i] for i in batch], None if data.pairs is None else
                           [data.pairs[i] for i in batch], padding="longest", truncation=True,
                           max_length=settings.max_length, return_tensors="pt").to(device)
            y = labels[batch_idx]
            loss = loss_fn(model, enc, y, batch_idx) if loss_fn else model(**enc, labels=y).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 10 == 0 or step == total:
                losses.append([step, round(loss.item(), 5)])
            progress(description, step, total)
    model.eval()
    return {"wall_s": wall_clock_s() - t0, "steps": total, "epochs": total / steps_per_epoch,
            "examples_seen": min(total * settings.batch_size, math.ceil(settings.epochs * n)),
            "learning_rate": learning_rate, "peak_rss_mib": peak_rss_mib(), "loss_curve": losses,
            "batching": f"length-grouped (groups of {MEGABATCH} batches), padded to the longest in each batch",
            "trainable_parameters": sum(p.numel() for p in params), "determinism": seeds}
