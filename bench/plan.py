"""Capacity plans from stored server-scenario results: replicas and dollars to serve Q requests per
second at a p99 of L ms, per (variant x profile) measured. A pure function of run records.

A replica's capacity at L is the highest offered QPS that a server-scenario probe of that cell passed
with its p99 upper bound within L; probes are only ever measured loads, so a plan never extrapolates
beyond them. Profiles that no run measured get no plan (no estimates across hardware), and two runs
that claim one profile but were measured on different hardware are refused. A profile without a price
still gets its replicas; its dollars read "no price" and such rows sort by replicas.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from bench.config import HIGHER, METRICS
from bench.cost import usd_per_million
from bench.errors import BenchError
from bench.record import RunRecord
from bench.report.labels import (
    NO_PRICE,
    hardware_identity,
    machine_description,
    measured_on,
    money,
    pricing_label,
    same_hardware,
)
from bench.report.quality import LABELS, primary_metric, quality_by_variant, quality_floor, value
from bench.server import capacity_summary, repetition_sweeps
from bench.traffic import LABELS as TRAFFIC_LABELS


@dataclass(frozen=True)
class PlanRow:
    profile: str
    instance: str
    price_usd_per_hour: float | None  # None: the profile has no price (local)
    variant: str
    run_id: str
    quality: float | None  # the run's primary metric (quality_metric), e.g. accuracy or RMSE
    quality_floor: float | None  # its floor's threshold (at least it, or at most where lower is better)
    capacity_qps: float | None  # per replica, at the plan's p99 (measured)
    max_batch_size: int | None
    max_queue_delay_ms: float | None
    p99_upper_ms_at_capacity: float | None
    replicas: int | None
    monthly_usd: float | None
    usd_per_million: float | None
    utilization: float | None  # of the replicas' measured capacity at the plan's traffic
    feasible: bool
    why_not: str | None = None
    measured_on: str | None = None  # the machine the run measured (labels.machine_description)
    pricing_label: str | None = None  # "measured on X, priced as Y" where the profile is other hardware
    quality_metric: str = "accuracy"  # config.METRICS name
    traffic: str = "fixed"  # the server cell's traffic model (bench/traffic.py): fixed-length or real
    # the capacity is the conservative figure (capacity_rule, e.g. "lowest of 3 repetitions") of the
    # repetitions' capacities at the plan's p99; the typical one (typical_rule) and its replicas beside it
    capacity_rule: str | None = None
    typical_capacity_qps: float | None = None
    typical_rule: str | None = None
    replicas_at_typical: int | None = None
    repetitions_qps: tuple[float | None, ...] = ()
    cell_id: str | None = None

    @property
    def priced(self) -> bool:
        return self.price_usd_per_hour is not None

    def to_dict(self) -> dict:
        """plan.json's row: the fields, and `price` as shown ("$0.0765/h" or "no price")."""
        return {**asdict(self), "price": f"${self.price_usd_per_hour:g}/h" if self.priced else NO_PRICE}


def refuse_mixed_hardware(runs: list[RunRecord], sources: list[str] | None = None) -> None:
    """Raise BenchError (exit 2) when two runs claim one profile but were measured on different
    hardware (microarchitecture, CPU model or GPU): their capacities cannot stand for one instance.
    `sources` names the runs (their directories); default: their run ids."""
    sources = sources or [r.run_id for r in runs]
    first: dict[str, int] = {}
    for i, run in enumerate(runs):
        j = first.setdefault(run.profile["name"], i)
        if not same_hardware(hardware_identity(runs[j]), hardware_identity(run)):
            raise BenchError(f"runs {sources[j]} and {sources[i]} both claim profile {run.profile['name']} but were "
                             f"measured on different hardware: {machine_description(runs[j])} vs "
                             f"{machine_description(run)}; plan them under different profiles, or measure again")


def _sort_key(r: PlanRow) -> tuple:
    """Feasible first; priced rows cheapest first, then rows without a price by fewest replicas; on a tie,
    the fixed-length traffic (the heavier) first."""
    better_first = -(r.quality or 0) if METRICS[r.quality_metric][0] == HIGHER else (r.quality or 0)
    return (not r.feasible, not r.priced, r.monthly_usd or 0.0, r.replicas or math.inf, better_first, r.variant,
            r.traffic != "fixed")


def capacity_at(server: dict, p99_ms: float) -> tuple[float, dict, dict] | None:
    """(QPS, setting, probe): the highest passing load over all batching settings at `p99_ms`."""
    best = None
    for setting in server.get("settings", []):
        for probe in setting["probes"]:
            ub = probe.get("p99_upper_ms")
            if ub is not None and ub <= p99_ms and (best is None or probe["offered_qps"] > best[0]):
                best = (probe["offered_qps"], setting, probe)
    return best


