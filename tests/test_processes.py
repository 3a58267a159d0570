"""One offline cell measured in several fresh processes: combining their results, cutting the samples
back per process, and the per-process test of `bench compare` on synthetic data of known structure."""

from __future__ import annotations

import numpy as np
import pytest

from bench import compare as cmp
from bench.config import Gate
from bench.jobspec import OfflineJob
from bench.results import ProcessResult
from bench.scenarios.offline import pool
from bench.stats import between_process_cv, split_by_process

T = Gate(max_slowdown=0.05, alpha=0.01)


def _result(samples, refs, rss, energy_j=None):
    energy = ({"status": "ok", "method": "NVML total-energy counter", "energy_j": energy_j,
               "inferences": 8 * (len(samples) + 2), "energy_per_inference_j": 0.0}
              if energy_j is not None else {"status": "not measured", "reason": "cpu"})
    return ProcessResult(unit="ms per batch", samples_ms=tuple(samples), warmup_ms=(99.0, 98.0), stopped_by="rule",
                         reference_ms=tuple(refs), reference_workload="w", memory={"peak_rss_mib": rss, "note": "x"},
                         energy=energy, runtime_info={"runtime": "pytorch"})


def combine_processes(results, batch_size, price_usd_per_kwh=None) -> dict:
    """The offline scenario's cell fields for these processes, with the pooled latency view."""
    job = OfflineJob(runtime="torch", artifact_dir="a", device="cpu", threads=1, test_path="t", label_names=("x",),
                     seed=0, batch_size=batch_size, price_usd_per_kwh=price_usd_per_kwh)
    return CellFields(pool(results, job))


class CellFields(dict):
    @property
    def latency(self):
        from bench.results import pooled_latency

        return pooled_latency(self["processes"])


def test_combined_processes_keep_every_sample_in_order_with_counts():
    parts = [_result([10.0, 12.0], [1.0, 1.0], 300.0), _result([20.0, 22.0, 24.0], [2.0, 2.0, 2.0], 350.0)]
    c = combine_processes(parts, batch_size=8)
    lat = c.latency
    assert lat["samples_ms"] == [10.0, 12.0, 20.0, 22.0, 24.0]
    assert lat["reference_ms"] == [1.0, 1.0, 2.0, 2.0, 2.0]
    assert lat["process_sample_counts"] == [2, 3] and lat["process_warmup_counts"] == [2, 2]
    assert lat["summary"]["count"] == 5 and lat["summary"]["p50"] == 20.0
    assert lat["summary"]["between_process_cv"] == pytest.approx(np.std([11, 22], ddof=1) / 16.5)
    assert c["throughput_samples_per_s"] == pytest.approx(8 / (np.mean([10, 12, 20, 22, 24]) / 1000))
    assert c["memory"] == {"peak_rss_mib": 350.0, "note": "x"}  # the largest any process reached
    assert c["energy"]["status"] == "not measured"
    assert [list(p) for p in split_by_process(lat["samples_ms"], lat["process_sample_counts"])] == \
        [[10.0, 12.0], [20.0, 22.0, 24.0]]


def test_combined_energy_is_summed_over_processes():
    parts = [_result([10.0], [1.0], 1.0, energy_j=3.0), _result([10.0], [1.0], 1.0, energy_j=5.0)]
    e = combine_processes(parts, batch_size=8, price_usd_per_kwh=0.2)["energy"]
    assert e["energy_j"] == 8.0 and e["inferences"] == 48
    assert e["energy_per_inference_j"] == pytest.approx(8.0 / 48)


def test_a_single_process_is_left_as_measured_and_bad_counts_are_refused():
    one = _result([1.0, 2.0], [], 1.0)
    c = combine_processes([one], batch_size=1)
    assert c["processes"] == (one,) and c["memory"] is one.memory and c["energy"] is one.energy
    assert c.latency == one.latency_view() and "process_sample_counts" not in c.latency
    with pytest.raises(ValueError, match="do not match"):
        split_by_process([1.0, 2.0, 3.0], [1, 1])
    assert between_process_cv([5.0, 5.0], [2]) == 0.0


def _run(rng, processes, shift=1.0, process_sd=0.05, n=200):
    """`processes` processes, each with its own speed (lognormal, sd `process_sd`) and tight samples
    within: the structure measured on the 2-core machine (per-process medians vary 2-18%)."""
    samples, counts = [], []
    for _ in range(processes):
        speed = rng.lognormal(0, process_sd)
        samples += list(20 * shift * speed * rng.lognormal(0, 0.02, n))
        counts.append(n)
    return {"scenario": "offline", "batch_size": 1, "seq_len": 64, "status": "ok", "samples_ms": samples,
            "process_sample_counts": counts}


