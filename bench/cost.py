"""Dollar arithmetic, shared by the measuring and the reading wing."""

from __future__ import annotations

import math


def usd_per_million(price_usd_per_hour: float, throughput_samples_per_s: float) -> float:
    # $/1M = price/h / (samples/s * 3600) * 1e6
    if throughput_samples_per_s <= 0:
        return math.inf
    return price_usd_per_hour / (throughput_samples_per_s * 3600.0) * 1e6


def usd_for_duration(price_usd_per_hour: float, wall_s: float) -> float:
    # $ = price/h * hours
    return price_usd_per_hour * wall_s / 3600.0