def replicas_for(qps: float, capacity_qps: float, headroom: float = 0.0) -> int:
    """Replicas that serve `qps` requests/s when each serves at most `capacity_qps` with `headroom` (a share,
    0 <= h < 1) kept spare: ceil(qps / (capacity * (1 - headroom)))."""
    return math.ceil(qps / (capacity_qps * (1.0 - headroom)) - 1e-9)


def monthly_usd(replicas: int, price_usd_per_hour: float, hours_per_month: float = 730.0) -> float:
    """USD per month of `replicas` running all month: replicas x price per hour x hours per month."""
    return replicas * price_usd_per_hour * hours_per_month


def make_plan(runs: list[RunRecord], qps: float, p99_ms: float, *, headroom: float = 0.0,
              hours_per_month: float = 730.0, sources: list[str] | None = None) -> list[PlanRow]:
    """Every (profile, variant, traffic model) with a server-scenario result; feasible plans first,
    cheapest first, each sized on its conservative capacity. Raises ValueError on bad numbers,
    BenchError on runs of one profile from different hardware."""
    if qps <= 0 or p99_ms <= 0 or not 0 <= headroom < 1 or hours_per_month <= 0:
        raise ValueError("need qps > 0, p99_ms > 0, 0 <= headroom < 1 and hours_per_month > 0")
    refuse_mixed_hardware(runs, sources)
    demand = (qps, p99_ms, headroom, hours_per_month)
    return sorted((_row(run, cell, demand) for run in runs for cell in run.cells if cell.scenario == "server"),
                  key=_sort_key)


def _base(run: RunRecord, cell) -> dict:
    prof, metric = run.profile, primary_metric(run)
    floor, _ = quality_floor(run)
    quality = quality_by_variant(run)
    q = value(quality.get(cell.variant), metric.name) if cell.variant in quality else None
    return dict(profile=prof["name"], instance=prof["instance"], price_usd_per_hour=prof["price_usd_per_hour"],
                variant=cell.variant, run_id=run.run_id, quality=q, quality_metric=metric.name,
                quality_floor=floor.threshold if floor else None, capacity_qps=None, max_batch_size=None,
                max_queue_delay_ms=None, p99_upper_ms_at_capacity=None, replicas=None, monthly_usd=None,
                usd_per_million=None, utilization=None, feasible=False, measured_on=measured_on(run),
                pricing_label=pricing_label(run), cell_id=cell.cell_id,
                traffic=cell.traffic or "fixed")


def _row(run: RunRecord, cell, demand: tuple) -> PlanRow:
    """One server cell's plan row: not planned (why), or replicas sized on its conservative capacity."""
    base = _base(run, cell)
    floor, _ = quality_floor(run)
    q, metric = base["quality"], primary_metric(run)
    if cell.status != "ok":
        return PlanRow(**base, why_not=f"server scenario {cell.status}: {cell.reason}")
    if floor is None or q is None or math.isnan(q):
        return PlanRow(**base, why_not=f"no {metric.label} to judge against the floor")
    if not floor.meets(q):
        return PlanRow(**base, why_not=floor.misses(q))
    qps, p99_ms, headroom, hours = demand
    caps = [capacity_at(sweep, p99_ms) for sweep in repetition_sweeps(cell.server)]
    summary = capacity_summary([c[0] if c else None for c in caps])
    base.update(capacity_rule=summary["conservative_rule"], typical_rule=summary["typical_rule"],
                typical_capacity_qps=summary["typical_qps"], repetitions_qps=tuple(summary["repetitions_qps"]))
    if summary["conservative_qps"] is None:
        return PlanRow(**base, why_not=_why_no_capacity(cell.server, p99_ms, caps))
    capacity, setting, probe = min((c for c in caps if c), key=lambda c: c[0])
    replicas = replicas_for(qps, capacity, headroom)
    price = base["price_usd_per_hour"]
    return PlanRow(**{**base, "capacity_qps": capacity, "max_batch_size": setting["max_batch_size"],
                      "max_queue_delay_ms": setting["max_queue_delay_ms"],
                      "p99_upper_ms_at_capacity": probe["p99_upper_ms"], "replicas": replicas,
                      "replicas_at_typical": replicas_for(qps, summary["typical_qps"], headroom),
                      "monthly_usd": replicas * price * hours if price is not None else None,
                      # the replicas' hourly price over the traffic served (monthly $ / requests per month)
                      "usd_per_million": usd_per_million(replicas * price, qps) if price is not None else None,
                      "utilization": qps / (replicas * capacity), "feasible": True})




def _why_no_capacity(server: dict, p99_ms: float, caps: list | None = None) -> str:
    if caps and any(caps):
        missing = [i for i, c in enumerate(caps, 1) if c is None]
        return (f"repetition {', '.join(map(str, missing))} of {len(caps)} found no measured load within p99 "
                f"{p99_ms:g} ms (the others: {', '.join(f'{c[0]:.1f}' for c in caps if c)} QPS), so there is no "
                "conservative capacity")
    probes = [p for s in server.get("settings", []) for p in s["probes"]]
    if not probes:
        return "no server-scenario probes"
    lowest = min(probes, key=lambda p: p["offered_qps"])
    seen = lowest["p99_upper_ms"] if lowest["p99_upper_ms"] is not None else lowest["p99_ms"]
    return (f"no measured load meets p99 {p99_ms:g} ms: at the lowest probed load, {lowest['offered_qps']:.1f} QPS, "
            f"the p99 was {seen:.1f} ms" + ("" if lowest["p99_upper_ms"] is not None else " (probe stopped early)"))


