"""compare.md in full: every column of a regressed, an improved, an inconclusive and a same row, the
headline, the thresholds line, the environment sections and the exit code, on small synthetic snapshots
whose values are computed by hand (accuracy: exact McNemar) or by bench.compare.stats (per-process
Welch); and the committed real baseline compared with itself."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from bench import compare as cmp
from bench.cli import app
from bench.config import Gate
from bench.errors import BenchError

REAL_BASELINE = Path(__file__).resolve().parents[1] / "results" / "baselines" / "gate-aws-c6a-large.json.gz"
PROCESS_MS = [10.0] * 3 + [10.2] * 3 + [9.8] * 3  # 3 processes of 3 samples: per-process medians 10, 10.2, 9.8


def _accuracy_pair(lost: int = 0, gained: int = 0) -> tuple[dict, dict]:
    """100 examples, 80 right in the baseline; the new run loses `lost` of them and gains `gained`."""
    base = np.zeros(100, dtype=bool)
    base[:80] = True
    new = base.copy()
    new[:lost] = False
    new[80:80 + gained] = True
    return tuple({"scenario": "accuracy", "status": "ok", "accuracy": float(c.mean()), "n_examples": 100,
                  "correct_bits": cmp.pack_bits(c)} for c in (base, new))


def _offline(factor: float) -> dict:
    return {"scenario": "offline", "status": "ok", "batch_size": 1, "samples_ms": [x * factor for x in PROCESS_MS],
            "process_sample_counts": [3, 3, 3], "peak_rss_mib": 500.0, "price_usd_per_hour": 3.6}


def _snapshot(run_id: str, cells: dict, installed: dict | None = None, **env) -> dict:
    environment = {"cpu_model": "cpu", "cpu_count": 2, "gpu_name": None, "packages": {"torch": "2.13.0"},
                   "installed_packages": installed, **env}
    return {"suite_name": "s", "profile": "p", "run_id": run_id, "environment": environment, "cells": cells}


def _synthetic() -> tuple[dict, dict]:
    pairs = {"a/accuracy": _accuracy_pair(lost=10), "b/accuracy": _accuracy_pair(gained=10),
             "c/accuracy": _accuracy_pair(lost=3), "d/accuracy": _accuracy_pair(lost=1, gained=1),
             "e/offline/bs1/seq64": (_offline(1.0), _offline(1.5))}
    base = _snapshot("A", {k: v[0] for k, v in pairs.items()}, {"torch": "2.13.0", "numpy": "2.4.6"})
    new = _snapshot("B", {k: v[1] for k, v in pairs.items()}, {"torch": "2.13.0", "numpy": "2.4.7"})
    return base, new


def _table(md: str) -> list[list[str]]:
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def test_compare_md_every_column_of_each_verdict():
    base, new = _synthetic()
    result = cmp.compare(base, new, Gate())
    md = cmp.markdown(result)
    assert result.exit_code == 1 and result.problems == [] and result.differences == []
    lines = md.splitlines()
    assert lines[0] == "## bench compare: s on p"
    # 5 offline metrics: 4 regressed (p50, p99, throughput, cost), memory same
    assert lines[2] == "❌ **regression**: 5 regressed, 1 improved, 1 inconclusive, 2 same."
    assert lines[4] == ("Baseline `A` vs new `B`. A change counts when significant at alpha 0.01 over the whole "
                        "comparison (Holm-Bonferroni: p → adjusted p) and larger than 5% (latency, throughput, cost), "
                        "10% (memory) or 0.5 points (accuracy).")
    assert "**Environment notes** (not refused" in md and "- other package versions differ: numpy 2.4.6 vs 2.4.7" in md
    assert "**Problems:**" not in md and "**Environments differ:**" not in md
    # McNemar exact: 10 discordant pairs all one way -> p = 2 / 2^10; 3 -> 2 / 2^3; 1 and 1 -> 1.
    # Holm over 7 p-values (3 per-process offline tests first): the two 2^-9 are ranks 4 and 5 of 7 ->
    # max(4, 3) * 2^-9 = 0.0078; 0.25 * 2 = 0.5; 1 * 1 = 1.
    change, p, _ = cmp.yuen_log_test([10, 10.2, 9.8], [15, 15.3, 14.7], 0.01)
    detectable = cmp.yuen_log_test([10, 10.2, 9.8], [15, 15.3, 14.7], 0.01 / 7)[2]
    assert change == pytest.approx(0.5)
    welch = f"{p:.2g} → {7 * p:.2g}"  # Holm: the smallest p of 7, times 7
    test = "Welch t on log per-process {}, one-sided (3 vs 3 processes)"
    e = "e/offline/bs1/seq64"
    assert _table(md) == [
        ["cell", "metric", "baseline", "new", "change", "p", "detects (95%)", "test", "verdict"],
        ["`a/accuracy`", "accuracy", "0.8000", "0.7000", "-10.00 pts", "0.002 → 0.0078", "-", "McNemar (exact)",
         "❌ regressed"],
        ["`b/accuracy`", "accuracy", "0.8000", "0.9000", "+10.00 pts", "0.002 → 0.0078", "-", "McNemar (exact)",
         "✅ improved"],
        ["`c/accuracy`", "accuracy", "0.8000", "0.7700", "-3.00 pts", "0.25 → 0.5", "-", "McNemar (exact)",
         "⚠️ inconclusive"],
        # shown values over all samples: median 10 -> 15, p99 10.2 -> 15.3, 1 / 10 ms = 100/s -> 66.67/s
        # per-process tests mark their change with * (a footnote: per-process statistics, not the shown values)
        [f"`{e}`", "p50_ms", "10.00", "15.00", "+50.0%*", welch, f"≥ {detectable:.0%}", test.format("medians"),
         "❌ regressed"],
        [f"`{e}`", "p99_ms", "10.20", "15.30", "+50.0%*", welch, f"≥ {detectable:.0%}", test.format("p99s"),
         "❌ regressed"],
        [f"`{e}`", "throughput_per_s", "100.00", "66.67", "-33.3%*", welch, f"≥ {detectable:.0%}",
         test.format("means"), "❌ regressed"],
        # $/1M = 3.6 $/h / (100/s * 3600) * 1e6 = 10
        [f"`{e}`", "usd_per_million", "10.0000", "15.0000", "+50.0%", welch, "-",
         test.format("means") + " (via throughput)", "❌ regressed"],
        ["`d/accuracy`", "accuracy", "0.8000", "0.8000", "+0.00 pts", "1 → 1", "-", "McNemar (exact)", "same"],
        [f"`{e}`", "peak_rss_mib", "500.00", "500.00", "+0.0%", "-", "-", "threshold only (one value per run)",
         "same"],
    ]
    assert welch == "7.8e-06 → 5.5e-05" and f"{detectable:.0%}" == "15%"
    assert "3 comparison(s) could not reliably see a change of twice the minimum effect (10%)" in md


def test_compare_md_thresholds_line_follows_the_gate():
    base, new = _synthetic()
    gate = Gate(max_slowdown=0.08, max_memory_growth=0.2, accuracy_tolerance_points=1, alpha=0.05, correction="none")
    line = cmp.markdown(cmp.compare(base, new, gate)).splitlines()[4]
    assert line == ("Baseline `A` vs new `B`. A change counts when significant at alpha 0.05 per test and larger "
                    "than 8% (latency, throughput, cost), 20% (memory) or 1 points (accuracy).")


def test_compare_md_different_environments_are_problems_unless_allowed():
    cells = {"d/accuracy": _accuracy_pair()[0]}
    base, new = _snapshot("A", cells), _snapshot("B", cells, cpu_model="other", packages={"torch": "2.14.0"})
    refused = cmp.compare(base, new, Gate())
    md = cmp.markdown(refused)
    assert refused.exit_code == 2
    assert refused.differences == ["cpu_model: cpu -> other", "torch: 2.13.0 -> 2.14.0"]
    assert md.splitlines()[2] == ("⛔ **unusable comparison** (the verdicts below are not a gate result): 0 regressed, "
                                  "0 improved, 0 inconclusive, 1 same.")
    assert ("**Problems:**\n\n- measured in different environments (see below); pass --allow-different-env to "
            "compare anyway\n\n**Environments differ:**\n\n- cpu_model: cpu -> other\n- torch: 2.13.0 -> 2.14.0\n") in md
    assert "**Environment notes**" not in md  # no full package lists: nothing to note
    allowed = cmp.compare(base, new, Gate(), allow_different_env=True)
    md = cmp.markdown(allowed)
    assert allowed.exit_code == 0 and allowed.problems == []
    assert md.splitlines()[2] == "✅ **no regression**: 0 regressed, 0 improved, 0 inconclusive, 1 same."
    assert "**Environments differ:**\n\n- cpu_model: cpu -> other" in md


def test_the_real_baseline_compared_with_itself_is_all_same():
    snap = cmp.load_snapshot(REAL_BASELINE)
    gate = cmp.gate_for(snap)
    assert gate == Gate(max_slowdown=0.08, max_memory_growth=0.2, accuracy_tolerance_points=0.5, alpha=0.01)
    result = cmp.compare(snap, snap, gate)
    assert result.exit_code == 0 and result.problems == [] and result.differences == [] and result.notes == []
    assert {c.verdict for c in result.changes} == {"same"}
    assert len(result.changes) == 6 * 5 + 3  # 6 offline cells x (p50, p99, throughput, cost, memory), 3 accuracy
    md = cmp.markdown(result).splitlines()
    assert md[0] == "## bench compare: gate on aws-c6a-large"
    assert md[2] == "✅ **no regression**: 0 regressed, 0 improved, 0 inconclusive, 33 same."
    assert "larger than 8% (latency, throughput, cost), 20% (memory) or 0.5 points (accuracy)." in md[4]
    row = next(line for line in md if line.startswith("| `full/offline/bs1/seq64` | p50_ms |"))
    assert "| +0.0%* | 0.5 → 1 |" in row and "drift-corrected" in row and row.endswith("| same |")


def test_a_newer_baseline_schema_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "b.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump({"kind": cmp.BASELINE_KIND, "schema_version": cmp.BASELINE_SCHEMA + 1}, f)
    with pytest.raises(BenchError, match=rf"newer schema {cmp.BASELINE_SCHEMA + 1} .*upgrade bench"):
        cmp.load_snapshot(path)
    with gzip.open(path, "wt") as f:
        json.dump({"kind": "other", "schema_version": 1}, f)
    with pytest.raises(BenchError, match=f"not a bench baseline of schema {cmp.BASELINE_SCHEMA}"):
        cmp.load_snapshot(path)


def test_gate_overrides_are_validated_and_name_their_option():
    snap = {"gate": {"max_slowdown": 0.2}}
    assert cmp.gate_for(snap, {"alpha": 0.05, "correction": None}) == Gate(max_slowdown=0.2, alpha=0.05)
    with pytest.raises(BenchError, match="--correction 'bonferroni'"):
        cmp.gate_for(snap, {"correction": "bonferroni"})
    with pytest.raises(BenchError, match=r"--alpha 0\.7"):
        cmp.gate_for(snap, {"alpha": 0.7})
    with pytest.raises(BenchError, match=r"run-x: gate\.alpha"):
        cmp.gate_for({"gate": {"alpha": 2}}, source="run-x")


def test_a_bad_override_on_the_command_line_exits_2(tmp_path):
    path = tmp_path / "b.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump(_snapshot("A", {}) | {"kind": cmp.BASELINE_KIND, "schema_version": cmp.BASELINE_SCHEMA}, f)
    with pytest.raises(BenchError, match="--correction 'x'") as e:
        app(["compare", str(path), str(path), "--correction", "x", "--out", str(tmp_path / "o")], standalone_mode=False)
    assert e.value.exit_code == 2


def test_environment_differences_are_key_arrow_lines():
    from bench.env import environment_differences

    a = {"cpu_model": "X", "cpu_count": 2, "gpu_name": None, "packages": {"torch": "2.13.0", "peft": "0.21"}}
    b = {**a, "gpu_name": "H200", "packages": {"torch": "2.13.0"}, "hostname": "elsewhere"}
    assert environment_differences(a, b) == ["gpu_name: none -> H200", "peft: 0.21 -> none"]
    assert environment_differences(a, a) == []


def test_server_peaks_are_tested_on_their_repetitions_and_an_unusable_comparison_never_reads_as_a_regression():
    """Issue #20's spread: one repetition of a cell 1.5x another. Two runs of one build must not call a
    5% move of the lowest repetition a regression; a clear drop over all repetitions still is one."""
    from bench.compare.judge import compare_server

    gate = Gate()
    a = {"max_qps": 232.5, "repetitions_qps": [234.0, 274.9, 232.5]}
    noisy = {"max_qps": 207.1, "repetitions_qps": [268.7, 207.1, 209.8]}
    (change,) = compare_server("int8/server-real", a, noisy, gate)
    assert change.verdict == "inconclusive" and change.p_value > gate.alpha and "Welch" in change.test
    assert (change.baseline, change.new) == (234.0, 209.8)  # the medians, whose change is shown
    drop = {"max_qps": 116.0, "repetitions_qps": [117.0, 116.0, 118.0]}
    assert compare_server("c", {"max_qps": 232.0, "repetitions_qps": [233.0, 232.0, 234.0]}, drop, gate)[0].verdict == "regressed"
    (single,) = compare_server("c", {"max_qps": 100.0}, {"max_qps": 80.0}, gate)
    assert single.test.startswith("threshold only") and single.verdict == "regressed"
    from types import SimpleNamespace

    from bench.report.compare_md import headline

    assert headline(SimpleNamespace(changes=[single], problems=["different test splits"])).startswith(
        "⛔ **unusable comparison** (the verdicts below are not a gate result): 1 regressed")
