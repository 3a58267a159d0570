"""Verdicts of `bench compare`: two snapshots (bench.compare.baseline) compared cell by cell, a verdict
per metric that survives noisy machines: a change counts only when it is both statistically
significant on the raw samples and larger than a minimum effect (asv's rule).

Tests used, per metric (the statistics themselves are in bench.compare.stats):
- Cells measured in at least 3 fresh processes in both runs (`measure.processes`, pyperf's habit):
  one statistic per process (median for p50, p99, mean for throughput), Yuen's trimmed-means t-test on
  their logs (20% trimmed from each end; plain Welch below 5 processes), one-sided in the direction of
  the change; effect = ratio of trimmed geometric means. Samples within one process share its memory
  layout, thread placement and clocks, so only processes are independent draws; a test on pooled
  samples is overconfident across runs (measured: 18-23% false alarms, see
  benchmarks/gate_calibration.py). Trimming, because here most processes agree within 2-3% and a few
  are 20-50% slow.
- Otherwise, on the pooled samples: p50 and throughput (and USD per 1M, price / throughput) by
  Mann-Whitney U, two-sided; effect = ratio of medians (p50) or of means (throughput); p99 by a
  percentile bootstrap of the ratio of p99s (2,000 resamples), significant when the (1 - alpha)
  interval excludes 1.
- Either way, where both runs timed bench's reference workload beside every sample, the statistics use
  latency / reference time (drift-corrected: a machine that is 20% slower for a while slows both).
- accuracy: exact McNemar test on the per-example correctness of the two runs (same test split), with a
  tolerance in points; another task kind's primary metric by its paired test (bench.compare.quality:
  Wilcoxon signed-rank on per-example errors for regression, a paired bootstrap of PR-AUC for binary).
- the server scenario's max QPS: Welch's t-test on the logs of the repetitions' peaks where both runs
  have at least 3 (the medians shown); else, as peak memory, one number per run, so threshold only (named so).

Multiple comparisons: with `Gate.correction = "holm"` (the default) alpha holds for the whole
comparison: every p-value is adjusted by Holm-Bonferroni over all tests of the two runs, so a gate of
many cells fails an unchanged build at most at rate alpha, not alpha per test (measured here at 10
processes per cell: 4-6% of whole gates without it, 0% with it).

Verdicts: `regressed` / `improved` when significant and past the minimum effect; `inconclusive` when
past the minimum effect but not significant; `same` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import numpy as np

from bench.compare.baseline import unpack_bits
from bench.compare.stats import (
    TRIM,
    bootstrap_ratio_ci,
    holm_adjusted,
    mann_whitney_p,
    mcnemar_p,
    p99,
    yuen_log_test,
)
from bench.config import METRICS, Gate
from bench.cost import throughput_samples_per_s, usd_per_million

EXIT_NO_REGRESSION, EXIT_REGRESSION, EXIT_UNUSABLE = 0, 1, 2
MIN_PROCESSES = 3  # per run, for the test on per-process statistics


@dataclass(frozen=True)
class MetricChange:
    cell_id: str
    metric: str
    baseline: float | None
    new: float | None
    change: float | None  # relative (new / baseline - 1), or points for accuracy
    p_value: float | None
    test: str
    verdict: str  # improved | same | regressed | inconclusive
    # the smallest slowdown this comparison would call significant with 95% probability, from the
    # per-process spread (per-process tests only): a gate that cannot see 10% should say so
    detectable: float | None = None
    worse_by: float | None = None  # the change in the bad direction (fraction; accuracy: points / 100)
    p_adjusted: float | None = None  # p after the multiple-comparison correction (Holm), where applied

    def to_dict(self) -> dict:
        return asdict(self)


def verdict(worse_by: float, significant: bool, min_effect: float) -> str:
    """`worse_by`: relative change in the bad direction (+0.1 = 10% worse); `min_effect` a fraction."""
    if abs(worse_by) <= min_effect:
        return "same"
    if not significant:
        return "inconclusive"
    return "regressed" if worse_by > 0 else "improved"


def min_effect(metric: str, gate: Gate) -> float:
    """The minimum effect (fraction) below which `metric` is `same` whatever its p."""
    if metric == "accuracy":
        return gate.accuracy_tolerance_points / 100
    if metric in METRICS:  # another task kind's primary metric
        from bench.compare.quality import min_effect as quality_min_effect

        return quality_min_effect(metric, gate)
    return gate.max_memory_growth if metric == "peak_rss_mib" else gate.max_slowdown


def _drift_corrected(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray, bool]:
    """Latency / reference-workload time per sample when both runs timed the reference beside every
    sample (bench.timing.reference_workload), else the raw latencies."""
    ra, rb = a.get("reference_ms"), b.get("reference_ms")
    sa, sb = np.asarray(a["samples_ms"], dtype=float), np.asarray(b["samples_ms"], dtype=float)
    if ra and rb and len(ra) == len(sa) and len(rb) == len(sb):
        return sa / np.asarray(ra, dtype=float), sb / np.asarray(rb, dtype=float), True
    return sa, sb, False


def _processes(entry: dict, x: np.ndarray) -> list[np.ndarray] | None:
    from bench.stats import split_by_process

    counts = entry.get("process_sample_counts")
    if not counts or len(counts) < MIN_PROCESSES or sum(counts) != len(x):
        return None
    return split_by_process(x, counts)


# metric -> (relative change in the bad direction, significant, p, test name, detectable change)
LatencyTests = dict[str, tuple[float, bool, float | None, str, float | None]]


def _per_process_tests(pa: list, pb: list, gate: Gate, alpha_detect: float, note: str) -> LatencyTests:
    test = "Yuen trimmed t" if max(len(pa), len(pb)) * TRIM >= 1 else "Welch t"
    name = f"{test} on log per-process {{}}, one-sided ({len(pa)} vs {len(pb)} processes)" + note
    out = {}
    for metric, stat, label in (("p50_ms", np.median, "medians"), ("p99_ms", p99, "p99s"),
                                ("throughput_per_s", np.mean, "means")):
        per_a, per_b = [stat(x) for x in pa], [stat(x) for x in pb]
        change, p, _ = yuen_log_test(per_a, per_b, gate.alpha)
        detectable = yuen_log_test(per_a, per_b, alpha_detect)[2]
        out[metric] = (change, p < gate.alpha, p, name.format(label), detectable)
    return out


def _latency_tests(a: dict, b: dict, gate: Gate, alpha_detect: float) -> LatencyTests:
    """Judged on per-process statistics when both runs measured the cell in at least MIN_PROCESSES
    processes (each process's samples share its memory layout, thread placement and clocks, so samples
    are not independent across processes), else on the pooled samples."""
    xa, xb, corrected = _drift_corrected(a, b)
    note = " on latency / reference workload (drift-corrected)" if corrected else ""
    pa, pb = _processes(a, xa), _processes(b, xb)
    if pa and pb:
        return _per_process_tests(pa, pb, gate, alpha_detect, note)
    p = mann_whitney_p(xa, xb)
    lo, hi = bootstrap_ratio_ci(xa, xb, p99, gate.alpha)
    return {"p50_ms": (float(np.median(xb) / np.median(xa)) - 1, p < gate.alpha, p, "Mann-Whitney U" + note, None),
            "p99_ms": (float(p99(xb) / p99(xa)) - 1, not (lo <= 1.0 <= hi), None,
                       f"bootstrap ratio CI [{lo:.3f}, {hi:.3f}]" + note, None),
            # each sample costs (1 + slower) as much: throughput / (1 + slower)
            "throughput_per_s": (float(xb.mean() / xa.mean()) - 1, p < gate.alpha, p, "Mann-Whitney U" + note, None)}


def _cost_and_memory(cid: str, a: dict, b: dict, gate: Gate, tput_ms: tuple[float, float],
                     throughput_test: tuple) -> list[MetricChange]:
    out = []
    slower, sig, p, name, _ = throughput_test
    if a.get("price_usd_per_hour") and b.get("price_usd_per_hour"):
        ca = usd_per_million(a["price_usd_per_hour"], tput_ms[0])
        cb = usd_per_million(b["price_usd_per_hour"], tput_ms[1])
        dearer = (1 + slower) * b["price_usd_per_hour"] / a["price_usd_per_hour"] - 1
        out.append(MetricChange(cid, "usd_per_million", ca, cb, dearer, p, f"{name} (via throughput)",
                                verdict(dearer, sig, gate.max_slowdown), worse_by=dearer))
    ma, mb = a.get("peak_rss_mib"), b.get("peak_rss_mib")
    if ma and mb:
        out.append(MetricChange(cid, "peak_rss_mib", ma, mb, mb / ma - 1, None, "threshold only (one value per run)",
                                verdict(mb / ma - 1, True, gate.max_memory_growth)))
    return out


def compare_offline(cid: str, a: dict, b: dict, gate: Gate, family_size: int = 1) -> list[MetricChange]:
    """p50, p99, throughput, USD per 1M and peak memory of one offline cell. Shown values are raw over
    all samples; verdicts (and `change`) come from _latency_tests. `detectable` is computed at
    alpha / family_size: what one changed cell needs to be seen after the multiple-comparison
    correction (Holm's first step)."""
    sa, sb = np.asarray(a["samples_ms"]), np.asarray(b["samples_ms"])
    tests = _latency_tests(a, b, gate, alpha_detect=gate.alpha / family_size)
    out = []
    for metric, shown_a, shown_b in (("p50_ms", np.median(sa), np.median(sb)), ("p99_ms", p99(sa), p99(sb))):
        change, sig, p, name, detectable = tests[metric]
        out.append(MetricChange(cid, metric, float(shown_a), float(shown_b), change, p, name,
                                verdict(change, sig, gate.max_slowdown), detectable, worse_by=change))
    bs = a["batch_size"]
    tput_a, tput_b = throughput_samples_per_s(bs, sa.mean()), throughput_samples_per_s(bs, sb.mean())
    slower, sig, p, name, detectable = tests["throughput_per_s"]
    out.append(MetricChange(cid, "throughput_per_s", tput_a, tput_b, 1 / (1 + slower) - 1, p, name,
                            verdict(slower, sig, gate.max_slowdown), detectable, worse_by=slower))
    return out + _cost_and_memory(cid, a, b, gate, (tput_a, tput_b), tests["throughput_per_s"])


def compare_quality(cid: str, a: dict, b: dict, gate: Gate) -> MetricChange:
    """The accuracy cell's primary metric, by its kind's paired test (bench.compare.quality); accuracy
    (and entries from before task kinds) by McNemar: compare_accuracy."""
    from bench.compare import quality

    metric = a.get("metric", "accuracy")
    if metric in ("accuracy", "macro_f1") or metric != b.get("metric", "accuracy"):
        return compare_accuracy(cid, a, b, gate)
    p, test = quality.paired_test(metric, a, b)
    change, worse = quality.change_and_worse(metric, a["value"], b["value"])
    sig = True if p is None else p < gate.alpha
    return MetricChange(cid, metric, a["value"], b["value"], change, p, test,
                        verdict(worse, sig, quality.min_effect(metric, gate)), worse_by=worse)


def compare_accuracy(cid: str, a: dict, b: dict, gate: Gate) -> MetricChange:
    """Accuracy by McNemar on per-example correctness where both runs stored it, else threshold only;
    `change` in points."""
    gain_points = (b["accuracy"] - a["accuracy"]) * 100  # not -drop: an unchanged accuracy shows +0.00, not -0.00
    if a.get("correct_bits") and b.get("correct_bits") and a["n_examples"] == b["n_examples"]:
        ca, cb = unpack_bits(a["correct_bits"], a["n_examples"]), unpack_bits(b["correct_bits"], b["n_examples"])
        p, test = mcnemar_p(ca, cb), "McNemar (exact)"
    else:
        p, test = None, "threshold only (no per-example predictions)"
    sig = True if p is None else p < gate.alpha
    worse = -gain_points / 100
    return MetricChange(cid, "accuracy", a["accuracy"], b["accuracy"], gain_points, p, test,
                        verdict(worse, sig, gate.accuracy_tolerance_points / 100), worse_by=worse)


def compare_server(cid: str, a: dict, b: dict, gate: Gate) -> list[MetricChange]:
    """The server scenario's max QPS (the conservative repetition's). With at least 3 repetitions on
    both sides: Welch's t-test on the logs of the repetitions' peaks (their spread is the process-to-process
    noise that one pair of numbers cannot show: issue #20 saw 1.5x between repetitions of one cell), the
    change that of the medians; else one value per run, threshold only. Nothing where either has none."""
    if not a.get("max_qps") or b.get("max_qps") is None:
        return []
    ra, rb = ([q for q in (x.get("repetitions_qps") or []) if q] for x in (a, b))
    if len(ra) >= 3 and len(rb) >= 3:
        from scipy.stats import ttest_ind

        p = float(ttest_ind(np.log(ra), np.log(rb), equal_var=False).pvalue)
        ma, mb = float(np.median(ra)), float(np.median(rb))
        return [MetricChange(cid, "server_max_qps", ma, mb, mb / ma - 1, p,
                             f"Welch t on log peak QPS ({len(ra)} vs {len(rb)} repetitions; medians shown)",
                             verdict(ma / mb - 1, p < gate.alpha, gate.max_slowdown), worse_by=ma / mb - 1)]
    worse = a["max_qps"] / b["max_qps"] - 1 if b["max_qps"] else math.inf
    return [MetricChange(cid, "server_max_qps", a["max_qps"], b["max_qps"], b["max_qps"] / a["max_qps"] - 1,
                         None, "threshold only (one value per run)", verdict(worse, True, gate.max_slowdown))]


class ScenarioComparison(NamedTuple):
    """How one scenario's cells are compared: `changes(cell_id, a, b, gate, family_size)`, and how many
    tests with a p-value that makes for a cell (the multiple-comparison family)."""

    changes: Callable[[str, dict, dict, Gate, int], list[MetricChange]]
    tests_with_p: Callable[[dict], int]


# One home for the scenario axis of compare: a scenario not named here has no metrics to compare.
SCENARIO_COMPARISONS: dict[str, ScenarioComparison] = {
    # 3 per offline cell (p50, p99, throughput; the pooled p99 bootstrap has none, counted anyway: a bound)
    "offline": ScenarioComparison(compare_offline, lambda a: 3),
    "accuracy": ScenarioComparison(lambda cid, a, b, gate, n: [compare_quality(cid, a, b, gate)],
                                   lambda a: int(bool(a.get("correct_bits") or a.get("errors") or a.get("scores")))),
    "server": ScenarioComparison(lambda cid, a, b, gate, n: compare_server(cid, a, b, gate),
                                 lambda a: int(len(a.get("repetitions_qps") or []) >= 3)),
}


def correct_for_multiplicity(changes: list[MetricChange], gate: Gate) -> list[MetricChange]:
    """Holm over every comparison with a p-value (cost shares its throughput's test, so it follows
    that one's adjusted p). Verdicts are recomputed on the adjusted p; threshold-only metrics and the
    pooled p99 bootstrap (no p-value) are left as they are. `gate.correction == "none"`: unchanged."""
    if gate.correction == "none":
        return changes
    family = [i for i, c in enumerate(changes) if c.p_value is not None and c.metric != "usd_per_million"]
    adjusted = dict(zip(family, holm_adjusted([changes[i].p_value for i in family]), strict=True))
    by_throughput = {changes[i].cell_id: adjusted[i] for i in family if changes[i].metric == "throughput_per_s"}
    out = []
    for i, c in enumerate(changes):
        p_adj = adjusted.get(i, by_throughput.get(c.cell_id) if c.metric == "usd_per_million" else None)
        if p_adj is None or c.worse_by is None:
            out.append(c)
            continue
        out.append(replace(c, p_adjusted=p_adj, verdict=verdict(c.worse_by, p_adj < gate.alpha, min_effect(c.metric, gate))))
    return out


def _both_ok(base: dict, new: dict):
    """(cell id, baseline entry, new entry) of the cells measured `ok` in both snapshots."""
    for cid, a in base["cells"].items():
        b = new["cells"].get(cid)
        if b is not None and a["status"] == "ok" and b["status"] == "ok":
            yield cid, a, b


def family_size(base: dict, new: dict) -> int:
    """How many tests compare_snapshots makes with a p-value (at least 1)."""
    n = sum(SCENARIO_COMPARISONS[a["scenario"]].tests_with_p(a) for _, a, _ in _both_ok(base, new)
            if a["scenario"] in SCENARIO_COMPARISONS)
    return max(n, 1)


def _status_change(cid: str, b: dict) -> MetricChange:
    """A cell ok in the baseline and not in the new run: failed is a regression, anything else unknown."""
    return MetricChange(cid, "status", None, None, None, None, "-",
                        "regressed" if b["status"] == "failed" else "inconclusive")


def _snapshot_problems(base: dict, new: dict) -> list[str]:
    problems = []
    if base["suite_name"] != new["suite_name"]:
        problems.append(f"different suites: {base['suite_name']} vs {new['suite_name']}")
    if base.get("test_sha256") and new.get("test_sha256") and base["test_sha256"] != new["test_sha256"]:
        problems.append("different test splits (sha256 differ): accuracy is not comparable")
    missing = [cid for cid in base["cells"] if cid not in new["cells"]]
    return problems + [f"cell {cid} is in the baseline and missing from the new run" for cid in missing]


def compare_snapshots(base: dict, new: dict, gate: Gate) -> tuple[list[MetricChange], list[str]]:
    """Changes per matching cell and metric, in the baseline's cell order, and the problems that make
    the comparison unusable (different suites or test splits, cells missing from the new run)."""
    family = family_size(base, new) if gate.correction == "holm" else 1
    changes: list[MetricChange] = []
    problems = _snapshot_problems(base, new)
    for cid, a in base["cells"].items():
        b = new["cells"].get(cid)
        if b is None or a["status"] != "ok":
            continue
        if b["status"] == "ok" and _judged_on(a) != _judged_on(b):  # no test compares two different metrics
            problems.append(f"cell {cid} is judged on {' '.join(_judged_on(a))} in the baseline and on "
                            f"{' '.join(_judged_on(b))} in the new run: different task kinds are not comparable")
            continue
        if b["status"] != "ok":
            changes.append(_status_change(cid, b))
        elif a["scenario"] in SCENARIO_COMPARISONS:
            changes += SCENARIO_COMPARISONS[a["scenario"]].changes(cid, a, b, gate, family)
    return correct_for_multiplicity(changes, gate), problems


def _judged_on(cell: dict) -> tuple[str, str]:
    """(task kind, metric) of an accuracy cell's snapshot; ("", "") for other scenarios."""
    return (cell.get("kind", "classification"), cell.get("metric", "accuracy")) if cell["scenario"] == "accuracy" else ("", "")


def exit_code(changes: list[MetricChange], problems: list[str]) -> int:
    """2 (unusable) when there is any problem, else 1 when any verdict is `regressed`, else 0."""
    if problems:
        return EXIT_UNUSABLE
    return EXIT_REGRESSION if any(c.verdict == "regressed" for c in changes) else EXIT_NO_REGRESSION
