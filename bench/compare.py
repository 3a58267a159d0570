"""Compare two measurements of one suite (run directories or baseline files) cell by cell, with a
verdict per metric that survives noisy machines: a change counts only when it is both statistically
significant on the raw samples and larger than a minimum effect (asv's rule).

Tests used, per metric:
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
  tolerance in points.
- peak memory and the server scenario's max QPS: one number per run, so threshold only (named so).

Multiple comparisons: by default (`correction = "holm"`) alpha holds for the whole comparison: every
p-value is adjusted by Holm-Bonferroni over all tests of the two runs, so a gate of many cells fails an
unchanged build at most at rate alpha, not alpha per test (measured here at 10 processes per cell:
4-6% of whole gates without it, 0% with it).

Verdicts: `regressed` / `improved` when significant and past the minimum effect; `inconclusive` when
past the minimum effect but not significant; `same` otherwise.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bench.errors import BenchError

BASELINE_KIND = "bench-baseline"
BASELINE_SCHEMA = 1
ENV_KEYS = ("cpu_model", "cpu_count", "gpu_name")
ENV_PACKAGES = ("torch", "transformers", "onnxruntime", "onnxruntime-gpu", "tensorrt", "peft")
EXIT_NO_REGRESSION, EXIT_REGRESSION, EXIT_UNUSABLE = 0, 1, 2


@dataclass(frozen=True)
class Thresholds:
    max_slowdown: float = 0.05  # minimum effect on latency, throughput and cost (fraction)
    max_memory_growth: float = 0.10
    accuracy_tolerance_points: float = 0.5
    alpha: float = 0.01
    # "holm": alpha holds for the whole comparison (Holm-Bonferroni over every test with a p-value), so an
    # unchanged build fails a gate of many cells at most at rate alpha; "none": alpha per comparison
    correction: str = "holm"


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


# ---- snapshots: the comparable content of a run or a baseline file --------------------------------

def _pack_bits(bits) -> str:
    return base64.b64encode(np.packbits(np.asarray(bits, dtype=bool)).tobytes()).decode()


def _unpack_bits(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


def snapshot_from_run(run_dir: Path) -> dict:
    from bench.data import read_split
    from bench.record import load_run

    run = load_run(run_dir)
    labels = None
    test_path = Path(run_dir) / "data" / "test.jsonl"
    if test_path.is_file():
        labels = np.asarray(read_split(test_path).labels)
    cells = {}
    for c in run.cells:
        entry = {"variant": c.variant, "scenario": c.scenario, "batch_size": c.batch_size, "seq_len": c.seq_len,
                 "status": c.status, "reason": c.reason}
        if c.status == "ok" and c.scenario == "offline":
            entry.update(samples_ms=[round(x, 4) for x in c.latency["samples_ms"]],
                         reference_ms=[round(x, 4) for x in c.latency.get("reference_ms") or []],
                         process_sample_counts=c.latency.get("process_sample_counts"),
                         peak_rss_mib=(c.memory or {}).get("peak_rss_mib"),
                         price_usd_per_hour=(c.cost or {}).get("price_usd_per_hour"))
        elif c.status == "ok" and c.scenario == "accuracy":
            q = c.quality
            entry.update(accuracy=q["accuracy"], n_examples=q["n_examples"])
            if labels is not None and q.get("predictions") is not None and len(q["predictions"]) == len(labels):
                entry["correct_bits"] = _pack_bits(np.asarray(q["predictions"]) == labels)
        elif c.status == "ok" and c.scenario == "server":
            entry.update(max_qps=(c.server.get("best") or {}).get("max_qps"))
        cells[c.cell_id] = entry
    env = run.environment
    return {"kind": BASELINE_KIND, "schema_version": BASELINE_SCHEMA, "suite_name": run.suite_name,
            "gate": run.suite.get("gate") or {},
            "profile": run.profile["name"], "run_id": run.run_id, "source": str(run_dir),
            "test_sha256": run.data.get("test", {}).get("sha256"),
            "environment": {**{k: env.get(k) for k in ENV_KEYS},
                            "packages": {p: env.get("packages", {}).get(p) for p in ENV_PACKAGES},
                            "installed_packages": env.get("installed_packages")},
            "cells": cells}


def write_baseline(run_dir: Path, out: Path) -> Path:
    snap = snapshot_from_run(run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as f:
        json.dump(snap, f, separators=(",", ":"))
    tmp.replace(out)
    return out


def load_snapshot(path: Path) -> dict:
    """A run directory, or a baseline file written by `bench baseline` (.json.gz)."""
    path = Path(path)
    if path.is_dir():
        if not (path / "run.json").is_file():
            raise BenchError(f"{path}: not a run directory (no run.json)")
        return snapshot_from_run(path)
    if not path.is_file():
        raise BenchError(f"{path}: no such run directory or baseline file")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            snap = json.load(f)
    except (OSError, json.JSONDecodeError, EOFError) as e:
        raise BenchError(f"{path}: not a baseline file written by `bench baseline` ({e})") from None
    if snap.get("kind") != BASELINE_KIND or snap.get("schema_version") != BASELINE_SCHEMA:
        raise BenchError(f"{path}: not a bench baseline of schema {BASELINE_SCHEMA} "
                         f"(kind {snap.get('kind')!r}, schema {snap.get('schema_version')!r})")
    return snap


def environment_differences(a: dict, b: dict) -> list[str]:
    ea, eb = a["environment"], b["environment"]
    out = [f"{k}: {ea.get(k)!r} vs {eb.get(k)!r}" for k in ENV_KEYS if ea.get(k) != eb.get(k)]
    out += [f"{p}: {ea['packages'].get(p)} vs {eb['packages'].get(p)}" for p in ENV_PACKAGES
            if ea["packages"].get(p) != eb["packages"].get(p)]
    if a["profile"] != b["profile"]:
        out.append(f"profile: {a['profile']} vs {b['profile']}")
    return out


def environment_notes(a: dict, b: dict) -> list[str]:
    """Installed packages that differ beyond the key ones (which refuse the comparison): reported, not
    refused, since a rebuilt CI environment may pick up a new patch release of anything."""
    pa = a.get("environment", {}).get("installed_packages")
    pb = b.get("environment", {}).get("installed_packages")
    if not pa or not pb:
        return []
    key = {p.lower() for p in ENV_PACKAGES}
    only_a = [f"{n} {v}" for n, v in pa.items() if n not in pb and n not in key]
    only_b = [f"{n} {v}" for n, v in pb.items() if n not in pa and n not in key]
    changed = [f"{n} {pa[n]} vs {pb[n]}" for n in pa if n in pb and pa[n] != pb[n] and n not in key]
    out = []
    if only_a:
        out.append(f"installed only where the baseline ran: {', '.join(only_a)}")
    if only_b:
        out.append(f"installed only where the new run ran: {', '.join(only_b)}")
    if changed:
        out.append(f"other package versions differ: {', '.join(changed)}")
    return out


# ---- statistics -------------------------------------------------------------------------------

def verdict(worse_by: float, significant: bool, min_effect: float) -> str:
    """`worse_by`: relative change in the bad direction (+0.1 = 10% worse)."""
    if abs(worse_by) <= min_effect:
        return "same"
    if not significant:
        return "inconclusive"
    return "regressed" if worse_by > 0 else "improved"


def mann_whitney_p(a, b) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def bootstrap_ratio_ci(a, b, stat, alpha: float, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of stat(b*) / stat(a*) over independent resamples of a and b."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a), np.asarray(b)
    ra = stat(a[rng.integers(0, len(a), (resamples, len(a)))], axis=1)
    rb = stat(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    ratios = rb / ra
    return float(np.quantile(ratios, alpha / 2)), float(np.quantile(ratios, 1 - alpha / 2))


def mcnemar_p(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    from scipy.stats import binomtest

    lost = int(np.sum(correct_a & ~correct_b))
    gained = int(np.sum(~correct_a & correct_b))
    if lost + gained == 0:
        return 1.0
    return float(binomtest(min(lost, gained), lost + gained, 0.5).pvalue)


def _p99(x, axis=None):
    return np.percentile(x, 99, axis=axis)


def _drift_corrected(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray, bool]:
    """Latency / reference-workload time per sample when both runs timed the reference beside every
    sample (bench.timing.reference_workload), else the raw latencies."""
    ra, rb = a.get("reference_ms"), b.get("reference_ms")
    sa, sb = np.asarray(a["samples_ms"], dtype=float), np.asarray(b["samples_ms"], dtype=float)
    if ra and rb and len(ra) == len(sa) and len(rb) == len(sb):
        return sa / np.asarray(ra, dtype=float), sb / np.asarray(rb, dtype=float), True
    return sa, sb, False


MIN_PROCESSES = 3  # per run, for the test on per-process statistics
TRIM = 0.2  # share of per-process statistics trimmed from each end (Yuen's test); none below 5 processes


def _yuen_parts(x: np.ndarray, trim: float = TRIM) -> tuple[float, float, int]:
    """(trimmed mean, squared standard error of it, effective size h) of one sample, Yuen (1974): the
    standard error comes from the winsorized variance, (n - 1) s_w^2 / (h (h - 1)), h = n - 2g."""
    from scipy.stats import trim_mean
    from scipy.stats.mstats import winsorize

    n = x.size
    g = int(np.floor(trim * n))
    h = n - 2 * g
    w = np.asarray(winsorize(x, limits=(trim, trim)) if g else x, dtype=float)
    return float(trim_mean(x, trim)), float((n - 1) * w.var(ddof=1) / (h * (h - 1))), h


def yuen_log_test(a, b, alpha: float, power: float = 0.95) -> tuple[float, float, float]:
    """Compare per-process statistics `a` (baseline) and `b` (new), both positive, on their logs with
    Yuen's trimmed-means t-test (Welch's test on 20%-trimmed means with winsorized variances; plain
    Welch below 5 processes). Measured on the 2-core machine: most processes agree within 2-3%, and a few
    are 20-50% slow (in most of them the single-threaded reference workload beside them is not slower:
    a disturbed vCPU, it seems), so means and variances of all processes are dominated by those few;
    trimming them raised the detection of a 10% slowdown per comparison from 50% to 74% at 10 processes,
    with false alarms still at most 0.8% per test (benchmarks/gate_calibration.py).

    Returns (relative change new/baseline - 1 of the trimmed geometric means, one-sided p in the
    direction of that change, detectable): so a false `regressed` happens at rate alpha and a false
    `improved` at rate alpha. `detectable` is the slowdown the test finds with probability `power` at
    `alpha`, given the two samples' spread: exp((t_{1-alpha} + t_{power}) * se) - 1."""
    from scipy.stats import t as student_t

    ma, va, ha = _yuen_parts(np.log(np.asarray(a, dtype=float)))
    mb, vb, hb = _yuen_parts(np.log(np.asarray(b, dtype=float)))
    diff, se = mb - ma, float(np.sqrt(va + vb))
    if se == 0:
        return float(np.expm1(diff)), (0.0 if diff else 1.0), 0.0
    df = (va + vb) ** 2 / (va ** 2 / (ha - 1) + vb ** 2 / (hb - 1))
    p = float(student_t.sf(abs(diff) / se, df))
    detectable = float(np.expm1((student_t.ppf(1 - alpha, df) + student_t.ppf(power, df)) * se))
    return float(np.expm1(diff)), p, detectable


