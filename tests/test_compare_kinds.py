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


def _snapshot_file(path, cells: dict, run_id: str):
    """A baseline file as `bench baseline` writes it, holding `cells`."""
    import gzip
    import json

    from bench.compare.baseline import BASELINE_KIND, BASELINE_SCHEMA

    snap = {"kind": BASELINE_KIND, "schema_version": BASELINE_SCHEMA, "suite_name": "regression", "gate": {},
            "profile": "local", "run_id": run_id, "source": str(path), "measured_on": "test", "pricing_label": None,
            "test_sha256": "x", "environment": {}, "cells": cells}
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(snap, f)
    return path


@pytest.mark.parametrize(("tolerance", "verdict", "code"), [("5%", "regressed", 1), ("20%", "same", 0)])
def test_error_tolerance_on_the_command_line(tmp_path, tolerance, verdict, code):
    """`bench compare --error-tolerance`: RMSE 10% worse is a regression above a 5% tolerance, not above 20%;
    compare.md's thresholds line names the RMSE tolerance used."""
    from bench.cli import app

    y = rng.normal(size=1500)
    base = y + rng.normal(scale=0.5, size=1500)
    entry = lambda pred: {"full/accuracy": {"scenario": "accuracy", "status": "ok", **_regression_entry(y, pred)}}  # noqa: E731
    a = _snapshot_file(tmp_path / "a.json.gz", entry(base), "A")
    b = _snapshot_file(tmp_path / "b.json.gz", entry(y + (base - y) * 1.1), "B")
    out = tmp_path / "out"
    got = app(["compare", str(a), str(b), "--error-tolerance", tolerance, "--out", str(out)], standalone_mode=False)
    md = (out / "compare.md").read_text()
    assert got == code and f"| {'❌ regressed' if verdict == 'regressed' else 'same'} |" in md
    assert f"or {tolerance} (RMSE, relative)." in md and "points (accuracy)" not in md


def test_error_tolerance_is_checked_like_the_other_thresholds(tmp_path):
    from bench.cli import app
    from bench.errors import BenchError

    y = rng.normal(size=200)
    entry = {"full/accuracy": {"scenario": "accuracy", "status": "ok", **_regression_entry(y, y + 0.1)}}
    a = _snapshot_file(tmp_path / "a.json.gz", entry, "A")
    for bad, words in (("2", "--error-tolerance '2': ambiguous; write 2% for a percentage"),
                       ("two", "--error-tolerance 'two': expected a percentage like 5%")):
        with pytest.raises(BenchError, match=words):
            app(["compare", str(a), str(a), "--error-tolerance", bad, "--out", str(tmp_path / "o")], standalone_mode=False)


def test_thresholds_line_names_the_primary_metric_threshold():
    from bench.report.compare_md import thresholds_line

    y = (rng.random(400) < 0.1).astype(int)
    binary = {"cells": {"full/accuracy": {"scenario": "accuracy", **_binary_entry(y, rng.random(400))}}, "run_id": "B"}
    line = thresholds_line({"run_id": "A"}, binary, Gate(accuracy_tolerance_points=1.5))
    assert line.endswith("or 1.5 points (PR-AUC).")
    old = {"cells": {"full/accuracy": {"accuracy": 0.9, "correct_bits": ""}}, "run_id": "B"}  # before task kinds
    assert thresholds_line({"run_id": "A"}, old, Gate()).endswith("or 0.5 points (accuracy).")


def test_runs_of_different_task_kinds_are_unusable_not_a_crash():
    """A classification baseline against a regression run: exit 2 naming both metrics (it crashed with a
    KeyError and exit 1, which a gate reads as a regression)."""
    y = rng.normal(size=200)
    regression = {"scenario": "accuracy", "status": "ok", **_regression_entry(y, y + 0.1)}
    classification = {"scenario": "accuracy", "status": "ok", "kind": "classification", "metric": "accuracy",
                      "value": 0.8, "accuracy": 0.8, "n_examples": 200}
    snap = lambda cell: {"suite_name": "s", "cells": {"full/accuracy": cell}, "test_sha256": "x"}  # noqa: E731
    changes, problems = cmp.compare_snapshots(snap(classification), snap(regression), T)
    assert changes == [] and cmp.exit_code(changes, problems) == 2
    assert any("classification accuracy" in p and "regression rmse" in p for p in problems), problems
