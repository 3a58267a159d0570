"""Cell records assembled from what the scheduler brings back: the fields every cell has, then the
scenario's own (its `pool` of the processes), the cost, or the failure."""

from __future__ import annotations

from dataclasses import dataclass

from bench.cost import usd_per_million
from bench.executors.base import Outcome
from bench.jobspec import job_settings
from bench.record import CellRecord, cell_id
from bench.runsetup import utc_now
from bench.scenarios import SCENARIOS, PlannedCell
from bench.scheduler import PendingCell


@dataclass(frozen=True)
class Machine:
    """What a cell record says about where it was measured: the profile (device, price) and threads."""

    device: str
    threads: int
    profile: str
    price_usd_per_hour: float | None  # None: the `local` profile without a price
    usable_cores: int | None = None  # of the machine measured (bench.machine), for the threads warning


def _common(cell: PendingCell, machine: Machine, wall_s: float) -> dict:
    manifest, job = cell.manifest, cell.job
    settings = {"device": machine.device, "threads": machine.threads, "clock": "time.perf_counter_ns",
                **job_settings(job)}
    if SCENARIOS[cell.scenario].processes_recorded:
        settings["processes"] = cell.processes
    if cell.nodes:  # measured on a cluster: the node of each process, in the order they ran
        settings["nodes"] = [dict(n) for n in cell.nodes]
    return {"cell_id": cell.cell_id, "variant": cell.variant, "steps": tuple(cell.steps), "runtime": job.runtime,
            "scenario": cell.scenario, "batch_size": cell.batch_size, "seq_len": getattr(job, "seq_len", None),
            "started_at": cell.started_at, "wall_s": wall_s,
            "model": {"parameters": manifest.get("parameters"),
                      "size_on_disk_mib": round(manifest.get("size_on_disk_bytes", 0) / 2**20, 2)},
            "settings": settings}


def cell_record(cell: PendingCell, outcome: Outcome, machine: Machine) -> CellRecord:
    """The record of a finished cell: ok (outcome.result is its list of ProcessResults) or not."""
    common = _common(cell, machine, outcome.wall_s)
    if outcome.status != "ok":
        return CellRecord(**common, status=outcome.status, reason=outcome.reason, error_kind=outcome.error_kind,
                          error_tail=outcome.error_tail)
    results = list(outcome.result)
    common["settings"]["runtime_info"] = results[0].runtime_info
    fields = SCENARIOS[cell.scenario].pool(results, cell.job)
    cost = None
    if fields.get("throughput_samples_per_s"):
        price = machine.price_usd_per_hour
        cost = {"usd_per_million": None if price is None else usd_per_million(price, fields["throughput_samples_per_s"]),
                "price_usd_per_hour": price, "profile": machine.profile}
    return CellRecord(**common, status="ok", cost=cost, warnings=cell_warnings(cell.job, fields, machine), **fields)


def cell_warnings(job, fields: dict, machine: Machine) -> tuple[str, ...]:
    """What weakens a measured cell's figures, one sentence each: no warm-up, a p99 from fewer samples
    than can show one (stats.MIN_SAMPLES_FOR_P99), more threads than usable cores, and the CPU or GPU
    isolation warnings of its processes."""
    from bench.scenarios.offline import isolation_warnings
    from bench.stats import MIN_SAMPLES_FOR_P99, no_better_than_majority

    out = []
    rule = getattr(job, "stop_rule", None)
    if rule is not None and rule.warmup_iterations == 0:
        out.append("no warm-up (measure.warmup_iterations = 0): first calls, with their one-time allocations and "
                   "kernel choices, are among the samples")
    samples = sum(len(p.samples_ms or ()) for p in fields.get("processes") or ()) if rule is not None else None
    if samples is not None and samples < MIN_SAMPLES_FOR_P99:
        out.append(f"p99 from {samples} samples: below {MIN_SAMPLES_FOR_P99} it is the largest sample or two, not "
                   "an observed tail (raise measure.min_iterations or measure.min_duration_s)")
    if machine.usable_cores and job.threads > machine.usable_cores:
        out.append(f"{job.threads} threads on {machine.usable_cores} usable cores (measure.threads): threads wait "
                   "for each other and the latency is not what a right-sized deployment sees")
    if (fields.get("quality") or {}).get("ci_note"):
        out.append(fields["quality"]["ci_note"])
    if poor := no_better_than_majority(fields.get("quality")):
        out.append(poor)
    if fields.get("server"):
        from bench.scenarios.server import server_warnings

        out += server_warnings(fields["server"])
    return tuple(out + recompile_warnings(fields.get("processes") or ()) + isolation_warnings(fields.get("isolation")))


def recompile_warnings(processes) -> list[str]:
    """torch.compile graphs compiled after warm-up (bench.runtimes.torch_compile): compile time inside
    the timed region, one sentence per process that had any."""
    out = []
    for i, p in enumerate(processes):
        late = ((getattr(p, "runtime_info", None) or {}).get("compile") or {}).get("graphs_compiled_after_warmup")
        if late:
            out.append(f"process {i + 1}: torch.compile compiled {late} graph(s) after warm-up, inside the timed "
                       "region: its samples include compile time")
    return out


def not_built_records(variant: str, steps: tuple[str, ...], runtime: str, outcome: Outcome,
                      todo: list[PlannedCell]) -> list[CellRecord]:
    """Every cell of a variant whose build failed or is unsupported, with the build's reason."""
    status = "unsupported" if outcome.status == "unsupported" else "failed"
    return [CellRecord(cell_id=cell_id(variant, *c), variant=variant, steps=steps, runtime=runtime,
                       scenario=c.scenario, batch_size=c.batch_size, seq_len=c.seq_len, status=status,
                       reason=f"build: {outcome.reason}", error_kind="build_failed" if status == "failed" else None,
                       error_tail=outcome.error_tail, started_at=utc_now(), wall_s=0.0) for c in todo]


def echo_line(cell: CellRecord) -> str:
    """The terminal line(s) of a finished cell (rich markup)."""
    if cell.status != "ok":
        colour = "yellow" if cell.status == "unsupported" else "red"
        return f"[{colour}]{cell.status:11}[/] {cell.cell_id}: {cell.reason}"
    return SCENARIOS[cell.scenario].echo(cell)
