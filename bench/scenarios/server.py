"""Server scenario: Poisson arrivals against a dynamic batcher; for each batching setting, the highest
QPS whose p99 per request is within the SLO (bench/server.py); or, with `fixed_qps`, one probe at that
load. One cell per variant named in `server.variants` and traffic model in `server.traffic`
(bench/traffic.py: `<variant>/server` fixed-length, `<variant>/server-real` real lengths), each
measured in `server.repetitions` fresh processes: independent peak searches, pooled into the cell's
capacity (the lowest, planned with, and the median; bench/server.py capacity_summary)."""

from __future__ import annotations

import math
from pathlib import Path

from bench.cost import throughput_samples_per_s, usd_per_million_text
from bench.jobspec import ServerJob, ServerSettings, StopRule
from bench.results import ProcessResult
from bench.scenarios.base import PlannedCell, Scenario, register_scenario
from bench.scenarios.common import max_memory
from bench.server import capacity_of
from bench.traffic import FIXED, REAL

POOL_TEXTS = 512  # distinct test texts the fixed-length requests cycle through
POOL_REAL = 2048  # distinct requests of real traffic (more: their lengths are the point), evenly sampled
# the service time of a full batch, once warm: a short fixed rule (it only sets the bisection's upper bound)
SERVICE_RULE = StopRule(warmup_iterations=3, min_iterations=5, min_duration_s=0.0, max_duration_s=20.0,
                        max_warmup_s=10.0)
HIGH_SPREAD = 0.15  # repetitions whose lowest is this far below their median get a cell warning


def plan_cells(suite, variant) -> list[PlannedCell]:
    if variant.name not in suite.server_variants():
        return []
    return [PlannedCell("server", traffic=t) for t in suite.server.traffic]


