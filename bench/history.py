"""Trends across stored runs, and change points found by E-divisive means (Matteson & James 2014, the
method of MongoDB's and Apache Otava's performance CI): binary segmentation on the energy statistic,
each split kept only if a permutation test finds it significant. One value per run and metric: the
median latency of a cell, its throughput, the variant's primary quality metric (accuracy, RMSE, PR-AUC...), the server scenario's max QPS.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SPARK = "▁▂▃▄▅▆▇█"


def energy_statistic(x: np.ndarray, tau: int) -> float:
    """Q(tau): the scaled energy distance between x[:tau] and x[tau:] (alpha = 1)."""
    a, b = x[:tau], x[tau:]
    m, n = len(a), len(b)
    between = np.abs(a[:, None] - b[None, :]).mean()
    within_a = np.abs(a[:, None] - a[None, :]).sum() / (m * (m - 1)) if m > 1 else 0.0
    within_b = np.abs(b[:, None] - b[None, :]).sum() / (n * (n - 1)) if n > 1 else 0.0
    return m * n / (m + n) * (2 * between - within_a - within_b)


def best_split(x: np.ndarray, min_size: int) -> tuple[int | None, float]:
    best_tau, best_q = None, -np.inf
    for tau in range(min_size, len(x) - min_size + 1):
        q = energy_statistic(x, tau)
        if q > best_q:
            best_tau, best_q = tau, q
    return best_tau, best_q


def change_points(values, *, min_size: int = 2, alpha: float = 0.05, permutations: int = 199,
                  seed: int = 0) -> list[int]:
    """Indices i where a new regime starts at values[i] (E-divisive with a permutation test)."""
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    found: list[int] = []

    def segment(lo: int, hi: int) -> None:
        part = x[lo:hi]
        if len(part) < 2 * min_size:
            return
        tau, q = best_split(part, min_size)
        if tau is None:
            return
        exceed = sum(best_split(rng.permutation(part), min_size)[1] >= q for _ in range(permutations))
        if (exceed + 1) / (permutations + 1) >= alpha:
            return
        found.append(lo + tau)
        segment(lo, lo + tau)
        segment(lo + tau, hi)

    segment(0, len(x))
    return sorted(found)


def sparkline(values) -> str:
    x = np.asarray(values, dtype=float)
    lo, hi = np.nanmin(x), np.nanmax(x)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return SPARK[3] * len(x)
    return "".join(SPARK[round((v - lo) / (hi - lo) * (len(SPARK) - 1))] for v in x)


def load_series(suite_dir: Path, profile: str | None) -> tuple[dict[tuple[str, str], dict[str, float]], list[str]]:
    """{(cell, metric): {run_id: value}} over the finished runs under suite_dir, oldest first."""
    from bench.record import load_run
    from bench.report.quality import primary_metric, quality_by_variant, value

    runs = []
    for path in sorted(Path(suite_dir).glob("*/run.json")):
        try:
            run = load_run(path.parent)
        except Exception:  # a run from an older schema or a broken file is skipped, not fatal
            continue
        if run.status == "finished" and (profile is None or run.profile["name"] == profile):
            runs.append(run)
    runs.sort(key=lambda r: r.started_at or "")
    series: dict[tuple[str, str], dict[str, float]] = {}
    for run in runs:
        metric = primary_metric(run).name
        for variant, q in quality_by_variant(run).items():
            series.setdefault((f"{variant}/{metric}", metric), {})[run.run_id] = value(q, metric)
        for c in run.cells:
            if c.status != "ok":
                continue
            if c.scenario == "offline":
                series.setdefault((c.cell_id, "p50_ms"), {})[run.run_id] = float(np.median(c.latency["samples_ms"]))
                series.setdefault((c.cell_id, "throughput_per_s"), {})[run.run_id] = c.throughput_samples_per_s
            elif c.scenario == "server" and (c.server.get("best") or {}).get("max_qps"):
                series.setdefault((c.cell_id, "server_max_qps"), {})[run.run_id] = c.server["best"]["max_qps"]
    return series, [r.run_id for r in runs]


def summarize_series(series: dict, runs: list[str]) -> list[dict]:
    rows = []
    for (cell, metric), by_run in sorted(series.items()):
        ids = [r for r in runs if r in by_run]
        values = [by_run[r] for r in ids]
        if len(values) < 2:
            continue
        cps = change_points(values)
        text = "; ".join(f"at {ids[i]}: {np.mean(values[max(0, prev):i]):.4g} -> {np.mean(values[i:nxt]):.4g}"
                         for prev, i, nxt in zip([0, *cps[:-1]], cps, [*cps[1:], len(values)], strict=True)) if cps else ""
        rows.append({"cell": cell, "metric": metric, "n": len(values), "first": values[0], "last": values[-1],
                     "sparkline": sparkline(values), "change_points": [ids[i] for i in cps], "change_text": text or "-"})
    return rows


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=1)
