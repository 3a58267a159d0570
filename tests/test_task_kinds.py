"""The metrics task kinds are judged by (issue #17), checked against scikit-learn."""


import numpy as np
import pytest


def test_metrics_match_scikit_learn():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from bench.metrics import average_precision, best_f1_threshold, f1_and_recall, roc_auc

    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(int)
    s = np.round(rng.random(300) + y * 0.5, 2)  # ties included
    assert average_precision(s, y) == pytest.approx(average_precision_score(y, s))
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s))
    t = best_f1_threshold(s, y)
    assert f1_and_recall(s >= t, y)[0] >= max(f1_and_recall(s >= c, y)[0] for c in (0.3, 0.5, 0.8, 1.0))


def test_a_test_split_with_too_few_positives_gets_no_interval_and_says_why():
    """One positive: every bootstrap resample that holds it ranks it alike, a zero-width ROC-AUC 'interval'
    that would let the floor be judged on nothing. No interval, a note, and so no decision."""
    from bench.metrics import MIN_CLASS_EXAMPLES_FOR_CI, binary_summary
    from bench.report.quality import Floor, Metric

    rng = np.random.default_rng(0)
    y = np.zeros(400, dtype=int)
    y[7] = 1
    s = rng.random(400)
    few = binary_summary(s, y, 0.5)
    assert few["positives"] == 1 and all(few[f"{m}_ci95"] is None for m in ("pr_auc", "roc_auc", "f1", "recall"))
    assert "1 positive and 399 negative" in few["ci_note"]
    assert Floor(Metric("roc_auc", "binary"), 0.5).undecided(few["roc_auc_ci95"])
    y[:MIN_CLASS_EXAMPLES_FOR_CI] = 1
    enough = binary_summary(s + 0.3 * y, y, 0.5)
    assert "ci_note" not in enough and enough["roc_auc_ci95"][0] < enough["roc_auc_ci95"][1]
