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
