"""Server scenario: Poisson arrivals against a dynamic batcher; for each batching setting, the highest
QPS whose p99 per request is within the SLO (bench/server.py); or, with `fixed_qps`, one probe at that
load. One cell per variant named in `server.variants`."""

from __future__ import annotations

import math

from bench.cost import throughput_samples_per_s, usd_per_million_text
from bench.jobspec import ServerJob, ServerSettings, StopRule
from bench.results import ProcessResult
from bench.scenarios.base import PlannedCell, Scenario, register_scenario, single_process

POOL_TEXTS = 512  # distinct test texts the requests cycle through
# the service time of a full batch, once warm: a short fixed rule (it only sets the bisection's upper bound)
SERVICE_RULE = StopRule(warmup_iterations=3, min_iterations=5, min_duration_s=0.0, max_duration_s=20.0,
                        max_warmup_s=10.0)


def plan_cells(suite, variant) -> list[PlannedCell]:
    return [PlannedCell("server")] if variant.name in suite.server_variants() else []


def make_job(suite, cell: PlannedCell, common: dict) -> ServerJob:
    return ServerJob(**common, seq_len=suite.slo.seq_len, slo_p99_ms=suite.slo.p99_ms,
                     server=ServerSettings.from_dict(suite.server.model_dump()))


class _Batches:
    """Requests as rows of one tokenized pool, cycled; `run(first, count)` serves a batch of them."""

    def __init__(self, session, texts: list[str], tokenizer, seq_len: int, pairs: list[str] | None = None):
        import numpy as np

        from bench.data import tokenize

        self.session, self.n, self.np = session, len(texts), np
        self.pool = dict(tokenize(tokenizer, texts, pairs, padding="max_length", truncation=True, max_length=seq_len,
                                  return_tensors="np"))

    def run(self, first: int, count: int):
        idx = self.np.arange(first, first + count) % self.n
        return self.session.run(self.session.prepare({k: v[idx] for k, v in self.pool.items()}))


def _prober(batches: _Batches, job: ServerJob, policy, label: str, progress):
    """probe(qps) -> server.Probe, keeping each probe's per-request samples (ms) in `probe.samples_ms`."""
    from bench import server as srv
    from bench.timing import serve_open_loop

    s, slo_ms = job.server, job.slo_p99_ms

    def probe(qps: float) -> srv.Probe:
        n = srv.queries_for(qps, s.min_queries, s.min_duration_s)
        progress(f"{label}: {qps:.1f} QPS, {n} requests", 0, 1)
        served = serve_open_loop(batches.run, srv.poisson_arrivals_s(qps, n, s.seed), policy,
                                 late_after_ns=int(slo_ms * 1e6), max_late=srv.max_late_allowed(n),
                                 synchronize=batches.session.synchronize)
        samples_ms = [x / 1e6 for x in served.latencies_ns]
        probe.samples_ms[qps] = samples_ms
        return srv.summarize_probe(qps, samples_ms, served.batch_sizes, n, served.duration_s, slo_ms,
                                   served.stopped_early)

    probe.samples_ms = {}
    return probe


def _service_ms(batches: _Batches, max_bs: int) -> float:
    """Median time of a full batch, after every batch size the batcher can form has run (first runs of
    a shape are slow)."""
    import numpy as np

    from bench.timing import time_calls

    for size in range(1, max_bs + 1):
        for i in range(3):
            batches.run(i * size, size)
    warm = time_calls(lambda i: batches.run(i * max_bs, max_bs), SERVICE_RULE, synchronize=batches.session.synchronize)
    return float(np.median(warm.samples_ms))


def _sweep_setting(batches, job: ServerJob, max_bs: int, delay: float, so_far: list[dict], progress) -> dict:
    from bench import server as srv
    from bench.timing import BatchingPolicy

    label = f"server max_bs={max_bs} delay={delay:g}ms"
    service_ms = _service_ms(batches, max_bs)
    probe = _prober(batches, job, BatchingPolicy(max_bs, delay), label, progress)
    if job.fixed_qps:
        probes = [probe(job.fixed_qps)]
        best = probes[0] if probes[0].passed else None
    else:
        # a little above saturation (max_bs per service time) cannot pass: the queue grows without bound
        upper = 1.2 * throughput_samples_per_s(max_bs, service_ms)
        best, probes = srv.find_peak_qps(probe, upper, relative_tolerance=job.server.relative_tolerance,
                                         max_probes=job.server.max_probes,
                                         to_beat_qps=max((x["max_qps"] for x in so_far if x["max_qps"]), default=None))
    progress(label, 1, 1)
    return {"max_batch_size": max_bs, "max_queue_delay_ms": delay, "service_ms_at_max_batch": service_ms,
            "max_qps": best.offered_qps if best else None, "probes": [p.to_dict() for p in probes],
            "samples_ms_at_max_qps": probe.samples_ms[best.offered_qps] if best else None}


def _summary(job: ServerJob, settings: list[dict], best: dict | None) -> dict:
    from bench import server as srv

    return {"slo_p99_ms": job.slo_p99_ms, "quantile": srv.QUANTILE, "confidence": srv.CONFIDENCE,
            "rule": srv.P99_RULE, "arrivals": "Poisson (exponential inter-arrival times), open loop",
            "latency": "per request, from scheduled arrival to result, queueing included",
            "fixed_qps": job.fixed_qps, "settings": settings,
            "best": {k: best[k] for k in ("max_batch_size", "max_queue_delay_ms", "max_qps")} if best else None}


def run(job: ServerJob, progress) -> ProcessResult:
    from bench.scenarios.common import host_memory, load_session, load_test_split

    session = load_session(job)
    test, tokenizer = load_test_split(job)
    pairs = None if test.pairs is None else list(test.pairs)[:POOL_TEXTS]
    batches = _Batches(session, list(test.texts)[:POOL_TEXTS], tokenizer, job.seq_len, pairs)
    settings: list[dict] = []
    for max_bs in job.server.max_batch_sizes:
        for delay in job.server.max_queue_delay_ms:
            settings.append(_sweep_setting(batches, job, max_bs, delay, settings, progress))
    passing = [x for x in settings if x["max_qps"]]
    best = max(passing, key=lambda x: x["max_qps"]) if passing else None
    samples = {"unit": "ms per request at the highest passing QPS",
               "samples_ms": tuple(best["samples_ms_at_max_qps"])} if best else {}
    return ProcessResult(**samples, server=_summary(job, settings, best),
                         throughput_samples_per_s=best["max_qps"] if best else None,
                         memory=host_memory(), runtime_info=session.describe())


def echo(cell) -> str:
    from bench.stats import summarize_ms

    best = cell.server["best"]
    if best is None:
        lowest = min((p for st in cell.server["settings"] for p in st["probes"]), key=lambda p: p["offered_qps"])
        return (f"[yellow]ok[/]          {cell.cell_id}: no load meets p99 {cell.server['slo_p99_ms']:g} ms "
                f"(at {lowest['offered_qps']:.1f} QPS the p99 was {lowest['p99_ms'] or math.nan:.1f} ms)")
    s = summarize_ms(cell.latency["samples_ms"])
    return (f"[green]ok[/]          {cell.cell_id}: {best['max_qps']:.1f} QPS at p99 {s['p99']:.1f} ms "
            f"(max batch {best['max_batch_size']}, delay {best['max_queue_delay_ms']:g} ms)  "
            f"{usd_per_million_text(cell.cost['usd_per_million'])}")


SERVER = register_scenario(Scenario("server", plan_cells, make_job, run, single_process, echo))
