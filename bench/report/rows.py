"""A flat table of a run's cells, with summaries recomputed from the raw samples, and the recommendation
judged on the suite's primary quality metric (bench.report.quality)."""

from __future__ import annotations

import math

from bench.record import RunRecord
from bench.report.capacity import capacity_of, traffic_label, traffic_of
from bench.report.labels import has_price, measured_and_priced, replica_name
from bench.report.pareto import pareto_front
from bench.report.quality import (
    Floor,
    Metric,
    format_interval,
    interval,
    paired_accuracy_interval,
    primary_metric,
    quality_by_variant,
    quality_floor,
    reference_variant,
    value,
)
from bench.stats import summarize_ms

__all__ = ["quality_by_variant", "reference_variant"]  # re-exported: plan, history and benchmarks read them here

# The frontier is over the primary metric (in its direction), "cost" (down) and p99 (down). "cost" is USD
# per 1M, or 1/throughput where the profile has no price: with one price for every cell,
# USD/1M = price / (samples/s * 3600) * 1e6 is proportional to 1/throughput, so the frontier is the same.
COST_AND_LATENCY = (("cost", "min"), ("p99_ms", "min"))


def quality_columns(metric: Metric, q: dict | None) -> dict:
    """The row's quality figures: each shown metric (the primary first), then the primary's interval
    (for accuracy: accuracy, macro_f1, accuracy_ci_low, accuracy_ci_high, as before task kinds)."""
    ci = interval(q, metric.name) or (math.nan, math.nan)
    return {**{m: value(q, m) for m in metric.shown()},
            f"{metric.name}_ci_low": ci[0], f"{metric.name}_ci_high": ci[1]}


def cell_rows(run: RunRecord) -> list[dict]:
    """One row per offline cell. `priced` is False where the profile has no price; then usd_per_million
    is None and the formatters show "no price"."""
    quality = quality_by_variant(run)
    metric = primary_metric(run)
    priced = has_price(run.profile)
    rows = []
    for c in run.cells:
        if c.scenario != "offline":
            continue
        row = {"variant": c.variant, "steps": "+".join(c.steps), "runtime": c.runtime, "batch_size": c.batch_size,
               "seq_len": c.seq_len, "status": c.status, "reason": c.reason, "priced": priced,
               **quality_columns(metric, quality.get(c.variant))}
        if c.status == "ok":
            s = summarize_ms(c.latency["samples_ms"])
            row.update({f"{k}_ms": s[k] for k in ("p50", "p90", "p95", "p99", "mean", "std")},
                       cv=s["cv"], samples=s["count"], stopped_by=c.latency.get("stopped_by"),
                       processes=len(c.latency.get("process_sample_counts") or [1]),
                       between_process_cv=(c.latency.get("summary") or {}).get("between_process_cv"),
                       throughput_per_s=c.throughput_samples_per_s,
                       usd_per_million=(c.cost or {}).get("usd_per_million") if priced else None,
                       peak_rss_mib=(c.memory or {}).get("peak_rss_mib"))
            if c.latency.get("device_ms"):  # CUDA: the same calls timed by CUDA events
                row["p50_device_ms"] = summarize_ms(c.latency["device_ms"])["p50"]
            if c.latency.get("end_to_end"):  # CUDA: host-to-device copies and logits back included
                row["p50_end_to_end_ms"] = summarize_ms(c.latency["end_to_end"]["samples_ms"])["p50"]
            for k in ("gpu_max_allocated_mib", "gpu_max_reserved_mib", "gpu_peak_nvml_used_mib"):
                if (c.memory or {}).get(k) is not None:
                    row[k] = c.memory[k]
            if (c.energy or {}).get("status") == "ok":
                row["energy_per_inference_j"] = c.energy["energy_per_inference_j"]
        row.update(parameters=(c.model or {}).get("parameters"), size_on_disk_mib=(c.model or {}).get("size_on_disk_mib"))
        rows.append(row)
    add_speedups(rows, reference_variant(run))
    return rows