def _processes(entry: dict, x: np.ndarray) -> list[np.ndarray] | None:
    from bench.stats import split_by_process

    counts = entry.get("process_sample_counts")
    if not counts or len(counts) < MIN_PROCESSES or sum(counts) != len(x):
        return None
    return split_by_process(x, counts)


def _latency_tests(a: dict, b: dict, t: Thresholds, alpha_detect: float) -> dict[str, tuple[float, bool, float | None, str, float | None]]:
    """metric -> (relative change in the bad direction, significant, p, test name, detectable change),
    judged on per-process statistics when both runs measured the cell in at least MIN_PROCESSES
    processes (each process's samples share its memory layout, thread placement and clocks, so samples
    are not independent across processes), else on the pooled samples."""
    xa, xb, corrected = _drift_corrected(a, b)
    note = " on latency / reference workload (drift-corrected)" if corrected else ""
    pa, pb = _processes(a, xa), _processes(b, xb)
    if pa and pb:
        test = "Yuen trimmed t" if max(len(pa), len(pb)) * TRIM >= 1 else "Welch t"
        name = f"{test} on log per-process {{}}, one-sided ({len(pa)} vs {len(pb)} processes)" + note
        out = {}
        for metric, stat, label in (("p50_ms", np.median, "medians"), ("p99_ms", _p99, "p99s"),
                                    ("throughput_per_s", np.mean, "means")):
            per_a, per_b = [stat(x) for x in pa], [stat(x) for x in pb]
            change, p, _ = yuen_log_test(per_a, per_b, t.alpha)
            detectable = yuen_log_test(per_a, per_b, alpha_detect)[2]
            out[metric] = (change, p < t.alpha, p, name.format(label), detectable)
        return out
    p = mann_whitney_p(xa, xb)
    lo, hi = bootstrap_ratio_ci(xa, xb, _p99, t.alpha)
    return {"p50_ms": (float(np.median(xb) / np.median(xa)) - 1, p < t.alpha, p, "Mann-Whitney U" + note, None),
            "p99_ms": (float(_p99(xb) / _p99(xa)) - 1, not (lo <= 1.0 <= hi), None,
                       f"bootstrap ratio CI [{lo:.3f}, {hi:.3f}]" + note, None),
            # each sample costs (1 + slower) as much: throughput / (1 + slower)
            "throughput_per_s": (float(xb.mean() / xa.mean()) - 1, p < t.alpha, p, "Mann-Whitney U" + note, None)}