def traffic_label(row: PlanRow) -> str:
    return TRAFFIC_LABELS.get(row.traffic, row.traffic)


def named(row: PlanRow, rows: list[PlanRow]) -> str:
    """The variant, with its traffic model where the rows have more than one, or it is not the fixed-length
    one: "int8 (fixed-length)", "int8 (real-length)"; plain "int8" in a plan of fixed-length cells only."""
    if row.traffic == "fixed" and all(r.traffic == "fixed" for r in rows):
        return row.variant
    return f"{row.variant} ({traffic_label(row)})"


def profile_named(row: PlanRow, rows: list[PlanRow]) -> str:
    """The profile, with the run id where the rows hold several runs of that profile (two runs of one
    machine give two rows per variant that would otherwise read as duplicates)."""
    if len({r.run_id for r in rows if r.profile == row.profile}) < 2:
        return row.profile
    return f"{row.profile} (run {row.run_id})"


def replicas_text(row: PlanRow) -> str:
    """"2" or, where the typical capacity needs fewer, "2 (1 at typical)"."""
    if row.replicas_at_typical is None or row.replicas_at_typical == row.replicas:
        return str(row.replicas)
    return f"{row.replicas} ({row.replicas_at_typical} at typical)"


def capacity_text(row: PlanRow) -> str:
    """"412.0" (one repetition) or "412.0 (lowest of 3 repetitions; typical 455.1)"."""
    if len(row.repetitions_qps) < 2:
        return f"{row.capacity_qps:.1f}"
    typical = "-" if row.typical_capacity_qps is None else f"{row.typical_capacity_qps:.1f}"
    return f"{row.capacity_qps:.1f} ({row.capacity_rule}; typical {typical})"


def quality_header(rows: list[PlanRow]) -> str:
    """The quality column's header: the metric's label ("accuracy", "RMSE"), or "quality" where runs differ."""
    names = {r.quality_metric for r in rows}
    return LABELS.get(names.pop(), "quality") if len(names) == 1 else "quality"


def plan_markdown(rows: list[PlanRow], qps: float, p99_ms: float, headroom: float, hours_per_month: float) -> str:
    """plan.md: the feasible rows ranked, each profile with its price (or "no price") and, where the
    run was measured on other hardware than the profile stands for, its label; then the rows not planned."""
    lines = [f"# Capacity plan: {qps:g} requests/s at p99 {p99_ms:g} ms", "",
             f"Headroom {headroom:.0%}, {hours_per_month:g} hours per month. Capacity per replica is the highest "
             "offered load that the server scenario measured with its p99 upper bound (99% confidence) within the "
             "target; nothing is extrapolated to hardware that was not measured. Where a cell was measured in several "
             "independent repetitions (fresh processes), the plan is sized on the conservative capacity (the lowest "
             "repetition) and shows the replicas the typical capacity (their median) would need beside it. Fixed-length "
             "traffic pads every request to the suite's slo.seq_len; real-length traffic pads each batch to its longest request.", ""]
    labels = sorted({r.pricing_label for r in rows if r.pricing_label})
    lines += [f"> **Warning: {label}**; its dollar figures apply that machine's speed to another instance's price."
              for label in labels] + ([""] if labels else [])
    lines += [f"| # | profile | variant | {quality_header(rows)} | QPS per replica | batching | replicas | utilization | "
              "USD per month | USD per 1M |", "|---|---|---|---|---|---|---|---|---|---|"]
    feasible = [r for r in rows if r.feasible]
    for i, r in enumerate(feasible, 1):
        price = f"${r.price_usd_per_hour}/h" if r.priced else NO_PRICE
        label = f"; **{r.pricing_label}**" if r.pricing_label else ""
        lines.append(f"| {i} | {profile_named(r, rows)} ({r.instance}, {price}{label}) | {named(r, rows)} | "
                     f"{r.quality:.4f} | {capacity_text(r)} | max {r.max_batch_size}, {r.max_queue_delay_ms:g} ms | "
                     f"{replicas_text(r)} | {r.utilization:.0%} | {money(r, 'monthly_usd', ',.2f')} | "
                     f"{money(r, 'usd_per_million', '.4f')} |")
    if not feasible:
        lines.append("| - | no measured cell can serve this | | | | | | | | |")
    others = [r for r in rows if not r.feasible]
    if others:
        lines += ["", "Not planned:", ""] + [f"- {profile_named(r, rows)} / {named(r, rows)}: {r.why_not}" for r in others]
    return "\n".join(lines) + "\n"