def _regressed(a, b):
    return {c.metric: c.verdict == "regressed" for c in cmp.compare_offline("x", a, b, T)}


def test_per_process_test_holds_its_false_alarm_rate_where_the_pooled_test_does_not():
    rng = np.random.default_rng(0)
    trials, per_process, pooled = 200, 0, 0
    for _ in range(trials):
        a, b = _run(rng, 5), _run(rng, 5)
        per_process += _regressed(a, b)["p50_ms"]
        xa, xb = np.asarray(a["samples_ms"]), np.asarray(b["samples_ms"])  # what the pooled p50 test does
        pooled += cmp.mann_whitney_p(xa, xb) < T.alpha and np.median(xb) / np.median(xa) > 1 + T.max_slowdown
    assert per_process <= 0.02 * trials  # alpha 1%, one-sided share of a two-sided test, 5% minimum effect
    assert pooled >= 0.05 * trials  # 1,000 samples that are really 5 draws: overconfident


def test_per_process_test_detects_a_clear_slowdown_and_names_itself():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(50):
        a, b = _run(rng, 5, process_sd=0.02), _run(rng, 5, shift=1.15, process_sd=0.02)
        changes = {c.metric: c for c in cmp.compare_offline("x", a, b, T)}
        hits += changes["p50_ms"].verdict == "regressed"
    assert hits >= 48
    assert changes["p50_ms"].test.startswith("Yuen trimmed t on log per-process medians, one-sided (5 vs 5 processes)")
    assert changes["throughput_per_s"].change < -0.10


def test_fewer_than_three_processes_fall_back_to_the_pooled_test():
    rng = np.random.default_rng(2)
    a, b = _run(rng, 2), _run(rng, 5)
    assert all(c.test.startswith(("Mann-Whitney", "bootstrap")) for c in cmp.compare_offline("x", a, b, T)
               if c.metric in ("p50_ms", "p99_ms"))
    a, b = _run(rng, 3), _run(rng, 4)  # too few to trim one from each end: plain Welch
    assert next(c for c in cmp.compare_offline("x", a, b, T) if c.metric == "p50_ms").test.startswith("Welch t")


def test_yuen_p_is_scipys_one_sided_trimmed_test_in_the_direction_of_the_change():
    from scipy.stats import ttest_ind

    rng = np.random.default_rng(5)
    for na, nb, shift in ((10, 10, 0.03), (5, 8, -0.02), (3, 4, 0.01), (12, 9, -0.05)):
        a, b = np.exp(rng.normal(0, 0.05, na)), np.exp(rng.normal(shift, 0.05, nb))
        change, p, _ = cmp.yuen_log_test(a, b, alpha=0.01)
        side = "greater" if change > 0 else "less"
        assert p == pytest.approx(ttest_ind(np.log(b), np.log(a), equal_var=False, trim=0.2, alternative=side).pvalue)
        assert change == pytest.approx(np.expm1(cmp.yuen_parts(np.log(b))[0] - cmp.yuen_parts(np.log(a))[0]))


def test_detectable_change_is_about_the_slowdown_found_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    sd, n = 0.05, 10
    typical = float(np.median([cmp.yuen_log_test(np.exp(rng.normal(0, sd, n)), np.exp(rng.normal(0, sd, n)), 0.01)[2]
                               for _ in range(1000)]))
    found = 0
    for _ in range(1000):
        change, p, _ = cmp.yuen_log_test(np.exp(rng.normal(0, sd, n)), np.exp(rng.normal(np.log1p(typical), sd, n)), 0.01)
        found += p < 0.01 and change > 0
    assert 0.85 <= found / 1000 <= 0.99  # 95% with the spread known; estimating it costs a little
    # a 10x smaller alpha (Holm's first step in a family of 10) needs a larger slowdown
    a, b = np.exp(rng.normal(0, sd, n)), np.exp(rng.normal(0, sd, n))
    assert cmp.yuen_log_test(a, b, 0.001)[2] > cmp.yuen_log_test(a, b, 0.01)[2]


def _disturbed_run(rng, processes, shift=1.0, disturbed=2):
    """The structure measured here: processes agree within ~2%, and a few are 20-50% slow (a disturbed
    vCPU, while the single-threaded reference workload beside most of them is not slower)."""
    run = _run(rng, processes, shift=shift, process_sd=0.02, n=50)
    counts = run["process_sample_counts"]
    slow = rng.choice(processes, disturbed, replace=False)
    start = np.cumsum([0, *counts])
    samples = np.asarray(run["samples_ms"])
    for k in slow:
        samples[start[k]:start[k + 1]] *= rng.uniform(1.2, 1.5)
    return {**run, "samples_ms": list(samples)}