def add_speedups(rows: list[dict], reference: str | None) -> None:
    """`speedup_vs_ref`: throughput over the reference variant's at the same batch size and length."""
    ref = {(r["batch_size"], r["seq_len"]): r.get("throughput_per_s") for r in rows
           if r["variant"] == reference and r["status"] == "ok"}
    for r in rows:
        base = ref.get((r["batch_size"], r["seq_len"]))
        r["speedup_vs_ref"] = r["throughput_per_s"] / base if base and r.get("throughput_per_s") else math.nan


def cost_of(row: dict) -> float:
    """USD per 1M, or where there is no price 1/throughput (s per sample), which ranks cells the same."""
    if row.get("priced", True):
        return _num(row.get("usd_per_million"))
    return 1.0 / row["throughput_per_s"] if row.get("throughput_per_s") else math.nan


def frontier_rows(rows: list[dict], seq_len: int, metric: Metric = Metric("accuracy")) -> list[dict]:
    """Ok rows at `seq_len`, each marked `on_frontier` over (the metric in its direction, cost down, p99 down)."""
    pts = [r for r in rows if r["status"] == "ok" and r["seq_len"] == seq_len]
    values = [[_num(r.get(metric.name)), cost_of(r), _num(r.get("p99_ms"))] for r in pts]
    front = set(pareto_front(values, [metric.direction] + [d for _, d in COST_AND_LATENCY]))
    return [{**r, "on_frontier": i in front} for i, r in enumerate(pts)]


def _num(v) -> float:
    return math.nan if v is None else float(v)


def recommend(run: RunRecord, rows: list[dict]) -> dict:
    """The cheapest cell at the SLO's sequence length that meets the p99 SLO and the quality floor on the
    primary metric. `decided` is False where the test split cannot tell: the 95% interval of the choice,
    or of a cheaper cell within the SLO that the floor left out, contains the floor (`undecided` names them).
    `accuracy_floor` is the floor's threshold on the primary metric (named after slo.accuracy_floor)."""
    slo = run.suite["slo"]
    floor, why = quality_floor(run)
    out = {"seq_len": slo["seq_len"], "p99_ms": slo["p99_ms"], "accuracy_floor_relative": slo["accuracy_floor"],
           "metric": primary_metric(run), "floor": floor, "reference_variant": floor.reference if floor else None,
           "reference_accuracy": floor.reference_value if floor else None, "choice": None, "undecided": [],
           "decided": True}
    if floor is None:
        out.update(reference_variant=reference_variant(run), why_none=why)
        return out
    out["accuracy_floor"] = floor.threshold
    name = floor.metric.name
    at_len = [r for r in rows if r["status"] == "ok" and r["seq_len"] == slo["seq_len"]]
    fast = [r for r in at_len if r["p99_ms"] <= slo["p99_ms"]]
    good = [r for r in fast if floor.meets(r[name])]
    if good:  # without a price, the highest throughput is the cheapest at any one price
        out["choice"] = min(good, key=cost_of)
    elif not at_len:
        out["why_none"] = f"no cell was measured successfully at sequence length {slo['seq_len']}"
    elif not fast:
        best = min(at_len, key=lambda r: r["p99_ms"])
        out["why_none"] = (f"no cell meets the p99 SLO of {slo['p99_ms']:g} ms; the lowest p99 is "
                           f"{best['p99_ms']:.1f} ms ({best['variant']}, batch {best['batch_size']})")
    else:
        out["why_none"] = f"every cell within the SLO is {_side(floor)} the {floor.metric.label} floor {floor.threshold:.4f}"
    out["undecided"] = undecided_cells(fast, out["choice"], floor, quality_by_variant(run))
    out["decided"] = not out["undecided"]
    return out


def _side(floor: Floor) -> str:
    return "below" if floor.metric.higher else "above"


def _interval_of(row: dict, name: str) -> tuple[float, float] | None:
    lo, hi = row.get(f"{name}_ci_low"), row.get(f"{name}_ci_high")
    return None if lo is None or hi is None or math.isnan(lo) or math.isnan(hi) else (lo, hi)


