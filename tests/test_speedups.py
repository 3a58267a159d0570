"""The pure parts of benchmarks/variant_speedups.py: the paired interval and the target verdicts."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import variant_speedups as vs

NO_BF16 = {"amx_bf16": False, "avx512_bf16": False}


def test_ratio_interval_is_a_t_interval_on_log_ratios():
    from scipy.stats import t as student_t

    ratios = [1.7, 1.9, 1.8, 2.0, 1.75]
    mean, low, high = vs.ratio_interval(ratios)
    logs = [math.log(r) for r in ratios]
    m = sum(logs) / 5
    sd = math.sqrt(sum((x - m) ** 2 for x in logs) / 4)
    assert mean == pytest.approx(math.exp(m))
    assert high == pytest.approx(math.exp(m + student_t.ppf(0.975, 4) * sd / math.sqrt(5)))
    assert low < mean < high
    assert math.isnan(vs.ratio_interval([1.8])[1])


@pytest.mark.parametrize(("low", "high", "verdict"), [(1.85, 2.1, "met"), (1.5, 1.79, "not met"),
                                                       (1.7, 1.9, "undecided (the interval straddles the target)")])
def test_target_verdict_needs_the_whole_interval_on_one_side(low, high, verdict):
    assert vs.target_verdict("int8", low, high, NO_BF16) == (1.8, verdict)


def test_bf16_target_applies_only_where_the_cpu_has_bf16_instructions():
    assert vs.target_verdict("bf16", 0.1, 0.2, NO_BF16)[1].startswith("not applicable")
    assert vs.target_verdict("bf16", 3.5, 4.5, {"amx_bf16": True}) == (3.0, "met")
    assert vs.target_verdict("lora", 0.7, 0.8, NO_BF16) == (None, "-")


@pytest.mark.parametrize(("kind", "metric", "frontier"), [
    ("regression", "rmse", {"full", "tiny"}),  # lower RMSE is better: full (0.50) beats onnx (0.51) at equal speed
    ("binary", "pr_auc", {"full", "tiny"}),
])
def test_speedup_rows_judge_the_runs_primary_metric_in_its_direction(kind, metric, frontier):
    from tests.golden import KIND_FIGURES, kind_run

    run = kind_run(kind)
    throughput = {"full": [100.0, 110.0], "onnx": [100.0, 110.0], "tiny": [300.0, 330.0]}
    got, rows = vs.speedup_rows(run, throughput, "full", NO_BF16)
    assert (got.name, got.better) == (metric, "lower" if kind == "regression" else "higher")
    by = {r["variant"]: r for r in rows}
    for v, primary in KIND_FIGURES[kind][1].items():
        assert by[v]["metric"] == metric and by[v]["quality"] == pytest.approx(primary)
        assert by[v]["quality_ci95"][0] < primary < by[v]["quality_ci95"][1]
    assert {v for v, r in by.items() if r["on_frontier"]} == frontier
    assert by["tiny"]["speedup"] == pytest.approx(3.0)


def test_speedup_rows_of_a_variant_without_quality_keep_it_off_the_frontier():
    from tests.golden import golden_run

    run = golden_run()
    _, rows = vs.speedup_rows(run, {"full": [100.0], "nothing": [500.0]}, "full", NO_BF16)
    by = {r["variant"]: r for r in rows}
    assert by["nothing"]["quality"] is None and not by["nothing"]["on_frontier"] and by["full"]["on_frontier"]


def test_issue_21_target_line_takes_the_fastest_variant_within_one_point():
    from bench.report.quality import Metric

    rows = [{"variant": "full", "quality": 0.75, "throughput_per_s_median": 300.0},
            {"variant": "int8", "quality": 0.745, "throughput_per_s_median": 900.0},
            {"variant": "distilled+int8", "quality": 0.73, "throughput_per_s_median": 2500.0},
            {"variant": "openvino-int8", "quality": 0.741, "throughput_per_s_median": 1200.0}]
    line = vs.accuracy_target_line(Metric("accuracy"), rows, "full")
    assert "not met here" in line and "openvino-int8 at 1,200" in line and "distilled+int8" not in line
    rows[3]["throughput_per_s_median"] = 2100.0
    assert ": met;" in vs.accuracy_target_line(Metric("accuracy"), rows, "full")
    assert vs.accuracy_target_line(Metric("rmse"), rows, "full") is None  # the target is in accuracy points
