import math

import numpy as np
import pytest

from bench import stats
from bench.cost import throughput_samples_per_s, usd_for_duration, usd_per_million


def test_summary_matches_numpy_linear_percentiles():
    s = stats.summarize_ms(list(range(1, 101)))  # 1..100
    assert s["p50"] == pytest.approx(50.5)
    assert s["p90"] == pytest.approx(90.1)
    assert s["p99"] == pytest.approx(99.01)
    assert s["mean"] == pytest.approx(50.5)
    assert s["std"] == pytest.approx(np.std(np.arange(1, 101), ddof=1))
    assert s["count"] == 100 and s["min"] == 1 and s["max"] == 100


def test_summary_of_one_sample_and_of_none():
    s = stats.summarize_ms([3.0])
    assert s["p99"] == 3.0 and s["std"] == 0.0 and s["cv"] == 0.0
    with pytest.raises(ValueError):
        stats.summarize_ms([])


def test_macro_f1_known_case():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    # class 0: tp1 fp1 fn1 -> 0.5; class 1: tp2 fp1 fn0 -> 0.8; class 2: tp1 fp0 fn1 -> 2/3
    assert stats.macro_f1(p, y, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert stats.accuracy(p, y) == pytest.approx(4 / 6)


def test_bootstrap_ci_agrees_with_normal_approximation():
    rng = np.random.default_rng(1)
    n = 4000
    y = rng.integers(0, 3, n)
    p = np.where(rng.random(n) < 0.8, y, (y + 1) % 3)
    acc = stats.accuracy(p, y)
    lo, hi = stats.bootstrap_ci(lambda a, b, axis=-1: stats.accuracy(a, b, axis), p, y, seed=0)
    half = 1.96 * math.sqrt(acc * (1 - acc) / n)
    assert lo < acc < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)


def test_quality_summary_is_deterministic_for_a_seed():
    y = np.arange(300) % 3
    p = np.where(np.arange(300) % 4 == 0, (y + 1) % 3, y)
    a, b = stats.quality_summary(p, y, 3, seed=7), stats.quality_summary(p, y, 3, seed=7)
    assert a == b
    assert a["majority_class_rate"] == pytest.approx(1 / 3)


def test_cost_formulas():
    # $/1M = price/h / (samples/s * 3600) * 1e6: $3.60/h at 1000/s is $1 per 1M
    assert usd_per_million(3.6, 1000) == pytest.approx(1.0)
    assert usd_per_million(1.0, 0) == math.inf
    assert usd_for_duration(2.0, 1800) == pytest.approx(1.0)


def test_throughput_is_batch_size_over_mean_latency():
    # samples/s = batch_size / mean latency in s: batches of 8 taking 20 ms are 400 samples/s
    assert throughput_samples_per_s(8, 20.0) == pytest.approx(400.0)
    assert throughput_samples_per_s(1, 1000.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="mean_latency_ms must be > 0"):
        throughput_samples_per_s(8, 0.0)


def test_length_grouped_batches_cover_every_example_once_and_group_lengths():
    import torch

    from bench.train import length_grouped_batches

    lengths = [(i * 37) % 101 for i in range(1000)]
    batches = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(0))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 10  # random batches of these lengths spread over ~90
    again = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(0))
    assert again == batches


def test_an_accuracy_cell_no_better_than_the_majority_class_carries_a_warning():
    from types import SimpleNamespace

    from bench.cells import cell_warnings

    job, machine = SimpleNamespace(threads=1), SimpleNamespace(usable_cores=2)
    poor = {"quality": {"accuracy": 0.41, "accuracy_ci95": [0.39, 0.43], "majority_class_rate": 0.43}}
    fine = {"quality": {"accuracy": 0.74, "accuracy_ci95": [0.72, 0.76], "majority_class_rate": 0.43}}
    assert any("has not learned the task" in w for w in cell_warnings(job, poor, machine))
    assert not any("has not learned the task" in w for w in cell_warnings(job, fine, machine))
