"""`bench compare` and baselines: the statistics on synthetic samples of known distributions, verdicts
and exit codes on golden run directories, the refusal across environments, the baseline round trip."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bench import compare as cmp
from bench.cli import app
from bench.config import Gate
from bench.record import CellRecord, save_run
from tests.golden import golden_run

T = Gate(max_slowdown=0.05, alpha=0.01)


def _offline(samples, bs=8, rss=500.0):
    return {"scenario": "offline", "batch_size": bs, "seq_len": 64, "status": "ok", "samples_ms": list(samples),
            "peak_rss_mib": rss, "price_usd_per_hour": 3.6}


def _verdicts(a, b, **kw):
    return {c.metric: c.verdict for c in cmp.compare_offline("x", _offline(a, **kw), _offline(b, **kw), T)}


def test_verdicts_on_samples_of_known_distributions():
    rng = np.random.default_rng(0)
    base = rng.lognormal(np.log(20), 0.05, 300)
    same = rng.lognormal(np.log(20), 0.05, 300)
    slower = rng.lognormal(np.log(20 * 1.15), 0.05, 300)
    faster = rng.lognormal(np.log(20 / 1.15), 0.05, 300)
    tiny = rng.lognormal(np.log(20 * 1.02), 0.05, 300)  # significant at this n, but under the minimum effect
    assert set(_verdicts(base, same).values()) == {"same"}
    v = _verdicts(base, slower)
    assert v["p50_ms"] == v["throughput_per_s"] == v["usd_per_million"] == v["p99_ms"] == "regressed"
    assert _verdicts(base, faster)["p50_ms"] == "improved"
    assert _verdicts(base, tiny)["p50_ms"] == "same"
    # a large change seen in too few, too noisy samples is not claimed either way
    few_a, few_b = rng.lognormal(np.log(20), 0.5, 4), rng.lognormal(np.log(26), 0.5, 4)
    assert _verdicts(few_a, few_b)["p50_ms"] in ("inconclusive", "same")


def test_false_alarms_on_identical_distributions_stay_near_alpha():
    rng = np.random.default_rng(1)
    alarms = sum(_verdicts(rng.lognormal(3, 0.2, 50), rng.lognormal(3, 0.2, 50))["p50_ms"] == "regressed"
                 for _ in range(300))
    assert alarms <= 3  # alpha 1% and a 5% minimum effect: at most about 1%


def test_memory_is_threshold_only():
    a, b = _offline([10.0] * 20, rss=500.0), _offline([10.0] * 20, rss=600.0)
    mem = next(c for c in cmp.compare_offline("x", a, b, T) if c.metric == "peak_rss_mib")
    assert mem.verdict == "regressed" and mem.p_value is None and "threshold only" in mem.test


def test_mcnemar_accuracy_verdicts():
    rng = np.random.default_rng(2)
    truth = rng.random(2000) < 0.75
    worse = truth & (rng.random(2000) > 0.06)  # loses about 4.5 points, gains none
    snap = lambda c: {"accuracy": c.mean(), "n_examples": len(c), "correct_bits": cmp.pack_bits(c)}  # noqa: E731
    drop = cmp.compare_accuracy("v/accuracy", snap(truth), snap(worse), T)
    assert drop.verdict == "regressed" and drop.p_value < 1e-6 and drop.change == pytest.approx(-100 * (truth.mean() - worse.mean()))
    # the same accuracy with a few examples swapped both ways: no change
    swapped = truth.copy()
    swapped[np.flatnonzero(truth)[:10]] = False
    swapped[np.flatnonzero(~truth)[:10]] = True
    assert cmp.compare_accuracy("v/accuracy", snap(truth), snap(swapped), T).verdict == "same"
    assert cmp.mcnemar_p(truth, truth) == 1.0


def test_bits_round_trip():
    bits = np.random.default_rng(3).random(1001) < 0.5
    assert np.array_equal(cmp.unpack_bits(cmp.pack_bits(bits), 1001), bits)


def _slowed(run, variant, factor):
    cells = tuple(dataclasses.replace(c, latency={**c.latency, "samples_ms": [x * factor for x in c.latency["samples_ms"]]})
                  if c.variant == variant and c.scenario == "offline" and c.status == "ok" else c for c in run.cells)
    return dataclasses.replace(run, cells=cells, run_id="20260102T000000Z-def5678")


def _compare(tmp_path, base_run, new_run, *extra):
    save_run(tmp_path / "a", base_run)
    save_run(tmp_path / "b", new_run)
    out = tmp_path / "out"
    code = app(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--max-slowdown", "5%", "--out", str(out), *extra],
               standalone_mode=False)
    return code, json.loads((out / "compare.json").read_text()), (out / "compare.md").read_text()


def test_identical_runs_pass(tmp_path):
    code, doc, md = _compare(tmp_path, golden_run(), golden_run())
    assert code == 0 and {c["verdict"] for c in doc["changes"]} == {"same"}
    assert "✅ **no regression**" in md


def test_a_slower_variant_fails_with_exit_1(tmp_path):
    code, doc, md = _compare(tmp_path, golden_run(), _slowed(golden_run(), "onnx", 1.3))
    assert code == 1
    bad = {(c["cell_id"], c["metric"]) for c in doc["changes"] if c["verdict"] == "regressed"}
    assert ("onnx/offline/bs8/seq64", "p50_ms") in bad and ("onnx/offline/bs1/seq64", "throughput_per_s") in bad
    assert not any(cell.startswith("full/") for cell, _ in bad)
    assert "❌ **regression**" in md and "| `onnx/offline/bs8/seq64` | p50_ms |" in md


def test_missing_cells_and_other_suites_are_unusable(tmp_path):
    run = golden_run()
    fewer = dataclasses.replace(run, cells=tuple(c for c in run.cells if c.variant != "onnx"))
    code, doc, _ = _compare(tmp_path, run, fewer)
    assert code == 2 and any("onnx/offline/bs8/seq64 is in the baseline and missing" in p for p in doc["problems"])
    code, doc, _ = _compare(tmp_path / "s", run, golden_run(suite_name="other"))
    assert code == 2 and any("different suites" in p for p in doc["problems"])


def test_a_newly_failing_cell_is_a_regression(tmp_path):
    run = golden_run()
    cells = tuple(CellRecord(**{**c.__dict__, "status": "failed", "reason": "boom", "latency": None})
                  if c.cell_id == "full/offline/bs1/seq64" else c for c in run.cells)
    code, doc, _ = _compare(tmp_path, run, dataclasses.replace(run, cells=cells))
    assert code == 1 and any(c["metric"] == "status" and c["verdict"] == "regressed" for c in doc["changes"])


def test_different_environments_are_refused_unless_allowed(tmp_path):
    run = golden_run()
    other = dataclasses.replace(run, environment={**run.environment, "cpu_model": "Other CPU",
                                                  "packages": {"torch": "2.14.0"}})
    code, doc, md = _compare(tmp_path, run, other)
    assert code == 2 and "cpu_model: Test CPU -> Other CPU" in doc["environment_differences"]
    assert "torch: 2.13.0 -> 2.14.0" in md
    code, doc, _ = _compare(tmp_path / "allowed", run, other, "--allow-different-env")
    assert code == 0 and doc["environment_differences"]  # still said, no longer refused


def test_baseline_round_trip_and_compare_against_it(tmp_path):
    save_run(tmp_path / "run", golden_run())
    out = tmp_path / "baselines" / "golden-test-cpu.json.gz"
    app(["baseline", str(tmp_path / "run"), "--out", str(out)], standalone_mode=False)
    assert out.stat().st_size < 20_000
    assert cmp.load_snapshot(out) == json.loads(json.dumps(cmp.snapshot_from_run(tmp_path / "run")))
    save_run(tmp_path / "new", _slowed(golden_run(), "full", 1.5))
    code = app(["compare", str(out), str(tmp_path / "new"), "--out", str(tmp_path / "c")], standalone_mode=False)
    assert code == 1


def test_garbage_baseline_is_a_clear_error(tmp_path):
    from bench.errors import BenchError

    bad = tmp_path / "x.json.gz"
    bad.write_text("not gzip")
    with pytest.raises(BenchError, match="not a baseline file"):
        cmp.load_snapshot(bad)
    with pytest.raises(BenchError, match="no such run directory"):
        cmp.load_snapshot(tmp_path / "missing")


def test_drift_of_the_whole_machine_is_corrected_by_the_reference_workload():
    rng = np.random.default_rng(5)
    ref = rng.lognormal(np.log(2.0), 0.03, 300)
    lat = 10 * ref * rng.lognormal(0, 0.02, 300)  # the model runs at the machine's current speed
    base = {**_offline(lat), "reference_ms": list(ref)}
    drifted = {**_offline(lat * 1.3), "reference_ms": list(ref * 1.3)}  # machine 30% slower, same code
    slower_code = {**_offline(lat * 1.1), "reference_ms": list(ref)}  # code 10% slower, same machine
    v = {c.metric: c for c in cmp.compare_offline("x", base, drifted, T)}
    assert v["p50_ms"].verdict == "same" and "drift-corrected" in v["p50_ms"].test
    assert v["p50_ms"].new == pytest.approx(1.3 * v["p50_ms"].baseline, rel=0.05)  # shown values stay raw
    assert {c.metric: c.verdict for c in cmp.compare_offline("x", base, slower_code, T)}["p50_ms"] == "regressed"
    # without the reference, the same drift reads as a regression
    raw = {c.metric: c.verdict for c in cmp.compare_offline("x", _offline(lat), _offline(lat * 1.3), T)}
    assert raw["p50_ms"] == "regressed"


def test_the_suites_gate_table_sets_the_default_minimum_effect(tmp_path):
    base = golden_run()
    lenient = dataclasses.replace(base, suite={**base.suite, "gate": {"max_slowdown": 0.5}})
    save_run(tmp_path / "a", base)
    save_run(tmp_path / "b", _slowed(lenient, "onnx", 1.3))
    code = app(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")], standalone_mode=False)
    assert code == 0  # 30% slower is within the suite's 50%
    code = app(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--max-slowdown", "5%", "--out", str(tmp_path / "o")],
               standalone_mode=False)
    assert code == 1  # the command line wins


def test_other_installed_packages_are_noted_not_refused():
    env = {"cpu_model": "x", "cpu_count": 2, "gpu_name": None, "packages": {"torch": "2.13.0"}}
    a = {"environment": {**env, "installed_packages": {"torch": "2.13.0", "numpy": "2.4.6", "onnxscript": "0.7.2"}},
         "profile": "p"}
    b = {"environment": {**env, "installed_packages": {"torch": "2.13.0", "numpy": "2.4.7", "pandas": "3.0.0"}},
         "profile": "p"}
    assert cmp.snapshot_differences(a, b) == []  # the key packages agree: comparable
    assert cmp.environment_notes(a, b) == ["installed only where the baseline ran: onnxscript 0.7.2",
                                           "installed only where the new run ran: pandas 3.0.0",
                                           "other package versions differ: numpy 2.4.6 vs 2.4.7"]
    assert cmp.environment_notes({"environment": env}, b) == []  # older records have no full list