def _sample(items, n: int) -> tuple | None:
    """Up to n items, evenly spaced over the whole list (a file's lengths are not front-loaded)."""
    return None if items is None else tuple(items[::max(1, len(items) // n)][:n])


def make_job(suite, cell: PlannedCell, common: dict) -> ServerJob:
    from bench.traffic import read_traffic_file

    traffic = cell.traffic or FIXED
    texts = lengths = None
    if traffic == REAL and suite.server.traffic_file:
        file = read_traffic_file(Path(suite.server.traffic_file))
        texts, lengths = _sample(file.texts, POOL_REAL), _sample(file.lengths, POOL_REAL)
    return ServerJob(**common, seq_len=suite.slo.seq_len, slo_p99_ms=suite.slo.p99_ms,
                     server=ServerSettings.from_dict(suite.server.model_dump()), traffic=traffic,
                     traffic_texts=texts, traffic_lengths=lengths)


class _Batches:
    """Fixed-length requests: rows of one tokenized pool padded to seq_len, cycled; `run(first, count)`
    serves requests first .. first+count-1 as one (count, seq_len) batch."""

    def __init__(self, session, texts: list[str], tokenizer, seq_len: int, pairs: list[str] | None = None):
        import numpy as np

        from bench.data import tokenize

        self.session, self.n, self.np = session, len(texts), np
        self.pool = dict(tokenize(tokenizer, texts, pairs, padding="max_length", truncation=True, max_length=seq_len,
                                  return_tensors="np"))
        self.lengths = [seq_len] * self.n  # as served

    def run(self, first: int, count: int):
        idx = self.np.arange(first, first + count) % self.n
        return self.session.run(self.session.prepare({k: v[idx] for k, v in self.pool.items()}))


class DynamicBatches:
    """Real-length requests (`rows`: one dict of 1-D token arrays each), cycled; `run(first, count)`
    pads the batch to its longest request (bench.traffic.pad_batch) and serves it."""

    def __init__(self, session, rows: list[dict], pad_values: dict[str, int], side: str = "right"):
        self.session, self.rows, self.pad_values, self.side = session, rows, pad_values, side
        self.n = len(rows)
        self.lengths = [len(r["input_ids"]) for r in rows]

    def run(self, first: int, count: int):
        from bench.traffic import pad_batch

        batch = pad_batch([self.rows[(first + i) % self.n] for i in range(count)], self.pad_values, self.side)
        return self.session.run(self.session.prepare(batch))


def _rows_of_texts(tokenizer, texts, pairs, seq_len: int) -> list[dict]:
    import numpy as np

    from bench.data import tokenize

    enc = tokenize(tokenizer, texts, pairs, truncation=True, max_length=seq_len)
    return [{k: np.asarray(enc[k][i], dtype=np.int64) for k in enc} for i in range(len(texts))]


def _rows_of_lengths(tokenizer, lengths, filler: str, seq_len: int) -> list[dict]:
    """A request of each token length (clamped to [special tokens + 1, seq_len]): the start of `filler`
    (real text) tokenized and truncated to that length, special tokens included."""
    import numpy as np

    shortest = tokenizer.num_special_tokens_to_add(pair=False) + 1
    by_length = {}
    for n in sorted({min(max(n, shortest), seq_len) for n in lengths}):
        enc = tokenizer(filler, truncation=True, max_length=n)
        by_length[n] = {k: np.asarray(v, dtype=np.int64) for k, v in enc.items()}
    return [by_length[min(max(n, shortest), seq_len)] for n in lengths]


def _requests(job: ServerJob, session, test, tokenizer):
    """(the batches served, the record's traffic dict) for the job's traffic model."""
    from bench.traffic import describe

    pairs = None if test.pairs is None else list(test.pairs)
    if job.traffic == FIXED:
        batches = _Batches(session, list(test.texts)[:POOL_TEXTS], tokenizer, job.seq_len, pairs and pairs[:POOL_TEXTS])
        return batches, describe(FIXED, job.seq_len, batches.lengths)
    if job.traffic_lengths:
        rows = _rows_of_lengths(tokenizer, job.traffic_lengths, " ".join(test.texts[:400]), job.seq_len)
        source = f"token lengths from {job.server.traffic_file} ({len(rows)} requests), filled with test-split text"
    elif job.traffic_texts:
        rows = _rows_of_texts(tokenizer, list(job.traffic_texts), None, job.seq_len)
        source = f"{job.server.traffic_file} ({len(rows)} requests)"
    else:
        rows = _rows_of_texts(tokenizer, list(_sample(test.texts, POOL_REAL)), pairs and list(_sample(pairs, POOL_REAL)),
                              job.seq_len)
        source = f"the test split ({len(rows)} requests)"
    pad = {"input_ids": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0}
    batches = DynamicBatches(session, rows, pad, getattr(tokenizer, "padding_side", "right"))
    return batches, describe(REAL, job.seq_len, batches.lengths, source)


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
    """One repetition: today's sweep of every batching setting, each a peak search, in this process; the
    CPU's state before it and during the whole sweep (other processes' CPU time, steal), as offline cells."""
    import os

    from bench import cpuload
    from bench.scenarios.common import cpu_before, cpu_isolation, host_memory, load_session, load_test_split

    before = cpu_before(job)
    session = load_session(job)
    test, tokenizer = load_test_split(job)
    batches, traffic = _requests(job, session, test, tokenizer)
    first = cpuload.read(os.getppid()) if job.cpu_isolation != "off" else None
    settings: list[dict] = []
    for max_bs in job.server.max_batch_sizes:
        for delay in job.server.max_queue_delay_ms:
            settings.append(_sweep_setting(batches, job, max_bs, delay, settings, progress))
    isolation = None
    if first is not None:
        isolation = {"cpu": {"policy": job.cpu_isolation, "before": before, "during": cpu_isolation(
            job.cpu_isolation, cpuload.window_since(first, "during", os.getppid()))}}
    passing = [x for x in settings if x["max_qps"]]
    best = max(passing, key=lambda x: x["max_qps"]) if passing else None
    samples = {"unit": "ms per request at the highest passing QPS",
               "samples_ms": tuple(best["samples_ms_at_max_qps"])} if best else {}
    return ProcessResult(**samples, server={**_summary(job, settings, best), "traffic": traffic},
                         throughput_samples_per_s=best["max_qps"] if best else None,
                         memory=host_memory(), runtime_info=session.describe(), isolation=isolation)


def _conservative_index(sweeps: list[dict]) -> int:
    """The repetition that sets the conservative figure: the first without a passing load, else the lowest."""
    peaks = [(s["best"] or {}).get("max_qps") for s in sweeps]
    return min(range(len(peaks)), key=lambda i: (peaks[i] is not None, peaks[i] or 0.0, i))


def pool(results: list[ProcessResult], job: ServerJob) -> dict:
    """A server cell's repetitions (one peak search per fresh process) as one record: `server` keeps each
    repetition's sweep under `repetitions`, the capacity (bench/server.py capacity_summary) under
    `capacity`, and at its top the settings and best of the repetition that set the conservative figure,
    which is the cell's throughput (and so its cost)."""
    from bench.server import capacity_summary

    sweeps = [r.server for r in results]
    capacity = capacity_summary([(s["best"] or {}).get("max_qps") for s in sweeps])
    low = sweeps[_conservative_index(sweeps)]
    top_settings = [{k: v for k, v in st.items() if k != "samples_ms_at_max_qps"} for st in low["settings"]]
    server = {**low, "settings": top_settings, "capacity": capacity,
              "conservative_repetition": _conservative_index(sweeps) + 1,
              "repetitions": [{"repetition": i, "settings": s["settings"], "best": s["best"]}
                              for i, s in enumerate(sweeps, 1)]}
    return {"processes": tuple(r.for_record() for r in results), "server": server,
            "throughput_samples_per_s": capacity["conservative_qps"], "memory": max_memory(results),
            "quality": None, "energy": results[0].energy, "isolation": _pooled_isolation(results)}


def _pooled_isolation(results: list[ProcessResult]) -> dict | None:
    """Each repetition's CPU check, as an offline cell of several processes keeps them."""
    if len(results) == 1 or not any(r.isolation for r in results):
        return results[0].isolation
    return {"policy": (results[0].isolation or {}).get("policy"), "processes": [r.isolation for r in results]}


def server_warnings(server: dict | None) -> list[str]:
    """A cell warning where the repetitions' peaks disagree: the lowest HIGH_SPREAD or more below the median."""
    cap = capacity_of(server) if server else None
    if not cap or cap["repetitions"] < 2 or not cap["conservative_qps"] or not cap["typical_qps"]:
        return []
    drop = 1 - cap["conservative_qps"] / cap["typical_qps"]
    if drop < HIGH_SPREAD:
        return []
    peaks = ", ".join(f"{q:.1f}" for q in cap["repetitions_qps"])
    return [f"the peak QPS varies between repetitions ({peaks}): the lowest is {drop:.0%} below the median, so the "
            "plan's conservative capacity may be pessimistic, or the machine was disturbed (raise server.repetitions)"]


def _capacity_text(cap: dict) -> str:
    if cap["repetitions"] < 2:
        return "1 repetition"
    peaks = " / ".join("none" if q is None else f"{q:.1f}" for q in cap["repetitions_qps"])
    typical = "-" if cap["typical_qps"] is None else f"{cap['typical_qps']:.1f}"
    return f"{cap['conservative_rule']}; typical {typical} ({cap['typical_rule']}); repetitions {peaks}"


def echo(cell) -> str:
    server = cell.server
    cap, best = capacity_of(server), server["best"]
    traffic = (server.get("traffic") or {}).get("name", FIXED)
    named = "fixed-length traffic" if traffic == FIXED else f"{traffic} traffic"
    lines = []
    if best is None:
        lowest = min((p for st in server["settings"] for p in st["probes"]), key=lambda p: p["offered_qps"])
        lines.append(f"[yellow]ok[/]          {cell.cell_id}: {named}: no load meets p99 {server['slo_p99_ms']:g} ms "
                     f"(at {lowest['offered_qps']:.1f} QPS the p99 was {lowest['p99_ms'] or math.nan:.1f} ms)  "
                     f"({_capacity_text(cap)})")
    else:
        probe = max((p for st in server["settings"] for p in st["probes"] if p["passed"]), key=lambda p: p["offered_qps"])
        lines.append(f"[green]ok[/]          {cell.cell_id}: {named}: {best['max_qps']:.1f} QPS at p99 {probe['p99_ms']:.1f} ms "
                     f"(max batch {best['max_batch_size']}, delay {best['max_queue_delay_ms']:g} ms; "
                     f"{_capacity_text(cap)})  {usd_per_million_text(cell.cost['usd_per_million'])}")
    return "\n".join(lines + [f"[yellow]            {w}" for w in server_warnings(server)])


SERVER = register_scenario(Scenario("server", plan_cells, make_job, run, pool, echo,
                                    processes=lambda suite: suite.server.repetitions, processes_recorded=True))