def compare_offline(cid: str, a: dict, b: dict, t: Thresholds, family_size: int = 1) -> list[MetricChange]:
    """Shown values are raw over all samples; verdicts (and `change`) come from _latency_tests.
    `detectable` is computed at alpha / family_size: what one changed cell needs to be seen after the
    multiple-comparison correction (Holm's first step)."""
    sa, sb = np.asarray(a["samples_ms"]), np.asarray(b["samples_ms"])
    tests = _latency_tests(a, b, t, alpha_detect=t.alpha / family_size)
    out = []
    for metric, shown_a, shown_b in (("p50_ms", np.median(sa), np.median(sb)), ("p99_ms", _p99(sa), _p99(sb))):
        change, sig, p, name, detectable = tests[metric]
        out.append(MetricChange(cid, metric, float(shown_a), float(shown_b), change, p, name,
                                verdict(change, sig, t.max_slowdown), detectable, worse_by=change))
    bs = a["batch_size"]
    tput_a, tput_b = bs / (sa.mean() / 1000), bs / (sb.mean() / 1000)
    slower, sig, p, name, detectable = tests["throughput_per_s"]
    out.append(MetricChange(cid, "throughput_per_s", tput_a, tput_b, 1 / (1 + slower) - 1, p, name,
                            verdict(slower, sig, t.max_slowdown), detectable, worse_by=slower))
    if a.get("price_usd_per_hour") and b.get("price_usd_per_hour"):
        ca = a["price_usd_per_hour"] / (tput_a * 3600) * 1e6
        cb = b["price_usd_per_hour"] / (tput_b * 3600) * 1e6
        dearer = (1 + slower) * b["price_usd_per_hour"] / a["price_usd_per_hour"] - 1
        out.append(MetricChange(cid, "usd_per_million", ca, cb, dearer, p, f"{name} (via throughput)",
                                verdict(dearer, sig, t.max_slowdown), worse_by=dearer))
    ma, mb = a.get("peak_rss_mib"), b.get("peak_rss_mib")
    if ma and mb:
        out.append(MetricChange(cid, "peak_rss_mib", ma, mb, mb / ma - 1, None, "threshold only (one value per run)",
                                verdict(mb / ma - 1, True, t.max_memory_growth)))
    return out


