"""Offline scenario: latency of one (batch size, sequence length) cell under a stop rule, measured in
`measure.processes` fresh processes whose samples the record keeps per process.

On CUDA, three figures, named so: the host clock after a synchronize with inputs already on the device
(compute only, the main samples), CUDA-event device time of the same calls where the runtime's stream
is visible, and the end-to-end latency with host-to-device and device-to-host copies included.
"""

from __future__ import annotations

import os

from bench.cost import throughput_samples_per_s, usd_per_million_text
from bench.jobspec import OfflineJob, StopRule
from bench.results import ProcessResult, pooled_latency
from bench.scenarios.base import PlannedCell, Scenario, register_scenario
from bench.scenarios.common import max_memory
from bench.stats import HIGH_CV

N_BATCHES = 8  # distinct real batches, cycled, prepared before timing starts
END_TO_END = ("host clock around: copy of the tokenized batch to the device, the forward pass, and the "
              "logits back to the host")
HOST_CLOCK_CUDA = "host clock (time.perf_counter_ns) after the runtime's synchronize; inputs on the device"


def plan_cells(suite, variant) -> list[PlannedCell]:
    m = suite.measure
    return [PlannedCell("offline", b, s) for s in m.seq_lengths for b in m.batch_sizes]


def make_job(suite, cell: PlannedCell, common: dict) -> OfflineJob:
    m = suite.measure
    rule = StopRule(warmup_iterations=m.warmup_iterations, min_warmup_s=m.min_warmup_s, max_warmup_s=m.max_warmup_s,
                    min_iterations=m.min_iterations, min_duration_s=m.min_duration_s, max_duration_s=m.max_duration_s)
    return OfflineJob(**common, batch_size=cell.batch_size, seq_len=cell.seq_len, stop_rule=rule)