def test_trimming_keeps_a_few_disturbed_processes_from_hiding_a_slowdown():
    from scipy.stats import ttest_ind

    rng = np.random.default_rng(6)
    yuen = welch = 0
    for _ in range(60):
        a, b = _disturbed_run(rng, 10), _disturbed_run(rng, 10, shift=1.10)
        p50 = next(c for c in cmp.compare_offline("x", a, b, T) if c.metric == "p50_ms")
        yuen += p50.verdict == "regressed"
        la = np.log([np.median(x) for x in split_by_process(a["samples_ms"], a["process_sample_counts"])])
        lb = np.log([np.median(x) for x in split_by_process(b["samples_ms"], b["process_sample_counts"])])
        welch += ttest_ind(lb, la, equal_var=False, alternative="greater").pvalue < T.alpha and lb.mean() - la.mean() > np.log(1.05)
    assert yuen >= 50 and yuen >= welch + 15


def test_holm_adjusted_p_values():
    assert cmp.holm_adjusted([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert cmp.holm_adjusted([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert cmp.holm_adjusted([]) == []


def _snapshot(cells: dict, run_id: str) -> dict:
    return {"suite_name": "s", "profile": "p", "run_id": run_id, "environment": {}, "cells": cells}


def test_holm_holds_the_whole_gates_false_alarms_and_still_finds_a_clear_regression():
    rng = np.random.default_rng(7)
    per_test, holm = Gate(max_slowdown=0.0, alpha=0.05, correction="none"), Gate(max_slowdown=0.0, alpha=0.05)
    alarms = {"none": 0, "holm": 0}
    for _ in range(40):
        base = {f"c{i}": {**_run(rng, 5, n=30), "price_usd_per_hour": 1.0} for i in range(12)}
        new = {f"c{i}": {**_run(rng, 5, n=30), "price_usd_per_hour": 1.0} for i in range(12)}
        for name, t in (("none", per_test), ("holm", holm)):
            changes, problems = cmp.compare_snapshots(_snapshot(base, "a"), _snapshot(new, "b"), t)
            alarms[name] += cmp.exit_code(changes, problems) == cmp.EXIT_REGRESSION
    # 36 tests at 5% each (correlated: p50 and mean move together): many A/A gates fail uncorrected;
    # Holm keeps it near 5%
    assert alarms["none"] >= 12 and alarms["holm"] <= 5
    new["c3"] = {**_run(rng, 5, shift=1.5, n=30), "price_usd_per_hour": 1.0}
    changes, _ = cmp.compare_snapshots(_snapshot(base, "a"), _snapshot(new, "b"), holm)
    c3 = {c.metric: c for c in changes if c.cell_id == "c3"}
    assert c3["p50_ms"].verdict == "regressed" and c3["p50_ms"].p_adjusted >= c3["p50_ms"].p_value
    assert c3["usd_per_million"].p_adjusted == c3["throughput_per_s"].p_adjusted
    assert c3["usd_per_million"].verdict == "regressed"
    md = cmp.markdown(cmp.Comparison(_snapshot(base, "a"), _snapshot(new, "b"), holm, changes, [], [], [], 1))
    assert "Holm-Bonferroni" in md and f"{c3['p50_ms'].p_value:.2g} → {c3['p50_ms'].p_adjusted:.2g}" in md


def test_compare_reports_what_each_per_process_comparison_could_detect():
    rng = np.random.default_rng(4)
    a, b = _run(rng, 5, process_sd=0.10), _run(rng, 5, process_sd=0.10)
    p50 = next(c for c in cmp.compare_offline("x", a, b, T) if c.metric == "p50_ms")
    assert 0.10 < p50.detectable < 1.0  # 10% spread between processes, 5 per run: blind to a 10% slowdown
    snap = {"suite_name": "s", "profile": "p", "run_id": "a"}
    md = cmp.markdown(cmp.Comparison(snap, {**snap, "run_id": "b"}, T, [p50], [], [], [], 0))
    assert f"≥ {p50.detectable:.0%}" in md and "could not reliably see a change of twice the minimum effect" in md
    pooled = next(c for c in cmp.compare_offline("x", {**a, "process_sample_counts": None}, b, T) if c.metric == "p50_ms")
    assert pooled.detectable is None
