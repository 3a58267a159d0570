"""Quality metrics per task kind, with 95% bootstrap intervals; which way each is better is config.METRICS.

The bottom of bench (both wings import it; it imports numpy and scipy, never torch). Every figure is
computed from per-example predictions and labels stored in the record, so compare and the report can
recompute it.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats

from bench.config import HIGHER, METRICS

N_RESAMPLES = 1000


def higher_is_better(metric: str) -> bool:
    return METRICS[metric][0] == HIGHER


def rmse(pred, y) -> float:
    return float(np.sqrt(np.mean((np.asarray(pred, float) - np.asarray(y, float)) ** 2)))


def mae(pred, y) -> float:
    return float(np.mean(np.abs(np.asarray(pred, float) - np.asarray(y, float))))


def spearman(pred, y) -> float:
    """Spearman's rank correlation (scipy); nan where either side is constant."""
    if np.ptp(pred) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(scipy_stats.spearmanr(pred, y).statistic)


def average_precision(scores, y) -> float:
    """PR-AUC as average precision, sum_n (R_n - R_{n-1}) P_n over the distinct score thresholds
    (scikit-learn's average_precision_score; tests check it against it). nan without a positive."""
    s, t = np.asarray(scores, float), np.asarray(y, int)
    if t.sum() == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the last index of each distinct score
    tp = np.cumsum(t)[last]
    precision, recall = tp / (last + 1), tp / t.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(scores, y) -> float:
    """ROC-AUC = U / (n_pos * n_neg), Mann-Whitney's U from average ranks (ties count half)."""
    s, t = np.asarray(scores, float), np.asarray(y, int)
    n_pos, n_neg = int(t.sum()), int(t.size - t.sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = scipy_stats.rankdata(s)
    return float((ranks[t == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1_and_recall(pred, y) -> tuple[float, float]:
    """F1 = 2TP / (2TP + FP + FN) and recall = TP / (TP + FN) of the positive class (1)."""
    p, t = np.asarray(pred, int), np.asarray(y, int)
    tp, fp, fn = np.sum((p == 1) & (t == 1)), np.sum((p == 1) & (t == 0)), np.sum((p == 0) & (t == 1))
    return (float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn else 0.0), (float(tp / (tp + fn)) if tp + fn else 0.0)


def best_f1_threshold(scores, y) -> float:
    """The score threshold (predict positive at >= it) with the highest F1 on these examples (the
    validation split); 0.5 where there is no positive to find."""
    s, t = np.asarray(scores, float), np.asarray(y, int)
    if t.sum() == 0:
        return 0.5
    candidates = np.unique(s)
    f1s = [f1_and_recall(s >= c, t)[0] for c in candidates]
    return float(candidates[int(np.argmax(f1s))])


def bootstrap_ci(statistic, *arrays, seed: int = 0, n_resamples: int = N_RESAMPLES) -> tuple[float, float] | None:
    """95% percentile bootstrap over examples, resampled together (paired); resamples where the
    statistic is undefined (nan: no positive drawn) are left out. None where none is defined."""
    arrays = [np.asarray(a) for a in arrays]
    rng = np.random.default_rng(seed)
    n = arrays[0].shape[0]
    values = np.array([statistic(*(a[idx] for a in arrays)) for idx in rng.integers(0, n, (n_resamples, n))])
    values = values[np.isfinite(values)]
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if values.size else None


def regression_summary(pred, y, *, seed: int = 0) -> dict:
    """RMSE, MAE and Spearman's rho of predictions against targets, each with its 95% bootstrap CI."""
    out = {}
    for name, fn in (("rmse", rmse), ("mae", mae), ("spearman", spearman)):
        out[name] = fn(pred, y)
        out[f"{name}_ci95"] = bootstrap_ci(fn, pred, y, seed=seed)
    return out


# Below this many examples of either class the percentile bootstrap of a ranking metric degenerates:
# with one positive every resample that holds it ranks it the same, and the "interval" has zero width
# (Efron & Tibshirani, An Introduction to the Bootstrap, 1993: the bootstrap needs the sample to stand for
# its population; a handful of events cannot). Ten events per class is the usual floor of that kind.
MIN_CLASS_EXAMPLES_FOR_CI = 10


def binary_summary(scores, y, threshold: float, *, seed: int = 0) -> dict:
    """PR-AUC and ROC-AUC of the positive-class scores (n,), F1 and recall at `threshold`, with 95% CIs.
    Where either class has fewer than MIN_CLASS_EXAMPLES_FOR_CI examples the CIs are None (so no floor is
    judged on them) and `ci_note` says why."""
    out = {}
    positives = int(np.sum(y))
    negatives = int(np.asarray(y).size) - positives
    too_few = min(positives, negatives) < MIN_CLASS_EXAMPLES_FOR_CI
    for name, fn in (("pr_auc", average_precision), ("roc_auc", roc_auc),
                     ("f1", lambda s, t: f1_and_recall(s >= threshold, t)[0]),
                     ("recall", lambda s, t: f1_and_recall(s >= threshold, t)[1])):
        out[name] = fn(scores, y)
        out[f"{name}_ci95"] = None if too_few else bootstrap_ci(fn, scores, y, seed=seed)
    out["positives"] = positives
    if too_few:
        out["ci_note"] = (f"the test split has {positives} positive and {negatives} negative examples: too few for "
                          f"an interval (at least {MIN_CLASS_EXAMPLES_FOR_CI} of each), so its quality is not "
                          "judged against the floor; give the task more rows (task.max_test_rows) or a larger "
                          "test share (task.split)")
    return out