def undecided_cells(fast: list[dict], choice: dict | None, floor: Floor, qualities: dict | None = None) -> list[dict]:
    """The variants whose side of the floor decides the recommendation and whose 95% interval contains
    the floor: the choice, and the cells within the SLO cheaper than it (all of them where there is no
    choice) that miss the floor. A relative accuracy floor is judged on the interval paired with the
    reference (quality.paired_accuracy_interval) where both predictions are stored; else on the
    variant's own interval. One entry per variant: {"variant", "value", "ci", "paired"}."""
    name, qualities = floor.metric.name, qualities or {}
    cheaper = [r for r in fast if choice is None or (r is not choice and cost_of(r) < cost_of(choice))]
    deciding = ([choice] if choice else []) + [r for r in cheaper if not floor.meets(r[name])]
    out: dict[str, dict] = {}
    for r in deciding:
        paired = paired_accuracy_interval(qualities.get(r["variant"]), qualities.get(floor.reference), floor)
        ci = paired or _interval_of(r, name)
        if floor.undecided(ci) and r["variant"] not in out:
            out[r["variant"]] = {"variant": r["variant"], "value": r[name], "ci": ci, "paired": paired is not None}
    return list(out.values())


def undecided_text(rec: dict, run: RunRecord) -> str:
    """"Not decided: ..." where the test split cannot tell a deciding variant from the floor; "" otherwise."""
    if rec["decided"]:
        return ""
    floor = rec["floor"]
    label = floor.metric.label
    sizes = sorted({int(q["n_examples"]) for q in quality_by_variant(run).values() if q.get("n_examples")})
    split = f"the test split ({', '.join(f'{n:,}' for n in sizes)} examples)" if sizes else "the test split"
    each = "; ".join(f"{u['variant']} {label} {u['value']:.4f}, 95% CI {format_interval(u['ci'])}"
                     + (f" paired with {floor.reference}" if u.get("paired") else "") for u in rec["undecided"])
    return (f" **Not decided:** {split} cannot tell whether {', '.join(u['variant'] for u in rec['undecided'])} "
            f"meet{'s' if len(rec['undecided']) == 1 else ''} the floor {floor.threshold:.4f}: the 95% interval "
            f"contains it ({each}). A larger test split (task.max_test_rows, or more data) narrows the intervals.")


def recommendation_text(rec: dict, run: RunRecord) -> str:
    """The recommendation in one paragraph, opening with the machine measured and the profile priced
    (and whether they agree); without a price it ranks by throughput and says so. Ends "Not decided"
    where the test split cannot tell the deciding variants from the floor."""
    slo = f"the p99 SLO of {rec['p99_ms']:g} ms at sequence length {rec['seq_len']}"
    metric = rec["metric"]
    floor = rec["floor"].describe() if rec["floor"] else f"the {metric.label} floor"
    opening = measured_and_priced(run)
    if rec["choice"] is None:
        return f"{opening}: no variant meets both {slo} and {floor}: {rec['why_none']}." + undecided_text(rec, run)
    c = rec["choice"]
    if has_price(run.profile):
        best = (f"the cheapest variant that meets {slo} and {floor} is **{c['variant']}** ({c['runtime']}) at batch "
                f"size {c['batch_size']}: ${c['usd_per_million']:.3f} per 1M inferences, ")
    else:  # one (unknown) price for every cell: the highest throughput is the cheapest
        best = (f"cells are ranked by throughput instead (at one price for all, the highest samples/s is the "
                f"cheapest): the fastest variant that meets {slo} and {floor} is **{c['variant']}** ({c['runtime']}) "
                f"at batch size {c['batch_size']}: ")
    ci = _interval_of(c, metric.name)
    return (f"{opening}: {best}p99 {c['p99_ms']:.1f} ms per batch, {c['throughput_per_s']:.0f} samples/s, {metric.label} "
            f"{c[metric.name]:.4f} (95% CI {format_interval(ci)}). The p99 here is the "
            f"latency of a whole batch on an idle machine, not of a request under load; queueing is not included."
            + undecided_text(rec, run))


