"""All timing in bench happens here. Variants and runtimes never time themselves.

On CPU the clock is `time.perf_counter_ns`; a device runtime passes its `synchronize` so the clock
reads after the work has finished, not after the launch. On CUDA a runtime that runs on a stream bench
can see (PyTorch, TensorRT) also passes a `DeviceClock`: CUDA events recorded around the same call, so
every sample has both figures, side by side (host clock after a synchronize, and device time). The
clocks are injectable so the stop rule is tested exactly with fake ones.
"""

from __future__ import annotations

import bisect
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
    min_warmup_s: float = 0.0

    def satisfied(self, iterations: int, elapsed_s: float) -> bool:
        return iterations >= self.min_iterations and elapsed_s >= self.min_duration_s

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LatencySamples:
    samples_ns: tuple[int, ...]
    warmup_ns: tuple[int, ...]
    stopped_by: str  # "rule" (both minimums met) or "max_duration" (fewer samples than asked)
    reference_ns: tuple[int, ...] = ()  # the reference workload, timed just before each sample
    device_ns: tuple[int, ...] = ()  # CUDA-event time of each sample, where a device clock was given

    @property
    def reference_ms(self) -> list[float]:
        return [s / 1e6 for s in self.reference_ns]

    @property
    def samples_ms(self) -> list[float]:
        return [s / 1e6 for s in self.samples_ns]

    @property
    def warmup_ms(self) -> list[float]:
        return [s / 1e6 for s in self.warmup_ns]

    @property
    def device_ms(self) -> list[float]:
        return [s / 1e6 for s in self.device_ns]


class DeviceClock:
    """Device time of the work queued between `start()` and `stop()` on a CUDA stream, from a pair of
    CUDA events (torch.cuda.Event with enable_timing). `elapsed_ns()` blocks until the end event has
    completed; it is read after the host clock, so it never delays the host figure."""

    name = "CUDA events (torch.cuda.Event, enable_timing=True)"

    def __init__(self, torch, stream=None):
        self._stream = stream
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._start.record(self._stream)

    def stop(self) -> None:
        self._end.record(self._stream)

    def elapsed_ns(self) -> int:
        self._end.synchronize()
        return int(self._start.elapsed_time(self._end) * 1e6)  # elapsed_time is in ms, 0.5 us resolution


def time_calls(call: Callable[[int], object], rule: StopRule, *,
               clock: Callable[[], int] = time.perf_counter_ns,
               synchronize: Callable[[], None] = lambda: None,
               reference: Callable[[], object] | None = None,
               device_clock: DeviceClock | None = None) -> LatencySamples:
    """Time `call(i)` for i = 0, 1, ...; the caller prepares inputs beforehand, outside this region.

    With `reference`, a fixed workload is timed (outside the sample) just before every sample, so that
    each sample has a measure of how fast the machine was at that moment (see reference_workload).
    With `device_clock`, CUDA events bracket the same call and give each sample its device time too.
    Warm-up runs `warmup_iterations` calls and at least `min_warmup_s` (GPU clocks ramp up under load),
    and stops early at `max_warmup_s`."""
    warmup: list[int] = []
    warm_start = clock()
    i = 0
    while i < rule.warmup_iterations or (clock() - warm_start) / 1e9 < rule.min_warmup_s:
        t0 = clock()
        call(i)
        synchronize()
        warmup.append(clock() - t0)
        i += 1
        if (clock() - warm_start) / 1e9 >= rule.max_warmup_s:
            break
    samples: list[int] = []
    ref: list[int] = []
    dev: list[int] = []
    start = clock()
    while True:
        if reference is not None:
            r0 = clock()
            reference()
            ref.append(clock() - r0)
        t0 = clock()
        if device_clock is not None:
            device_clock.start()
        call(i)
        if device_clock is not None:
            device_clock.stop()
        synchronize()
        t1 = clock()
        samples.append(t1 - t0)
        if device_clock is not None:
            dev.append(device_clock.elapsed_ns())
        i += 1
        elapsed_s = (t1 - start) / 1e9
        stopped = "rule" if rule.satisfied(len(samples), elapsed_s) else (
            "max_duration" if elapsed_s >= rule.max_duration_s else None)
        if stopped:
            return LatencySamples(tuple(samples), tuple(warmup), stopped, tuple(ref), tuple(dev))