def _batches(job: OfflineJob, texts: list[str], tokenizer, pairs: list[str] | None = None) -> list[dict]:
    """N_BATCHES tokenized batches of real texts (or text pairs; cycled when the split is small), padded
    to seq_len."""
    from bench.data import tokenize

    bs, seq = job.batch_size, job.seq_len
    n = bs * N_BATCHES
    pool = (texts * (n // max(1, len(texts)) + 1))[:n]
    pair_pool = None if pairs is None else (pairs * (n // max(1, len(pairs)) + 1))[:n]
    return [dict(tokenize(tokenizer, pool[i * bs:(i + 1) * bs], None if pair_pool is None else
                          pair_pool[i * bs:(i + 1) * bs], padding="max_length", truncation=True, max_length=seq,
                          return_tensors="np")) for i in range(N_BATCHES)]


def _timed(session, prepared: list, rule: StopRule, cuda: bool):
    """The main samples (with the reference workload and the device clock), under the NVML monitor on
    CUDA; returns (LatencySamples, the monitor or None)."""
    from bench.timing import reference_workload, time_calls

    reference = reference_workload()
    for _ in range(3):
        reference()
    monitor = None
    if cuda:
        from bench.gpu import NvmlMonitor

        monitor = NvmlMonitor()
        monitor.__enter__()
    try:
        samples = time_calls(lambda i: session.run(prepared[i % N_BATCHES]), rule, synchronize=session.synchronize,
                             reference=reference, device_clock=session.device_clock())
    finally:
        if monitor is not None:
            monitor.__exit__(None, None, None)
    return samples, monitor


def _energy(monitor, inferences: int, price_usd_per_kwh) -> tuple[dict | None, dict]:
    """(NVML GPU figures or None, energy): NVML on CUDA only."""
    if monitor is None:
        return None, {"status": "not measured",
                      "reason": "bench reads energy from NVML on CUDA devices only; CPU energy is not measured"}
    gpu = monitor.result(inferences, price_usd_per_kwh)
    return gpu, gpu.pop("energy", {"status": "not measured", "reason": gpu.get("reason")})


def _end_to_end(session, encoded: list[dict], rule: StopRule) -> dict:
    from bench.timing import time_calls

    e2e = time_calls(lambda i: session.logits(session.run(session.prepare(encoded[i % N_BATCHES]))), rule,
                     synchronize=session.synchronize)
    return {"includes": END_TO_END, "samples_ms": e2e.samples_ms, "warmup_ms": e2e.warmup_ms,
            "stopped_by": e2e.stopped_by}


def _isolation_during(isolation: dict, gpu: dict | None) -> dict:
    from bench.gpu import check_isolation

    others = (gpu or {}).get("other_processes_during") or []
    return {"others": others, "warning": check_isolation(isolation["policy"], others, "during the timed region")}


def run(job: OfflineJob, progress) -> ProcessResult:
    from bench import cpuload
    from bench.scenarios.common import (
        cpu_before,
        cpu_isolation,
        cuda_memory,
        host_memory,
        isolation_check,
        load_session,
        load_test_split,
    )
    from bench.timing import REFERENCE_WORKLOAD, DeviceClock

    cuda = job.device == "cuda"
    isolation = {"policy": job.gpu_isolation, "before": isolation_check(job, "before the cell")} if cuda else {}
    before = cpu_before(job)
    session = load_session(job)
    peak_rss_after_load = host_memory()["peak_rss_mib"]
    test, tokenizer = load_test_split(job)
    encoded = _batches(job, list(test.texts), tokenizer, None if test.pairs is None else list(test.pairs))
    prepared = [session.prepare(e) for e in encoded]
    label = f"timing bs={job.batch_size} seq={job.seq_len}"
    progress(label, 0, 1)
    first = cpuload.read(os.getppid()) if job.cpu_isolation != "off" else None
    samples, monitor = _timed(session, prepared, job.stop_rule, cuda)
    if first is not None:
        isolation["cpu"] = {"policy": job.cpu_isolation, "before": before,
                            "during": cpu_isolation(job.cpu_isolation, cpuload.window_since(first, "during", os.getppid()))}
    inferences = job.batch_size * (len(samples.samples_ns) + len(samples.warmup_ns))  # the monitor saw warm-up too
    gpu, energy = _energy(monitor, inferences, job.price_usd_per_kwh)
    cuda_fields = {}
    if cuda:
        cuda_fields = {"clock": HOST_CLOCK_CUDA, "device_ms": tuple(samples.device_ms) or None,
                       "device_clock": DeviceClock.name if samples.device_ns else None}
        progress(f"timing end to end bs={job.batch_size} seq={job.seq_len}", 0, 1)
        cuda_fields["end_to_end"] = _end_to_end(session, encoded, job.stop_rule)
        isolation.update(after=isolation_check(job, "after the cell"), during=_isolation_during(isolation, gpu))
    progress(label, 1, 1)
    return ProcessResult(
        unit="ms per batch", samples_ms=tuple(samples.samples_ms), warmup_ms=tuple(samples.warmup_ms),
        stopped_by=samples.stopped_by, reference_ms=tuple(samples.reference_ms), reference_workload=REFERENCE_WORKLOAD,
        **cuda_fields, energy=energy, isolation=isolation or None, runtime_info=session.describe(),
        memory={**host_memory(), "peak_rss_after_load_mib": peak_rss_after_load, **cuda_memory(gpu)})


def _summed_energy(parts: list[dict | None], price_usd_per_kwh) -> dict | None:
    from bench.gpu import summarize_energy

    missing = [e for e in parts if e is None or e.get("status") != "ok"]
    if missing:
        return missing[0]
    if len({e["method"] for e in parts}) > 1:
        return {"status": "not measured", "reason": "the processes of this cell used different energy sources"}
    return summarize_energy(sum(e["energy_j"] for e in parts), parts[0]["method"],
                            sum(e["inferences"] for e in parts), price_usd_per_kwh)


def pool(results: list[ProcessResult], job: OfflineJob) -> dict:
    """One offline cell measured in several fresh processes: samples kept per process (the pooled view
    joins them in order); memory figures are the largest any process reached; energy is summed."""
    latency = pooled_latency(results)
    # samples/s = batch size / mean seconds per batch, over every sample of every process
    out = {"processes": tuple(r.for_record() for r in results),
           "throughput_samples_per_s": throughput_samples_per_s(job.batch_size, latency["summary"]["mean"])}
    if len(results) == 1:
        return {**out, "memory": results[0].memory, "energy": results[0].energy, "isolation": results[0].isolation}
    isolation = None
    if any(r.isolation for r in results):
        isolation = {"policy": (results[0].isolation or {}).get("policy"), "processes": [r.isolation for r in results]}
    return {**out, "memory": max_memory(results), "isolation": isolation,
            "energy": _summed_energy([r.energy for r in results], job.price_usd_per_kwh)}


def isolation_warnings(isolation: dict | None) -> list[str]:
    """The device-isolation warnings of a cell (one process, or several under `processes`)."""
    if not isolation:
        return []
    checks = [c for c in isolation.get("processes") or [isolation] if c]
    checks += [c["cpu"] for c in list(checks) if c.get("cpu")]  # the CPU's state, beside the GPU's
    return [check[when]["warning"] for check in checks for when in ("before", "during", "after")
            if (check.get(when) or {}).get("warning")]


def _spread(summary: dict, processes: int) -> str:
    """Warnings on the noise: within a process (cv) and between processes (their medians)."""
    warn = "  [yellow]cv {:.0%}[/]".format(summary["cv"]) if summary["cv"] > HIGH_CV else ""
    if "between_process_cv" in summary:
        high = summary["between_process_cv"] > 0.05
        warn += "  {}{} processes, medians vary {:.1%}{}".format(
            "[yellow]" if high else "", processes, summary["between_process_cv"], "[/]" if high else "")
    return warn


def echo(cell) -> str:
    from bench.stats import summarize_ms

    lat = cell.latency
    s = lat["summary"]
    gpu = ""
    if lat.get("device_ms"):
        gpu += f"  CUDA-event p50 {summarize_ms(lat['device_ms'])['p50']:.3f} ms"
    if lat.get("end_to_end"):
        gpu += f"  end-to-end p50 {summarize_ms(lat['end_to_end']['samples_ms'])['p50']:.3f} ms"
    line = (f"[green]ok[/]          {cell.cell_id}: p50 {s['p50']:.2f} ms  p99 {s['p99']:.2f} ms  "
            f"{cell.throughput_samples_per_s:.1f}/s  {usd_per_million_text(cell.cost['usd_per_million'])}{gpu}"
            f"{_spread(s, len(lat.get('process_sample_counts') or []))}")
    return "\n".join([line] + [f"[yellow]            {w}" for w in isolation_warnings(cell.isolation)])


OFFLINE = register_scenario(Scenario("offline", plan_cells, make_job, run, pool, echo,
                                     processes=lambda suite: suite.measure.processes,
                                     processes_recorded=True))
