"""Running a loaded session over a data split (accuracy cells, validation after training)."""

from __future__ import annotations

import numpy as np

from bench.runtimes.base import Session


def predict_logits(session: Session, tokenizer, texts, *, max_length: int, batch_size: int,
                   on_batch=None, pairs=None) -> np.ndarray:
    """Logits for `texts` (with `pairs`, a pair task's second texts) in their order, shape (n, num_labels). Batches are formed from length-sorted texts and padded to the
    longest in the batch (how a server batches), so accuracy does not pay for padding."""
    from bench.data import tokenize

    lengths = [len(ids) for ids in tokenize(tokenizer, texts, pairs, truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    out = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tokenize(tokenizer, [texts[i] for i in idx], None if pairs is None else [pairs[i] for i in idx],
                       padding="longest", truncation=True, max_length=max_length, return_tensors="np")
        logits = session.logits(session.run(session.prepare(dict(enc))))
        for i, row in zip(idx, logits, strict=True):
            out[i] = row
        if on_batch:
            on_batch(min(start + batch_size, len(order)), len(order))
    return np.stack(out)
