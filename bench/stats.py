"""Summaries of raw samples: latency percentiles and bootstrap confidence intervals for quality.

Summaries are always recomputed from the raw samples stored in a record; nothing here is the only copy.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats

PERCENTILES = (50, 90, 95, 99)
HIGH_CV = 0.10  # a coefficient of variation above this gets a warning (pyperf's habit)
# Below 100 samples the 99th percentile (linear interpolation, numpy's default) falls between the two
# largest samples: it is the maximum, not an observed tail, and one slow call moves it.
MIN_SAMPLES_FOR_P99 = 100


def summarize_ms(samples_ms) -> dict:
    """p50/p90/p95/p99 (numpy's linear interpolation), mean, std (ddof=1), min, max, count, cv."""
    x = np.asarray(samples_ms, dtype=float)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    out = {f"p{p}": float(np.percentile(x, p)) for p in PERCENTILES}
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    out.update(mean=mean, std=std, min=float(x.min()), max=float(x.max()), count=int(x.size),
               cv=(std / mean if mean > 0 else 0.0))
    return out


def split_by_process(values, counts) -> list[np.ndarray]:
    """Samples stored in process order, cut back into one array per process."""
    x = np.asarray(values, dtype=float)
    if sum(counts) != x.size:
        raise ValueError(f"{x.size} samples do not match the process sample counts {list(counts)}")
    return np.split(x, np.cumsum(counts)[:-1])


def between_process_cv(samples_ms, counts) -> float:
    """Coefficient of variation of the per-process medians: the noise a single-process run cannot see."""
    medians = np.array([np.median(p) for p in split_by_process(samples_ms, counts)])
    return float(medians.std(ddof=1) / medians.mean()) if medians.size > 1 else 0.0


def accuracy(predictions, labels, axis: int = -1):
    return np.mean(np.asarray(predictions) == np.asarray(labels), axis=axis)


def macro_f1(predictions, labels, num_classes: int, axis: int = -1):
    """Unweighted mean over classes of F1 = 2TP / (2TP + FP + FN); a class absent from both counts 0."""
    p = np.moveaxis(np.asarray(predictions), axis, -1)
    y = np.moveaxis(np.asarray(labels), axis, -1)
    scores = []
    for c in range(num_classes):
        tp = np.sum((p == c) & (y == c), axis=-1)
        fp = np.sum((p == c) & (y != c), axis=-1)
        fn = np.sum((p != c) & (y == c), axis=-1)
        denom = 2 * tp + fp + fn
        scores.append(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0))
    return np.mean(scores, axis=0)


def bootstrap_ci(statistic, predictions, labels, *, confidence: float = 0.95, n_resamples: int = 1000,
                 seed: int = 0) -> tuple[float, float]:
    """Paired percentile bootstrap over test examples (scipy.stats.bootstrap)."""
    res = scipy_stats.bootstrap((np.asarray(predictions), np.asarray(labels)), statistic, paired=True,
                                vectorized=True, confidence_level=confidence, n_resamples=n_resamples,
                                method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def no_better_than_majority(quality: dict | None) -> str | None:
    """A classifier's accuracy whose 95% interval does not rise above the share of the test split's most
    common class (what always answering that class scores): one sentence saying so, else None. Not for
    binary tasks judged on PR-AUC, where a rare positive class makes that share a poor yardstick."""
    q = quality or {}
    acc, majority = q.get("accuracy"), q.get("majority_class_rate")
    if acc is None or majority is None or "pr_auc" in q:
        return None
    high = (q.get("accuracy_ci95") or (acc, acc))[1]
    if high > majority:
        return None
    return (f"accuracy {acc:.4f} (95% CI up to {high:.4f}) is no better than always answering the test split's "
            f"most common class ({majority:.4f}): the model has not learned the task; check the fine-tune "
            "(finetune.learning_rate, finetune.epochs) and the labels")


def quality_summary(predictions, labels, num_classes: int, *, seed: int = 0) -> dict:
    preds, ys = np.asarray(predictions), np.asarray(labels)
    majority = float(np.bincount(ys, minlength=num_classes).max() / ys.size)
    return {
        "accuracy": float(accuracy(preds, ys)),
        "accuracy_ci95": bootstrap_ci(lambda p, y, axis=-1: accuracy(p, y, axis), preds, ys, seed=seed),
        "macro_f1": float(macro_f1(preds, ys, num_classes)),
        "macro_f1_ci95": bootstrap_ci(lambda p, y, axis=-1: macro_f1(p, y, num_classes, axis), preds, ys, seed=seed),
        "n_examples": int(ys.size),
        "majority_class_rate": majority,
    }