def compare_accuracy(cid: str, a: dict, b: dict, t: Thresholds) -> MetricChange:
    drop_points = (a["accuracy"] - b["accuracy"]) * 100
    if a.get("correct_bits") and b.get("correct_bits") and a["n_examples"] == b["n_examples"]:
        ca, cb = _unpack_bits(a["correct_bits"], a["n_examples"]), _unpack_bits(b["correct_bits"], b["n_examples"])
        p, test = mcnemar_p(ca, cb), "McNemar (exact)"
    else:
        p, test = None, "threshold only (no per-example predictions)"
    sig = True if p is None else p < t.alpha
    worse = drop_points / 100
    return MetricChange(cid, "accuracy", a["accuracy"], b["accuracy"], -drop_points, p, test,
                        verdict(worse, sig, t.accuracy_tolerance_points / 100), worse_by=worse)


def _min_effect(metric: str, t: Thresholds) -> float:
    return t.accuracy_tolerance_points / 100 if metric == "accuracy" else t.max_slowdown


def holm_adjusted(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values: sorted ascending, p_(i) * (m - i + 1), made monotone, capped
    at 1. Rejecting where adjusted p < alpha keeps the chance of any false rejection at most alpha."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [1.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def correct_for_multiplicity(changes: list[MetricChange], t: Thresholds) -> list[MetricChange]:
    """Holm over every comparison with a p-value (cost shares its throughput's test, so it follows
    that one's adjusted p). Verdicts are recomputed on the adjusted p; threshold-only metrics and the
    pooled p99 bootstrap (no p-value) are left as they are."""
    if t.correction == "none":
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
        out.append(replace(c, p_adjusted=p_adj, verdict=verdict(c.worse_by, p_adj < t.alpha, _min_effect(c.metric, t))))
    return out


def family_size(base: dict, new: dict) -> int:
    """How many tests compare_snapshots makes with a p-value: 3 per offline cell (p50, p99, throughput;
    the pooled p99 bootstrap has none, counted anyway: a bound), 1 per accuracy cell with predictions."""
    n = 0
    for cid, a in base["cells"].items():
        b = new["cells"].get(cid)
        if b is None or a["status"] != "ok" or b["status"] != "ok":
            continue
        n += 3 if a["scenario"] == "offline" else int(a["scenario"] == "accuracy" and bool(a.get("correct_bits")))
    return max(n, 1)


def compare_snapshots(base: dict, new: dict, t: Thresholds) -> tuple[list[MetricChange], list[str]]:
    """Changes per matching cell and metric, and the problems that make the comparison unusable."""
    problems = []
    if base["suite_name"] != new["suite_name"]:
        problems.append(f"different suites: {base['suite_name']} vs {new['suite_name']}")
    if base.get("test_sha256") and new.get("test_sha256") and base["test_sha256"] != new["test_sha256"]:
        problems.append("different test splits (sha256 differ): accuracy is not comparable")
    changes: list[MetricChange] = []
    family = family_size(base, new)
    for cid, a in base["cells"].items():
        b = new["cells"].get(cid)
        if b is None:
            problems.append(f"cell {cid} is in the baseline and missing from the new run")
            continue
        if a["status"] != "ok":
            continue
        if b["status"] != "ok":
            changes.append(MetricChange(cid, "status", None, None, None, None, "-",
                                        "regressed" if b["status"] == "failed" else "inconclusive"))
            continue
        if a["scenario"] == "offline":
            changes += compare_offline(cid, a, b, t, family if t.correction == "holm" else 1)
        elif a["scenario"] == "accuracy":
            changes.append(compare_accuracy(cid, a, b, t))
        elif a["scenario"] == "server" and a.get("max_qps") and b.get("max_qps") is not None:
            worse = a["max_qps"] / b["max_qps"] - 1 if b["max_qps"] else math.inf
            changes.append(MetricChange(cid, "server_max_qps", a["max_qps"], b["max_qps"], b["max_qps"] / a["max_qps"] - 1,
                                        None, "threshold only (one value per run)", verdict(worse, True, t.max_slowdown)))
    return correct_for_multiplicity(changes, t), problems


def exit_code(changes: list[MetricChange], problems: list[str]) -> int:
    if problems:
        return EXIT_UNUSABLE
    return EXIT_REGRESSION if any(c.verdict == "regressed" for c in changes) else EXIT_NO_REGRESSION


# ---- output -----------------------------------------------------------------------------------

ICON = {"regressed": "❌ regressed", "improved": "✅ improved", "same": "same", "inconclusive": "⚠️ inconclusive"}


def _fmt(metric: str, v) -> str:
    if v is None:
        return "-"
    if metric == "accuracy":
        return f"{v:.4f}"
    if metric == "usd_per_million":
        return f"{v:.4f}"
    return f"{v:,.2f}"


def _change(c: MetricChange) -> str:
    if c.change is None:
        return "-"
    return f"{c.change:+.2f} pts" if c.metric == "accuracy" else f"{c.change:+.1%}"


def _p(c: MetricChange) -> str:
    """The test's p, and after the arrow the Holm-adjusted p that the verdict used."""
    if c.p_value is None:
        return "-"
    return f"{c.p_value:.2g}" + ("" if c.p_adjusted is None else f" → {c.p_adjusted:.2g}")


def _detectable(c: MetricChange) -> str:
    return "-" if c.detectable is None else f"≥ {c.detectable:.0%}"


def markdown(base: dict, new: dict, changes: list[MetricChange], problems: list[str], diffs: list[str],
             t: Thresholds) -> str:
    counts = {v: sum(c.verdict == v for c in changes) for v in ("regressed", "improved", "inconclusive", "same")}
    head = "❌ **regression**" if counts["regressed"] else ("⛔ **unusable comparison**" if problems else "✅ **no regression**")
    lines = [f"## bench compare: {new['suite_name']} on {new['profile']}", "",
             f"{head}: {counts['regressed']} regressed, {counts['improved']} improved, "
             f"{counts['inconclusive']} inconclusive, {counts['same']} same.", "",
             f"Baseline `{base['run_id']}` vs new `{new['run_id']}`. A change counts when significant at "
             f"alpha {t.alpha:g} "
             + ("over the whole comparison (Holm-Bonferroni: p → adjusted p) " if t.correction == "holm" else "per test ")
             + "and larger than {t.max_slowdown:.0%} (latency, throughput, cost), "
             f"{t.max_memory_growth:.0%} (memory) or {t.accuracy_tolerance_points:g} points (accuracy).", ""]
    if problems:
        lines += ["**Problems:**", ""] + [f"- {p}" for p in problems] + [""]
    if diffs:
        lines += ["**Environments differ:**", ""] + [f"- {d}" for d in diffs] + [""]
    notes = environment_notes(base, new)
    if notes:
        lines += ["**Environment notes** (not refused; they can move memory and speed: make the baseline "
                  "where the gate runs):", ""] + [f"- {n}" for n in notes] + [""]
    interesting = [c for c in changes if c.verdict != "same"]
    lines += ["| cell | metric | baseline | new | change | p | detects (95%) | test | verdict |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in interesting + [c for c in changes if c.verdict == "same"]:
        lines.append(f"| `{c.cell_id}` | {c.metric} | {_fmt(c.metric, c.baseline)} | {_fmt(c.metric, c.new)} | "
                     f"{_change(c)} | {_p(c)} | {_detectable(c)} | {c.test} | {ICON[c.verdict]} |")
    if any(c.detectable is not None for c in changes):
        lines += ["", "Baseline and new are over all samples; where the test is per process, change and p come "
                  "from the per-process statistics (trimmed, and drift-corrected where named), so one disturbed "
                  "process can move a shown p99 without moving the verdict."]
    blind = [c for c in changes if c.detectable is not None and c.detectable > t.max_slowdown * 2]
    if blind:
        lines += ["", f"{len(blind)} comparison(s) could not reliably see a change of twice the minimum effect "
                  f"({2 * t.max_slowdown:.0%}) with their processes' spread; measure those cells in more processes "
                  "(`measure.processes`) or on a quieter machine."]
    return "\n".join(lines) + "\n"
