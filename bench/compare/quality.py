"""`bench compare` of two accuracy cells per task kind, on the suite's primary metric (config.METRICS):

- classification: exact McNemar on per-example correctness (bench.compare.judge.compare_accuracy);
- regression: Wilcoxon signed-rank on the per-example squared errors (RMSE) or absolute errors (MAE) of
  the two runs, paired by example; Spearman by a paired bootstrap;
- binary: a paired bootstrap of PR-AUC (or ROC-AUC) on the per-example scores, of F1 or recall on the
  predictions at each run's threshold; accuracy by McNemar.

The baseline snapshot keeps what each needs (bench.compare.baseline): correctness bits, signed errors,
scores with the positive labels. Minimum effects: points (accuracy_tolerance_points) for metrics on a
0-1 scale, a relative change (gate.error_tolerance) for RMSE and MAE.
"""

from __future__ import annotations

import numpy as np

from bench.compare.stats import paired_bootstrap_p, wilcoxon_p
from bench.config import HIGHER, METRICS, Gate
from bench.metrics import average_precision, f1_and_recall, roc_auc, spearman

RELATIVE = ("rmse", "mae")  # judged by relative change; every other metric in points of a 0-1 scale
BOOTSTRAP = {"pr_auc": average_precision, "roc_auc": roc_auc,
             "f1": lambda p, y: f1_and_recall(p, y)[0], "recall": lambda p, y: f1_and_recall(p, y)[1]}


def per_example(entry: dict) -> bool:
    """The snapshot entry holds what its kind's paired test needs."""
    return bool(entry.get("correct_bits") or entry.get("errors") or entry.get("scores"))


def change_and_worse(metric: str, a: float, b: float) -> tuple[float, float]:
    """(shown change, worse_by): points and -points / 100 on a 0-1 scale; relative change for RMSE/MAE."""
    if metric in RELATIVE:
        rel = b / a - 1 if a else 0.0
        return rel, rel  # more error is worse
    points = (b - a) * 100
    return points, (-points if METRICS[metric][0] == HIGHER else points) / 100


def min_effect(metric: str, gate: Gate) -> float:
    return gate.error_tolerance if metric in RELATIVE else gate.accuracy_tolerance_points / 100


def paired_test(metric: str, a: dict, b: dict) -> tuple[float | None, str]:
    """(p, test name) of the kind's paired test; (None, why) where the entries cannot be paired."""
    n = a.get("n_examples")
    if n != b.get("n_examples") or not (per_example(a) and per_example(b)):
        return None, "threshold only (no per-example predictions)"
    if metric in RELATIVE and a.get("errors") and b.get("errors"):
        power = 2 if metric == "rmse" else 1
        ea, eb = (np.abs(np.asarray(e["errors"], dtype=float)) ** power for e in (a, b))
        return wilcoxon_p(ea, eb), f"Wilcoxon signed-rank on per-example {'squared' if power == 2 else 'absolute'} errors"
    if metric == "spearman" and a.get("errors") and b.get("errors"):
        y = np.asarray(a["targets"], dtype=float)
        pa, pb = y + np.asarray(a["errors"], dtype=float), y + np.asarray(b["errors"], dtype=float)
        return paired_bootstrap_p(spearman, pa, pb, y), "paired bootstrap of Spearman (2,000 resamples)"
    if metric in BOOTSTRAP and a.get("scores") and b.get("scores"):
        from bench.compare.baseline import unpack_bits

        y = unpack_bits(a["positive_bits"], n).astype(int)
        key = "scores" if metric in ("pr_auc", "roc_auc") else "predicted_bits"
        xa, xb = (np.asarray(e[key], dtype=float) if key == "scores" else unpack_bits(e[key], n).astype(int) for e in (a, b))
        return paired_bootstrap_p(BOOTSTRAP[metric], xa, xb, y), f"paired bootstrap of {metric} (2,000 resamples)"
    return None, "threshold only (no per-example data for this metric)"
