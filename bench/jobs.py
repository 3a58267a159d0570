"""The jobs a worker runs: build one step, measure accuracy, measure offline latency. Each takes the
job description (plain data sent by the parent) and returns plain data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.cost import throughput_samples_per_s
from bench.errors import Unsupported


def _load_session(job: dict):
    from bench.registry import RUNTIMES

    spec = RUNTIMES[job["runtime"]]
    reason = spec.unsupported_reason(job["device"])
    if reason:
        raise Unsupported(f"runtime {spec.name} on {job['device']}: {reason}")
    return spec.load(Path(job["artifact_dir"]), job["device"], job["threads"])


def _memory() -> dict:
    from bench.train import peak_rss_mib

    return {"peak_rss_mib": round(peak_rss_mib(), 1)}


def _cuda_memory(gpu: dict | None) -> dict:
    """On CUDA: PyTorch's allocator peaks (where torch ran the model) and the NVML figure, named so."""
    import sys

    out = {}
    if gpu is not None:
        out["gpu_nvml"] = gpu
        if gpu.get("peak_process_memory_nvml_mib") is not None:
            out["gpu_peak_nvml_used_mib"] = gpu["peak_process_memory_nvml_mib"]
    torch = sys.modules.get("torch")
    if gpu is not None and torch is not None and torch.cuda.is_initialized():
        out["gpu_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu_max_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
    return out


def build(job: dict, progress) -> dict:
    from bench.config import FineTune
    from bench.registry import STEPS
    from bench.steps.base import BuildContext
    from bench.timing import wall_clock_s

    step = STEPS[job["step"]]
    reason = step.why_unsupported(job["device"])
    if reason:
        raise Unsupported(reason)
    ctx = BuildContext(
        out_dir=Path(job["out_dir"]), parent_dir=Path(job["parent_dir"]) if job["parent_dir"] else None,
        base_model_dir=Path(job["base_model_dir"]), params=step.params.model_validate(job["params"]),
        finetune=FineTune.model_validate(job["finetune"]), train_path=Path(job["train_path"]),
        val_path=Path(job["val_path"]), label_names=tuple(job["label_names"]), device=job["device"],
        threads=job["threads"], trust_remote_code=job["trust_remote_code"],
        eval_batch_size=job["eval_batch_size"], progress=progress)
    t0 = wall_clock_s()
    info = step.build(ctx)
    return {**info, "build_wall_s": wall_clock_s() - t0, **_memory()}


def accuracy(job: dict, progress) -> dict:
    from bench.data import read_split
    from bench.evaluate import predict_logits
    from bench.models import load_tokenizer
    from bench.stats import quality_summary

    session = _load_session(job)
    tokenizer = load_tokenizer(Path(job["artifact_dir"]))
    test = read_split(Path(job["test_path"]))
    logits = predict_logits(session, tokenizer, test.texts, max_length=job["max_length"],
                            batch_size=job["eval_batch_size"],
                            on_batch=lambda done, total: progress("accuracy on test split", done, total))
    predictions = logits.argmax(-1)
    quality = quality_summary(predictions, np.asarray(test.labels), len(job["label_names"]), seed=job["seed"])
    quality.update(eval_max_length=job["max_length"], eval_batch_size=job["eval_batch_size"],
                   padding="longest in length-sorted batch", predictions=predictions.tolist())
    return {"quality": quality, "memory": _memory(), "runtime_info": session.describe()}


def _isolation(job: dict, when: str) -> dict:
    """Other processes on the GPU at `when` (before/after): warned about, or refused (DeviceBusy)."""
    from bench.gpu import check_isolation, other_gpu_processes

    others = other_gpu_processes()
    warning = check_isolation(job.get("gpu_isolation", "warn"), others, when)
    return {"others": others, "warning": warning}


END_TO_END = ("host clock around: copy of the tokenized batch to the device, the forward pass, and the "
              "logits back to the host")


def offline(job: dict, progress) -> dict:
    """Latency of one (batch size, sequence length) cell. On CUDA, three figures, named so: the host clock
    after a synchronize with inputs already on the device (compute only, the main samples), CUDA-event
    device time of the same calls where the runtime's stream is visible, and the end-to-end latency
    with host-to-device and device-to-host copies included."""
    from bench.data import read_split
    from bench.models import load_tokenizer
    from bench.stats import summarize_ms
    from bench.timing import REFERENCE_WORKLOAD, DeviceClock, StopRule, reference_workload, time_calls

    cuda = job["device"] == "cuda"
    isolation = {"policy": job.get("gpu_isolation", "warn"), "before": _isolation(job, "before the cell")} if cuda else None
    session = _load_session(job)
    peak_rss_after_load = _memory()["peak_rss_mib"]
    tokenizer = load_tokenizer(Path(job["artifact_dir"]))
    texts = list(read_split(Path(job["test_path"])).texts)
    bs, seq = job["batch_size"], job["seq_len"]
    n_batches = 8  # distinct real batches, cycled, prepared before timing starts
    pool = (texts * (bs * n_batches // max(1, len(texts)) + 1))[: bs * n_batches]
    encoded = [dict(tokenizer(pool[i * bs:(i + 1) * bs], padding="max_length", truncation=True, max_length=seq,
                              return_tensors="np")) for i in range(n_batches)]
    prepared = [session.prepare(e) for e in encoded]
    rule = StopRule(**job["stop_rule"])
    progress(f"timing bs={bs} seq={seq}", 0, 1)
    reference = reference_workload()
    for _ in range(3):
        reference()
    monitor = None
    if cuda:
        from bench.gpu import NvmlMonitor

        monitor = NvmlMonitor()
        monitor.__enter__()
    try:
        samples = time_calls(lambda i: session.run(prepared[i % n_batches]), rule, synchronize=session.synchronize,
                             reference=reference, device_clock=session.device_clock())
    finally:
        if monitor is not None:
            monitor.__exit__(None, None, None)
    inferences = bs * (len(samples.samples_ns) + len(samples.warmup_ns))  # the monitor saw warm-up too
    if monitor is not None:
        gpu = monitor.result(inferences, job.get("price_usd_per_kwh"))
        energy = gpu.pop("energy", {"status": "not measured", "reason": gpu.get("reason")})
    else:
        gpu, energy = None, {"status": "not measured",
                             "reason": "bench reads energy from NVML on CUDA devices only; CPU energy is not measured"}
    summary = summarize_ms(samples.samples_ms)
    latency = {"unit": "ms per batch", "samples_ms": samples.samples_ms, "warmup_ms": samples.warmup_ms,
               "stopped_by": samples.stopped_by, "summary": summary,
               "reference_ms": samples.reference_ms, "reference_workload": REFERENCE_WORKLOAD}
    if cuda:
        latency["clock"] = "host clock (time.perf_counter_ns) after the runtime's synchronize; inputs on the device"
        if samples.device_ns:
            latency.update(device_ms=samples.device_ms, device_clock=DeviceClock.name,
                           device_summary=summarize_ms(samples.device_ms))
        progress(f"timing end to end bs={bs} seq={seq}", 0, 1)
        e2e = time_calls(lambda i: session.logits(session.run(session.prepare(encoded[i % n_batches]))), rule,
                         synchronize=session.synchronize)
        latency["end_to_end"] = {"includes": END_TO_END, "samples_ms": e2e.samples_ms, "warmup_ms": e2e.warmup_ms,
                                 "stopped_by": e2e.stopped_by, "summary": summarize_ms(e2e.samples_ms)}
        isolation["after"] = _isolation(job, "after the cell")
        from bench.gpu import check_isolation

        others = (gpu or {}).get("other_processes_during") or []
        isolation["during"] = {"others": others,
                               "warning": check_isolation(isolation["policy"], others, "during the timed region")}
    progress(f"timing bs={bs} seq={seq}", 1, 1)
    out = {
        "latency": latency,
        "throughput_samples_per_s": throughput_samples_per_s(bs, summary["mean"]),
        "memory": {**_memory(), "peak_rss_after_load_mib": peak_rss_after_load, **_cuda_memory(gpu)},
        "energy": energy,
        "runtime_info": session.describe(),
    }
    if isolation is not None:
        out["isolation"] = isolation
    return out


def _combine_energy(parts: list[dict | None], price_usd_per_kwh) -> dict | None:
    from bench.gpu import summarize_energy

    missing = [e for e in parts if e is None or e.get("status") != "ok"]
    if missing:
        return missing[0]
    if len({e["method"] for e in parts}) > 1:
        return {"status": "not measured", "reason": "the processes of this cell used different energy sources"}
    return summarize_energy(sum(e["energy_j"] for e in parts), parts[0]["method"],
                            sum(e["inferences"] for e in parts), price_usd_per_kwh)


SAMPLE_LISTS = ("samples_ms", "warmup_ms", "reference_ms", "device_ms")


def _join_latency(parts: list[dict]) -> dict:
    """Sample lists concatenated in process order (a list any process lacks is dropped, so samples
    stay aligned), summaries recomputed from them."""
    from bench.stats import summarize_ms

    out = {k: v for k, v in parts[0].items() if k not in SAMPLE_LISTS and k != "end_to_end"}
    for key in SAMPLE_LISTS:
        if all(p.get(key) for p in parts) or key in ("samples_ms", "warmup_ms"):
            out[key] = [x for p in parts for x in p.get(key) or []]
    out["stopped_by"] = "rule" if all(p["stopped_by"] == "rule" for p in parts) else "max_duration"
    out["summary"] = summarize_ms(out["samples_ms"])
    if "device_ms" in out:
        out["device_summary"] = summarize_ms(out["device_ms"])
    if all(p.get("end_to_end") for p in parts):
        out["end_to_end"] = _join_latency([p["end_to_end"] for p in parts])
    return out


def combine_processes(results: list[dict], batch_size: int, price_usd_per_kwh: float | None = None) -> dict:
    """One offline cell measured in several fresh processes: the raw samples in process order, with each
    process's sample count so per-process statistics can be recomputed; summaries over all samples;
    memory figures are the largest any process reached; energy is summed over processes."""
    from bench.stats import between_process_cv

    if len(results) == 1:
        return results[0]
    lat = [r["latency"] for r in results]
    latency = _join_latency(lat)
    counts = [len(p["samples_ms"]) for p in lat]
    latency["summary"]["between_process_cv"] = between_process_cv(latency["samples_ms"], counts)
    latency.update(process_sample_counts=counts, process_warmup_counts=[len(p["warmup_ms"]) for p in lat])
    memory: dict = {}
    for r in results:
        for k, v in (r.get("memory") or {}).items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                memory[k] = max(memory.get(k, v), v)
            else:
                memory.setdefault(k, v)
    out = {
        "latency": latency,
        "throughput_samples_per_s": throughput_samples_per_s(batch_size, latency["summary"]["mean"]),
        "memory": memory,
        "energy": _combine_energy([r.get("energy") for r in results], price_usd_per_kwh),
        "runtime_info": results[0].get("runtime_info"),
    }
    if any(r.get("isolation") for r in results):
        out["isolation"] = {"policy": results[0]["isolation"]["policy"],
                            "processes": [r.get("isolation") for r in results]}
    return out


def server(job: dict, progress) -> dict:
    """The Poisson server scenario for one variant: for each batching setting, bisect for the highest QPS
    whose p99 per request is within the SLO (bench/server.py); or, with `fixed_qps`, one probe at that load."""
    from bench import server as srv
    from bench.data import read_split
    from bench.models import load_tokenizer
    from bench.timing import BatchingPolicy, StopRule, serve_open_loop, time_calls

    session = _load_session(job)
    tokenizer = load_tokenizer(Path(job["artifact_dir"]))
    texts = list(read_split(Path(job["test_path"])).texts)[:512]
    pool = dict(tokenizer(texts, padding="max_length", truncation=True, max_length=job["seq_len"], return_tensors="np"))
    n_pool = len(texts)
    s, slo_ms = job["server"], job["slo_p99_ms"]

    def run_batch(first: int, count: int):
        idx = np.arange(first, first + count) % n_pool
        return session.run(session.prepare({k: v[idx] for k, v in pool.items()}))

    def probe_at(policy: BatchingPolicy, seed: int, label: str):
        def probe(qps: float) -> srv.Probe:
            n = srv.queries_for(qps, s["min_queries"], s["min_duration_s"])
            progress(f"{label}: {qps:.1f} QPS, {n} requests", 0, 1)
            served = serve_open_loop(run_batch, srv.poisson_arrivals_s(qps, n, seed), policy,
                                     late_after_ns=int(slo_ms * 1e6), max_late=srv.max_late_allowed(n),
                                     synchronize=session.synchronize)
            p = srv.summarize_probe(qps, [x / 1e6 for x in served.latencies_ns], served.batch_sizes, n,
                                    served.duration_s, slo_ms, served.stopped_early)
            probe.samples_ms[qps] = [x / 1e6 for x in served.latencies_ns]
            return p
        probe.samples_ms = {}
        return probe

    settings = []
    for max_bs in s["max_batch_sizes"]:
        for delay in s["max_queue_delay_ms"]:
            policy = BatchingPolicy(max_bs, delay)
            label = f"server max_bs={max_bs} delay={delay:g}ms"
            for size in range(1, max_bs + 1):  # every batch size the batcher can form: first runs of a shape are slow
                for i in range(3):
                    run_batch(i * size, size)
            warm = time_calls(lambda i, b=max_bs: run_batch(i * b, b), StopRule(3, 5, 0.0, 20.0, 10.0),
                              synchronize=session.synchronize)
            service_ms = float(np.median(warm.samples_ms))
            probe = probe_at(policy, s["seed"], label)
            if job.get("fixed_qps"):
                best, probes = None, [probe(job["fixed_qps"])]
                best = probes[0] if probes[0].passed else None
            else:
                # a little above saturation (max_bs per service time) cannot pass: the queue grows without bound
                upper = 1.2 * throughput_samples_per_s(max_bs, service_ms)
                so_far = [x["max_qps"] for x in settings if x["max_qps"]]
                best, probes = srv.find_peak_qps(probe, upper, relative_tolerance=s["relative_tolerance"],
                                                 max_probes=s["max_probes"], to_beat_qps=max(so_far, default=None))
            settings.append({"max_batch_size": max_bs, "max_queue_delay_ms": delay,
                             "service_ms_at_max_batch": service_ms,
                             "max_qps": best.offered_qps if best else None,
                             "probes": [p.to_dict() for p in probes],
                             "samples_ms_at_max_qps": probe.samples_ms[best.offered_qps] if best else None})
            progress(label, 1, 1)
    passing = [x for x in settings if x["max_qps"]]
    best_setting = max(passing, key=lambda x: x["max_qps"]) if passing else None
    return {"server": {"slo_p99_ms": slo_ms, "quantile": srv.QUANTILE, "confidence": srv.CONFIDENCE,
                       "rule": srv.P99_RULE, "arrivals": "Poisson (exponential inter-arrival times), open loop",
                       "latency": "per request, from scheduled arrival to result, queueing included",
                       "fixed_qps": job.get("fixed_qps"), "settings": settings,
                       "best": {k: best_setting[k] for k in ("max_batch_size", "max_queue_delay_ms", "max_qps")}
                       if best_setting else None},
            "latency": ({"unit": "ms per request at the highest passing QPS", "samples_ms": best_setting["samples_ms_at_max_qps"]}
                        if best_setting else None),
            "throughput_samples_per_s": best_setting["max_qps"] if best_setting else None,
            "memory": _memory(), "runtime_info": session.describe()}


def call(job: dict, progress) -> dict:
    """Run `job["target"]` ("module:function"): how tests inject faults into a real worker. The job
    comes from the parent process, never from a file."""
    import importlib

    module, _, name = job["target"].partition(":")
    return getattr(importlib.import_module(module), name)(job, progress)


JOBS = {"build": build, "accuracy": accuracy, "offline": offline, "server": server, "call": call}
