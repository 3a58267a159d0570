"""The statistics of `bench compare`, pure functions of numbers (numpy and scipy only, no bench state):
Mann-Whitney U, a bootstrap interval of a ratio, McNemar's exact test, Yuen's trimmed-means t-test on
logs, and Holm-Bonferroni adjustment. Which test judges which metric is bench.compare.judge's business.
"""

from __future__ import annotations

import numpy as np

TRIM = 0.2  # share of per-process statistics trimmed from each end (Yuen's test); none below 5 processes


def p99(x, axis=None):
    """99th percentile (numpy's linear interpolation), along `axis` (None: the whole array)."""
    return np.percentile(x, 99, axis=axis)


def mann_whitney_p(a, b) -> float:
    """Two-sided p of the Mann-Whitney U test of samples `a` and `b` (scipy, asymptotic with ties)."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def bootstrap_ratio_ci(a, b, stat, alpha: float, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile interval (1 - alpha) of stat(b*) / stat(a*) over independent resamples of a and b.
    `stat(x, axis=1)` reduces a (resamples, n) array to (resamples,)."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a), np.asarray(b)
    ra = stat(a[rng.integers(0, len(a), (resamples, len(a)))], axis=1)
    rb = stat(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    ratios = rb / ra
    return float(np.quantile(ratios, alpha / 2)), float(np.quantile(ratios, 1 - alpha / 2))


def mcnemar_p(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Exact McNemar test: two-sided binomial p of the discordant pairs (examples right in one run only),
    1.0 when there are none. `correct_a`, `correct_b`: boolean arrays of one length."""
    from scipy.stats import binomtest

    lost = int(np.sum(correct_a & ~correct_b))
    gained = int(np.sum(~correct_a & correct_b))
    if lost + gained == 0:
        return 1.0
    return float(binomtest(min(lost, gained), lost + gained, 0.5).pvalue)


def yuen_parts(x: np.ndarray, trim: float = TRIM) -> tuple[float, float, int]:
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

    ma, va, ha = yuen_parts(np.log(np.asarray(a, dtype=float)))
    mb, vb, hb = yuen_parts(np.log(np.asarray(b, dtype=float)))
    diff, se = mb - ma, float(np.sqrt(va + vb))
    if se == 0:
        return float(np.expm1(diff)), (0.0 if diff else 1.0), 0.0
    df = (va + vb) ** 2 / (va ** 2 / (ha - 1) + vb ** 2 / (hb - 1))
    p = float(student_t.sf(abs(diff) / se, df))
    detectable = float(np.expm1((student_t.ppf(1 - alpha, df) + student_t.ppf(power, df)) * se))
    return float(np.expm1(diff)), p, detectable


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


def wilcoxon_p(a, b) -> float:
    """Two-sided p of the Wilcoxon signed-rank test of paired samples `a` and `b` (scipy; zero
    differences dropped, Pratt's rule off); 1.0 where every pair is equal."""
    from scipy.stats import wilcoxon

    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if not np.any(d):
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox").pvalue)


def paired_bootstrap_p(statistic, a, b, y, resamples: int = 2000, seed: int = 0) -> float:
    """Two-sided p that statistic(b, y) - statistic(a, y) is 0, from a paired bootstrap over examples (one
    set of resampled indices for both runs): z = observed difference / bootstrap standard error, normal
    approximation (Efron & Tibshirani 1993, ch. 16), so that p is not limited to 1/resamples. Resamples
    where the statistic is undefined (NaN: no positive drawn) are left out. 1.0 where the difference is
    0 in every resample."""
    from scipy.stats import norm

    a, b, y = np.asarray(a), np.asarray(b), np.asarray(y)
    observed = statistic(b, y) - statistic(a, y)
    rng = np.random.default_rng(seed)
    diffs = np.array([statistic(b[i], y[i]) - statistic(a[i], y[i]) for i in rng.integers(0, len(y), (resamples, len(y)))])
    se = float(np.nanstd(diffs, ddof=1))
    if se == 0 or not np.isfinite(se):
        return 1.0 if observed == 0 else 0.0
    return float(2 * norm.sf(abs(observed) / se))
