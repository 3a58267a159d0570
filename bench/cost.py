"""Throughput and dollar arithmetic, shared by the measuring and the reading wing: each formula lives here
once, and every other module calls it."""

from __future__ import annotations

import math

SECONDS_PER_HOUR = 3600.0
NO_PRICE = "no price"  # what a dollar figure says where the profile has no price (`local` without one)


def throughput_samples_per_s(batch_size: int, mean_latency_ms: float) -> float:
    """Samples per second of back-to-back batches of `batch_size` taking `mean_latency_ms` each.

    The mean, not the median: over a long run, the time spent is the sum of the latencies.
    Raises ValueError when `mean_latency_ms` is not positive.
    """
    # samples/s = batch_size / mean latency in s
    if mean_latency_ms <= 0:
        raise ValueError(f"mean_latency_ms must be > 0, got {mean_latency_ms!r}")
    return batch_size / (mean_latency_ms / 1000.0)


def usd_per_million(price_usd_per_hour: float, throughput_samples_per_s: float) -> float:
    """USD per million samples at `throughput_samples_per_s` on a machine billed `price_usd_per_hour`;
    inf where the throughput is not positive."""
    # $/1M = price/h / (samples/s * 3600) * 1e6
    if throughput_samples_per_s <= 0:
        return math.inf
    return price_usd_per_hour / (throughput_samples_per_s * SECONDS_PER_HOUR) * 1e6


def usd_for_duration(price_usd_per_hour: float, wall_s: float) -> float:
    """USD for `wall_s` seconds of a machine billed `price_usd_per_hour`."""
    # $ = price/h * hours
    return price_usd_per_hour * wall_s / SECONDS_PER_HOUR


def usd_per_million_text(usd: float | None) -> str:
    """"$0.123/1M", or "no price" where the run's profile has none."""
    return NO_PRICE if usd is None else f"${usd:.3f}/1M"
