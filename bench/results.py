"""What one worker process measured (`ProcessResult`), and the pooled view of a cell's processes.

A cell keeps its processes as a list, as pyperf keeps the Runs of a benchmark; the pooled latency
(samples concatenated in process order, summaries recomputed, per-process counts) is derived from them,
never stored as the only copy. `split_pooled_latency` goes the other way, for schema-1 records that
stored only the pooled view. Light: numpy and scipy are imported inside functions (through stats).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# latency lists aligned sample for sample, cut by process_sample_counts (warm-up has its own counts)
ALIGNED_LISTS = ("samples_ms", "reference_ms", "device_ms")
SAMPLE_LISTS = ("samples_ms", "warmup_ms", "reference_ms", "device_ms")
_TUPLE_FIELDS = frozenset(SAMPLE_LISTS)


@dataclass(frozen=True)
class ProcessResult:
    """One worker's measurement of a cell. Latency lists are ms per batch (offline) or per request
    (server); a field that does not apply is None and is left out of the stored dict."""

    unit: str | None = None
    samples_ms: tuple[float, ...] | None = None
    warmup_ms: tuple[float, ...] | None = None
    stopped_by: str | None = None  # "rule" | "max_duration": set where a stop rule timed the samples
    reference_ms: tuple[float, ...] | None = None  # the reference workload, timed before each sample
    reference_workload: str | None = None
    clock: str | None = None  # CUDA: what the host clock includes
    device_ms: tuple[float, ...] | None = None  # CUDA-event time of each sample
    device_clock: str | None = None
    end_to_end: dict | None = None  # CUDA: includes, samples_ms, warmup_ms, stopped_by (copies included)
    throughput_samples_per_s: float | None = None  # server: the highest passing QPS
    memory: dict | None = None
    energy: dict | None = None
    isolation: dict | None = None
    runtime_info: dict | None = None
    quality: dict | None = None  # accuracy scenario (kept on the cell, not per process)
    server: dict | None = None  # server scenario (kept on the cell, not per process)

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = list(value) if f.name in _TUPLE_FIELDS else value
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ProcessResult:
        """Raises ValueError naming unknown fields."""
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown process fields {sorted(unknown)}")
        return cls(**{k: tuple(v) if k in _TUPLE_FIELDS and v is not None else v for k, v in d.items()})

    def latency_view(self) -> dict | None:
        """This process's latency as records of schema 1 held it (summaries recomputed)."""
        from bench.stats import summarize_ms

        if self.samples_ms is None:
            return None
        keys = ("unit", "samples_ms", "warmup_ms", "stopped_by", "reference_ms", "reference_workload", "clock",
                "device_ms", "device_clock")
        out = {k: (list(v) if k in _TUPLE_FIELDS else v) for k in keys if (v := getattr(self, k)) is not None}
        if self.stopped_by is not None:  # a stop-rule timing loop: summarised; server request latencies are not
            out["summary"] = summarize_ms(out["samples_ms"])
        if self.device_ms:
            out["device_summary"] = summarize_ms(out["device_ms"])
        if self.end_to_end:
            out["end_to_end"] = {**self.end_to_end, "summary": summarize_ms(self.end_to_end["samples_ms"])}
        return out

    def for_record(self) -> ProcessResult:
        """As a cell record keeps it: the scenario payloads live once, on the cell."""
        return dataclasses.replace(self, quality=None, server=None)


def _join(parts: list[dict]) -> dict:
    """Sample lists concatenated in process order (a list any process lacks is dropped, so samples
    stay aligned), summaries recomputed from them."""
    from bench.stats import summarize_ms

    out = {k: v for k, v in parts[0].items() if k not in SAMPLE_LISTS and k != "end_to_end"}
    for key in SAMPLE_LISTS:
        if all(p.get(key) for p in parts) or key in ("samples_ms", "warmup_ms"):
            out[key] = [x for p in parts for x in p.get(key) or []]
    out["stopped_by"] = "rule" if all(p.get("stopped_by") == "rule" for p in parts) else "max_duration"
    out["summary"] = summarize_ms(out["samples_ms"])
    if "device_ms" in out:
        out["device_summary"] = summarize_ms(out["device_ms"])
    # every process of a CUDA cell has it; a migrated schema-1 cell keeps the pooled one on its first
    e2e = [p["end_to_end"] for p in parts if p.get("end_to_end")]
    if e2e:
        out["end_to_end"] = _join(e2e)
    return out


def pooled_latency(processes) -> dict | None:
    """The cell's latency over all its processes: one process as measured; several joined in process
    order with `process_sample_counts`, `process_warmup_counts` and `summary.between_process_cv`."""
    from bench.stats import between_process_cv

    views = [v for p in processes if (v := p.latency_view()) is not None]
    if len(views) <= 1:
        return views[0] if views else None
    latency = _join(views)
    counts = [len(v["samples_ms"]) for v in views]
    latency["summary"]["between_process_cv"] = between_process_cv(latency["samples_ms"], counts)
    latency.update(process_sample_counts=counts, process_warmup_counts=[len(v.get("warmup_ms") or ()) for v in views])
    return latency


def _cut(values: list, counts: list[int]) -> list[list]:
    out, start = [], 0
    for n in counts:
        out.append(values[start:start + n])
        start += n
    return out


def split_pooled_latency(latency: dict | None) -> tuple[ProcessResult, ...]:
    """A schema-1 pooled latency cut back into its processes by `process_sample_counts` (ValueError if
    the counts do not add up). End-to-end samples had no per-process counts: they stay pooled, on the
    first process, which the pooled view reads back unchanged."""
    if not latency:
        return ()
    counts = latency.get("process_sample_counts") or [len(latency["samples_ms"])]
    warm_counts = latency.get("process_warmup_counts") or [len(latency.get("warmup_ms") or [])]
    if sum(counts) != len(latency["samples_ms"]) or len(warm_counts) != len(counts):
        raise ValueError("latency: process_sample_counts do not match the samples")
    plain = {k: latency[k] for k in ("unit", "stopped_by", "reference_workload", "clock", "device_clock")
             if k in latency}
    cuts = {k: _cut(latency[k], counts) for k in ALIGNED_LISTS if latency.get(k) is not None}
    if latency.get("warmup_ms") is not None:
        cuts["warmup_ms"] = _cut(latency["warmup_ms"], warm_counts)
    e2e = latency.get("end_to_end")
    e2e = {k: v for k, v in e2e.items() if k != "summary"} if e2e else None
    return tuple(ProcessResult(**plain, **{k: tuple(v[i]) for k, v in cuts.items()},
                               end_to_end=e2e if i == 0 else None) for i in range(len(counts)))