def _samples_at_capacity(cell) -> list[float]:
    """The request latencies at the cell's capacity: those of the repetition that set the conservative
    figure (pooling repetitions would mix loads), or the cell's one process."""
    k = (cell.server or {}).get("conservative_repetition")
    return list(cell.processes[k - 1].samples_ms) if k else cell.latency["samples_ms"]


def server_rows(run: RunRecord) -> list[dict]:
    """One row per server-scenario cell: the highest QPS within the SLO, its batching and its latency,
    `quality` the variant's primary metric (`priced` False and usd_per_million None where the profile has no price)."""
    quality = quality_by_variant(run)
    metric = primary_metric(run)
    priced = has_price(run.profile)
    out = []
    served = [c for c in run.cells if c.scenario == "server"]
    several = len({traffic_of(c)["name"] for c in served}) > 1
    for c in served:
        q = quality.get(c.variant) or {}
        row = {"variant": c.variant, "cell_id": c.cell_id, "runtime": c.runtime, "status": c.status, "reason": c.reason,
               "quality": value(q, metric.name), "max_qps": None, "probes": [], "priced": priced,
               "traffic": traffic_label(c), "capacity": capacity_of(c),
               "label": f"{c.variant} ({traffic_label(c)})" if several else c.variant}
        if c.status == "ok":
            best = c.server["best"]
            row["probes"] = [{**p, "max_batch_size": s["max_batch_size"], "max_queue_delay_ms": s["max_queue_delay_ms"]}
                             for s in c.server["settings"] for p in s["probes"]]
            if best is None:
                row["reason"] = "no probed load met the SLO"
            else:
                s = summarize_ms(_samples_at_capacity(c))
                probe = max((p for p in row["probes"] if p["passed"] and p["max_batch_size"] == best["max_batch_size"]
                             and p["max_queue_delay_ms"] == best["max_queue_delay_ms"]), key=lambda p: p["offered_qps"])
                row.update(max_qps=best["max_qps"], max_batch_size=best["max_batch_size"],
                           max_queue_delay_ms=best["max_queue_delay_ms"], p50_ms=s["p50"], p99_ms=s["p99"],
                           p99_upper_ms=probe["p99_upper_ms"], mean_batch_size=probe["mean_batch_size"],
                           requests=s["count"], usd_per_million=(c.cost or {}).get("usd_per_million") if priced else None)
        out.append(row)
    return out


def recommend_under_load(run: RunRecord, rows: list[dict]) -> str | None:
    """The cheapest variant per request at its highest load within the SLO that meets the quality floor
    (without a price: the one with the highest load, which is the cheapest at any one price)."""
    if not rows:
        return None
    slo = run.suite["slo"]
    floor, _ = quality_floor(run)
    if floor is None:
        return None
    good = [r for r in rows if r["max_qps"] and floor.meets(r["quality"])]
    opening = (f"{measured_and_priced(run)}. Under load (Poisson arrivals, dynamic batching, p99 per "
               "request including queueing)")
    within = "above" if floor.metric.higher else "within"
    if not good:
        return (f"{opening}, no variant {within} the {floor.metric.label} floor {floor.threshold:.4f} keeps its p99 "
                f"per request within {slo['p99_ms']:g} ms at any measured load.")
    priced = has_price(run.profile)
    c = min(good, key=lambda r: r["usd_per_million"]) if priced else max(good, key=lambda r: r["max_qps"])
    money = (f"${c['usd_per_million']:.3f} per 1M requests at that load" if priced
             else "no price, so ranked by requests/s (at one price for all, the most requests/s is the cheapest)")
    return (f"{opening}, the cheapest is **{c['variant']}**: {replica_name(run.profile)} serves "
            f"{c['max_qps']:.1f} requests/s within p99 {slo['p99_ms']:g} ms (measured p99 {c['p99_ms']:.1f} ms, "
            f"99%-confidence bound {c['p99_upper_ms']:.1f} ms; max batch {c['max_batch_size']}, queue delay "
            f"{c['max_queue_delay_ms']:g} ms): {money}, {floor.metric.label} {c['quality']:.4f}.")
