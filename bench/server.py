"""The server scenario (MLPerf's Server): Poisson arrivals at a target QPS, one dynamically batching
server, and the highest QPS whose p99 latency stays within the SLO, found by bisection.

A p99 is claimed only where the run has seen enough requests to bound it. bench uses the order-statistic
bound that MLPerf's early stopping is built on: with n latencies sorted, the k-th smallest is an upper
bound of the true p99 at 99% confidence when P(Binomial(n, 0.99) <= k - 1) >= 0.99. Fewer than 459
requests bound nothing (the maximum itself is not enough), so a probe needs at least that many; a probe
passes only when that upper bound is within the SLO, not merely its sample p99. The same bound stops a
probe early once so many requests are late that it can no longer pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from bench.config import P99_CONFIDENCE, P99_MIN_REQUESTS, P99_QUANTILE

# defined (with MIN_QUERIES' derivation) in bench.config, which also checks server.min_queries against it
QUANTILE, CONFIDENCE, MIN_QUERIES = P99_QUANTILE, P99_CONFIDENCE, P99_MIN_REQUESTS
P99_RULE = ("pass when the 99%-confidence upper bound of the p99 (binomial order statistic, as in MLPerf's "
            "early stopping) is within the SLO")


def poisson_arrivals_s(rate_qps: float, n: int, seed: int) -> np.ndarray:
    """Arrival times (s from start) of a Poisson process: exponential inter-arrival times of mean 1/rate."""
    if rate_qps <= 0:
        raise ValueError("rate_qps must be > 0")
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate_qps, size=n))


def upper_bound_rank(n: int, quantile: float = QUANTILE, confidence: float = CONFIDENCE) -> int | None:
    """The 1-based rank k of the order statistic that bounds the `quantile` from above at `confidence`,
    or None when n is too small for any."""
    from scipy.stats import binom

    k = int(binom.ppf(confidence, n, quantile)) + 1  # smallest k with P(Bin(n, q) <= k - 1) >= confidence
    while k > 1 and binom.cdf(k - 2, n, quantile) >= confidence:  # guard the ppf's float edge
        k -= 1
    return k if k <= n else None


def p99_upper_ms(latencies_ms, quantile: float = QUANTILE, confidence: float = CONFIDENCE) -> float | None:
    n = len(latencies_ms)
    k = upper_bound_rank(n, quantile, confidence) if n else None
    return None if k is None else float(np.sort(np.asarray(latencies_ms))[k - 1])


def max_late_allowed(n: int) -> int:
    """How many of n requests may exceed the SLO while the p99 bound can still be within it."""
    k = upper_bound_rank(n)
    return -1 if k is None else n - k


@dataclass(frozen=True)
class Probe:
    offered_qps: float
    queries: int
    completed: int
    achieved_qps: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    p99_upper_ms: float | None
    max_ms: float | None
    mean_batch_size: float | None
    passed: bool
    stopped_early: bool

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_probe(offered_qps: float, latencies_ms, batch_sizes, queries: int, duration_s: float,
                    slo_ms: float, stopped_early: bool) -> Probe:
    lat = np.asarray(latencies_ms, dtype=float)
    q = (lambda p: float(np.percentile(lat, p))) if len(lat) else (lambda p: None)
    bound = p99_upper_ms(lat) if not stopped_early and len(lat) == queries else None
    return Probe(offered_qps=offered_qps, queries=queries, completed=len(lat),
                 achieved_qps=len(lat) / duration_s if duration_s > 0 else 0.0,
                 p50_ms=q(50), p90_ms=q(90), p99_ms=q(99), p99_upper_ms=bound,
                 max_ms=float(lat.max()) if len(lat) else None,
                 mean_batch_size=float(np.mean(batch_sizes)) if len(batch_sizes) else None,
                 passed=bound is not None and bound <= slo_ms, stopped_early=stopped_early)


def find_peak_qps(probe: Callable[[float], Probe], upper_qps: float, *, relative_tolerance: float,
                  max_probes: int, to_beat_qps: float | None = None) -> tuple[Probe | None, list[Probe]]:
    """Bisect (0, upper_qps] for the highest offered QPS that passes, as MLPerf's FindPeakPerformance
    does once it has bracketed the peak. `upper_qps` must not pass (e.g. a little above the server's
    saturated throughput). Stops when the bracket is within `relative_tolerance` of its top. With
    `to_beat_qps` (the best of another batching setting), it first probes just above that and gives up
    at once if that fails: this setting cannot be the best, and its lower loads are not needed."""
    lo, hi = 0.0, upper_qps
    best: Probe | None = None
    probes: list[Probe] = []
    if to_beat_qps is not None:
        start = to_beat_qps * (1 + relative_tolerance)
        if start >= upper_qps:
            return None, probes
        p = probe(start)
        probes.append(p)
        if not p.passed:
            return None, probes
        lo, best = start, p
    while len(probes) < max_probes and (hi - lo) > relative_tolerance * hi:
        mid = (lo + hi) / 2
        p = probe(mid)
        probes.append(p)
        if p.passed:
            lo, best = mid, p
        else:
            hi = mid
        if best is None and hi < upper_qps * relative_tolerance:
            break  # fails even at a small fraction of capacity: the SLO cannot be met at any useful load
    return best, probes


def queries_for(rate_qps: float, min_queries: int, min_duration_s: float) -> int:
    return max(min_queries, math.ceil(rate_qps * min_duration_s))



def capacity_summary(repetitions_qps: list[float | None]) -> dict:
    """A cell's capacity from independent peak searches (one per fresh process): each repetition's highest
    passing QPS (None: no load passed), the conservative figure (the lowest; None where any repetition
    found no passing load) and the typical one (the median of those that passed).

    Why the lowest: the peak moves by 20-40% between processes on a shared machine (issue #20: int8 643.9
    then 436.8 QPS minutes apart), and a plan sized on a figure the next process may not reach under-
    provisions. With n repetitions, the chance that a new process falls below the lowest of them is
    1 / (n + 1) if the repetitions are exchangeable (order statistics), 25% at n = 3: the conservative
    figure is a floor seen, not a guarantee; more repetitions lower that chance."""
    n = len(repetitions_qps)
    passed = [q for q in repetitions_qps if q is not None]
    return {"repetitions_qps": list(repetitions_qps),
            "conservative_qps": min(passed) if passed and len(passed) == n else None,
            "typical_qps": float(np.median(passed)) if passed else None,
            "conservative_rule": f"lowest of {n} repetition{'s' if n != 1 else ''}",
            "typical_rule": f"median of {n} repetition{'s' if n != 1 else ''}" if len(passed) == n else
                            f"median of the {len(passed)} of {n} repetitions that found a passing load",
            "repetitions": n}


def capacity_of(server: dict) -> dict:
    """A server record's capacity (capacity_summary's dict): as stored, or, for a record from before
    repetitions (one process, no `capacity`), derived from its single best (repetitions 1)."""
    if server.get("capacity"):
        return server["capacity"]
    return capacity_summary([(server.get("best") or {}).get("max_qps")])


def repetition_sweeps(server: dict) -> list[dict]:
    """Each repetition's sweep ({"settings": [...], "best": ...}); a record from before repetitions is one."""
    return list(server.get("repetitions") or [server])
