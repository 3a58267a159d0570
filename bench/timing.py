"""All timing in bench happens here. Variants and runtimes never time themselves.

On CPU the clock is `time.perf_counter_ns`; a device runtime passes its `synchronize` so the clock
reads after the work has finished, not after the launch. The clock is injectable so the stop rule is
tested exactly with a fake one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class StopRule:
    """Discard `warmup_iterations` (fewer if they take `max_warmup_s`), then time until both minimums are
    met, or `max_duration_s` passes."""

    warmup_iterations: int
    min_iterations: int
    min_duration_s: float
    max_duration_s: float
    max_warmup_s: float = float("inf")

    def satisfied(self, iterations: int, elapsed_s: float) -> bool:
        return iterations >= self.min_iterations and elapsed_s >= self.min_duration_s

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LatencySamples:
    samples_ns: tuple[int, ...]
    warmup_ns: tuple[int, ...]
    stopped_by: str  # "rule" (both minimums met) or "max_duration" (fewer samples than asked)

    @property
    def samples_ms(self) -> list[float]:
        return [s / 1e6 for s in self.samples_ns]

    @property
    def warmup_ms(self) -> list[float]:
        return [s / 1e6 for s in self.warmup_ns]


def time_calls(call: Callable[[int], object], rule: StopRule, *,
               clock: Callable[[], int] = time.perf_counter_ns,
               synchronize: Callable[[], None] = lambda: None) -> LatencySamples:
    """Time `call(i)` for i = 0, 1, ...; the caller prepares inputs beforehand, outside this region."""
    warmup: list[int] = []
    for i in range(rule.warmup_iterations):
        t0 = clock()
        call(i)
        synchronize()
        warmup.append(clock() - t0)
        if sum(warmup) / 1e9 >= rule.max_warmup_s:
            break
    samples: list[int] = []
    start = clock()
    i = len(warmup)
    while True:
        t0 = clock()
        call(i)
        synchronize()
        t1 = clock()
        samples.append(t1 - t0)
        i += 1
        elapsed_s = (t1 - start) / 1e9
        if rule.satisfied(len(samples), elapsed_s):
            return LatencySamples(tuple(samples), tuple(warmup), "rule")
        if elapsed_s >= rule.max_duration_s:
            return LatencySamples(tuple(samples), tuple(warmup), "max_duration")


def wall_clock_s() -> float:
    """Seconds for wall-time bookkeeping (build and cell durations), not for latency."""
    return time.perf_counter()