REFERENCE_WORKLOAD = "numpy float32 tanh over 600,000 elements (one thread)"


def reference_workload() -> Callable[[], object]:
    """A fixed CPU workload of about two milliseconds, timed beside every latency sample. On a shared
    machine whose speed drifts (steal time, neighbours, clocks), sample / reference cancels much of the
    drift: `bench compare` judges latency on that ratio when both runs have it, the way Chromium's perf
    bots run a reference build beside the build under test. One thread on purpose: a threaded BLAS
    call leaves its threads spinning and measured here doubled ONNX Runtime's batch-1 latency."""
    import numpy as np

    x = np.random.default_rng(0).standard_normal(600_000).astype(np.float32)
    out = np.empty_like(x)

    def run():
        return np.tanh(x, out=out)
    return run


def wall_clock_s() -> float:
    """Seconds for wall-time bookkeeping (build and cell durations), not for latency."""
    return time.perf_counter()


@dataclass(frozen=True)
class BatchingPolicy:
    """A dynamic batcher: run what is queued once `max_batch_size` requests wait, or once the oldest has
    waited `max_queue_delay_ms`, whichever comes first (Triton's and TorchServe's rule)."""

    max_batch_size: int
    max_queue_delay_ms: float


@dataclass(frozen=True)
class ServedRequests:
    latencies_ns: tuple[int, ...]  # arrival to result, per completed request, in arrival order
    batch_sizes: tuple[int, ...]  # the size of every batch run
    completed: int
    offered: int
    duration_s: float  # from the first scheduled arrival to the last result
    stopped_early: bool  # ended once more requests were late than the caller allows


def serve_open_loop(run_batch: Callable[[int, int], object], arrivals_s, policy: BatchingPolicy, *,
                    late_after_ns: int | None = None, max_late: int | None = None,
                    clock: Callable[[], int] = time.perf_counter_ns, sleep: Callable[[float], None] = time.sleep,
                    synchronize: Callable[[], None] = lambda: None) -> ServedRequests:
    """Replay a schedule of arrivals (seconds from start) against one server that batches dynamically.

    Open loop: a request arrives at its scheduled time whether or not the server has kept up, and its
    latency runs from that time to its result, queueing included (no coordinated omission). The load
    generator is the schedule itself, so it costs no thread and no core. `run_batch(first, count)` runs
    requests first .. first+count-1 (FIFO). With `late_after_ns` and `max_late`, serving stops once more
    than `max_late` requests are certainly late (finished, or still waiting, past `late_after_ns`).
    """
    arrivals = [int(a * 1e9) for a in arrivals_s]
    n = len(arrivals)
    delay_ns = int(policy.max_queue_delay_ms * 1e6)
    done_ns: list[int] = []
    batches: list[int] = []
    late = 0
    t0 = clock()
    served = 0
    while served < n:
        now = clock() - t0
        if arrivals[served] > now:
            sleep((arrivals[served] - now) / 1e9)
            continue
        queued = served
        while queued < n and queued - served < policy.max_batch_size and arrivals[queued] <= now:
            queued += 1
        count = queued - served
        if count < policy.max_batch_size and queued < n:  # more may come: wait, up to the oldest's deadline
            wake = min(arrivals[served] + delay_ns, arrivals[queued])
            if wake > now:
                sleep((wake - now) / 1e9)
                continue
        run_batch(served, count)
        synchronize()
        end = clock() - t0
        done_ns.extend([end] * count)
        batches.append(count)
        if late_after_ns is not None and max_late is not None:
            late += sum(end - arrivals[k] > late_after_ns for k in range(served, served + count))
            waiting_late = max(0, bisect.bisect_left(arrivals, end - late_after_ns) - (served + count))
            if late + waiting_late > max_late:
                served += count
                return ServedRequests(tuple(d - a for d, a in zip(done_ns, arrivals[:len(done_ns)], strict=True)), tuple(batches), served, n,
                                      end / 1e9, True)
        served += count
    return ServedRequests(tuple(d - a for d, a in zip(done_ns, arrivals[:len(done_ns)], strict=True)), tuple(batches), n, n,
                          (done_ns[-1] if done_ns else 0) / 1e9, False)
