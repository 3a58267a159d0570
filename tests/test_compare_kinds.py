"""`bench compare` per task kind (issue #17): a planted regression is found by the kind's paired test on
the primary metric, an unchanged run is `same`; the baseline snapshot keeps what each test needs."""

import numpy as np
import pytest

import bench.compare as cmp
from bench.compare.baseline import _quality_entry
from bench.config import Gate
from bench.metrics import average_precision, rmse

T = Gate(alpha=0.01)
rng = np.random.default_rng(7)


def _regression_entry(y, pred, metric="rmse"):
    q = {"kind": "regression", "metric": metric, metric: rmse(pred, y) if metric == "rmse" else 0.5,
         "n_examples": len(y), "predictions": list(pred)}
    return _quality_entry(q, np.asarray(y))


def _binary_entry(y, scores, threshold=0.5):
    preds = (np.asarray(scores) >= threshold).astype(int)
    q = {"kind": "binary", "metric": "pr_auc", "pr_auc": average_precision(scores, y), "accuracy": float(np.mean(preds == y)),
         "n_examples": len(y), "predictions": preds.tolist(), "scores": list(scores)}
    return _quality_entry(q, np.asarray(y))


def test_regression_worse_errors_are_found_by_wilcoxon():
    y = rng.normal(size=2000)
    base = y + rng.normal(scale=0.5, size=2000)
    worse = y + (base - y) * 1.2  # every error 20% larger: RMSE +20%
    a, b = _regression_entry(y, base), _regression_entry(y, worse)
    assert a["errors"] and a["value"] == pytest.approx(rmse(base, y)) and "targets" not in a
    c = cmp.compare_quality("v/accuracy", a, b, T)
    assert (c.metric, c.verdict) == ("rmse", "regressed") and c.test.startswith("Wilcoxon signed-rank")
    assert c.change == pytest.approx(0.2, abs=1e-3) and c.p_value < 1e-6
    better = cmp.compare_quality("v/accuracy", b, a, T)
    assert better.verdict == "improved" and better.change == pytest.approx(1 / 1.2 - 1, abs=1e-3)


def test_regression_within_the_tolerance_is_same():
    y = rng.normal(size=2000)
    base = y + rng.normal(scale=0.5, size=2000)
    c = cmp.compare_quality("v/accuracy", _regression_entry(y, base), _regression_entry(y, y + (base - y) * 1.01), T)
    assert c.verdict == "same" and abs(c.change) < T.error_tolerance  # 1% more error, below the 2% tolerance


def test_regression_spearman_by_paired_bootstrap():
    y = rng.normal(size=1500)
    base = y + rng.normal(scale=0.3, size=1500)
    worse = y + rng.normal(scale=1.5, size=1500)
    a, b = _regression_entry(y, base, "spearman"), _regression_entry(y, worse, "spearman")
    a["value"], b["value"] = 0.95, 0.55  # the recorded Spearman of each run
    c = cmp.compare_quality("v/accuracy", a, b, T)
    assert a["targets"] and c.test.startswith("paired bootstrap of Spearman") and c.verdict == "regressed"


def test_binary_pr_auc_drop_is_found_by_paired_bootstrap():
    y = (rng.random(3000) < 0.05).astype(int)
    noise = rng.normal(size=3000)
    base = 1 / (1 + np.exp(-(3 * y + noise - 2)))
    worse = 1 / (1 + np.exp(-(1 * y + noise - 2)))  # a weaker signal, the same noise
    a, b = _binary_entry(y, base), _binary_entry(y, worse)
    assert a["scores"] and a["positive_bits"] and a["correct_bits"]
    c = cmp.compare_quality("v/accuracy", a, b, T)
    assert (c.metric, c.verdict) == ("pr_auc", "regressed") and c.test.startswith("paired bootstrap of pr_auc")
    assert c.change == pytest.approx((b["value"] - a["value"]) * 100) and c.p_value < 1e-4
    assert cmp.compare_quality("v/accuracy", a, _binary_entry(y, base), T).verdict == "same"


def test_entries_without_per_example_data_are_threshold_only():
    a = {"kind": "regression", "metric": "rmse", "value": 0.50, "n_examples": 100}
    b = {**a, "value": 0.60}
    c = cmp.compare_quality("v/accuracy", a, b, T)
    assert c.p_value is None and c.test.startswith("threshold only") and c.verdict == "regressed"


def test_a_planted_regression_fails_the_whole_comparison():
    y = rng.normal(size=1000)
    base = y + rng.normal(scale=0.5, size=1000)
    cells = lambda pred: {"full/accuracy": {"scenario": "accuracy", "status": "ok", **_regression_entry(y, pred)}}  # noqa: E731
    snap = lambda pred: {"suite_name": "regression", "cells": cells(pred), "test_sha256": "x"}  # noqa: E731
    changes, problems = cmp.compare_snapshots(snap(base), snap(y + (base - y) * 1.3), T)
    assert not problems and [c.verdict for c in changes] == ["regressed"] and changes[0].p_adjusted is not None
    assert cmp.exit_code(changes, problems) == 1
    assert cmp.format_change(changes[0]).endswith("%") and cmp.format_value("rmse", 0.5) == "0.5000"
