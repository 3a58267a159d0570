"""The profiles of one fan-out run side by side (`bench run --executor ray`, issue #19): for each profile
x variant, its cheapest offline cell at the SLO's sequence length that meets the p99 SLO and the
quality floor (the suite's primary metric); rows that meet both first, cheapest USD per 1M first (rows without a price after them,
by throughput). A pure function of run records: `bench report` of a fan-out run prints it, and so does
the fan-out itself when it ends. `bench plan` over the same directories adds replicas under load.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.record import RunRecord, load_run
from bench.report.labels import has_price, measured_on, money, price_text
from bench.report.quality import Floor, primary_metric, quality_floor
from bench.report.rows import cell_rows


def fanout_run_dirs(run_dir: Path) -> list[Path]:
    """The run directories of the fan-out that `run_dir` belongs to (environment.cluster.fanout_run_ids,
    each beside it; those not found are left out), or [run_dir] for a run of one profile."""
    ids = (load_run(run_dir).environment.get("cluster") or {}).get("fanout_run_ids") or []
    found = [run_dir.parent / i for i in ids if (run_dir.parent / i / "run.json").is_file()]
    return found if run_dir.resolve() in [d.resolve() for d in found] else [run_dir]


def _why_not(cells: list[dict], at_len: list[dict], p99_slo: float, floor: Floor | None) -> str | None:
    if not at_len:
        statuses = sorted({r["status"] for r in cells} - {"ok"})
        return f"{'/'.join(statuses)}: see the report" if statuses else "no cell measured at the SLO's sequence length"
    if not any(r["p99_ms"] <= p99_slo for r in at_len):
        return f"p99 {min(r['p99_ms'] for r in at_len):.1f} ms > {p99_slo:g} ms"
    if floor is None:
        return "no reference value to judge the quality floor"
    side = "below" if floor.metric.higher else "above"
    return f"{floor.metric.label} {side} the floor {floor.threshold:.4f}"


def profile_rows(runs: list[RunRecord]) -> list[dict]:
    """One row per (profile, variant): profile, price, variant, its best cell's batch size, p99_ms,
    throughput_per_s, usd_per_million (None without a price), `quality` (the suite's primary metric, in
    `metric`), `meets` (SLO and the quality floor in the metric's direction), `why_not`,
    `measured_on`. Sorted: rows that meet first, then priced by USD/1M, then unpriced by throughput."""
    rows = []
    for run in runs:
        slo, (floor, _), cells = run.suite["slo"], quality_floor(run), cell_rows(run)
        metric = primary_metric(run)
        for variant in dict.fromkeys(r["variant"] for r in cells):
            mine = [r for r in cells if r["variant"] == variant]
            at_len = [r for r in mine if r["status"] == "ok" and r["seq_len"] == slo["seq_len"]]
            good = [r for r in at_len if r["p99_ms"] <= slo["p99_ms"] and floor is not None
                    and floor.meets(r[metric.name])]
            best = min(good or at_len, key=lambda r: -(r.get("throughput_per_s") or 0), default=None)
            rows.append({"profile": run.profile["name"], "instance": run.profile.get("instance"),
                         "price": price_text(run.profile), "priced": has_price(run.profile), "variant": variant,
                         "batch_size": best and best["batch_size"], "p99_ms": best and best["p99_ms"],
                         "throughput_per_s": best and best.get("throughput_per_s"),
                         "usd_per_million": best and best.get("usd_per_million"),
                         "quality": best and best[metric.name], "metric": metric.label, "meets": bool(good),
                         "why_not": None if good else _why_not(mine, at_len, slo["p99_ms"], floor),
                         "measured_on": measured_on(run)})
    return sorted(rows, key=lambda r: (not r["meets"], not r["priced"], r["usd_per_million"] or math.inf,
                                       -(r["throughput_per_s"] or 0), r["profile"], r["variant"]))


def print_profiles(rows: list[dict], console: Console) -> None:
    """The side-by-side table on the terminal (rich)."""
    table = Table(title="profiles side by side: each variant's cheapest cell within the p99 SLO and quality floor "
                        "(cheapest first)")
    for h in ("profile", "price", "variant", "batch", "p99 ms", "samples/s", "USD/1M", "quality", "measured on"):
        table.add_column(h, justify="left" if h in ("profile", "price", "variant", "measured on") else "right")
    for r in rows:
        figures = ([str(r["batch_size"]), f"{r['p99_ms']:.1f}", f"{r['throughput_per_s']:.1f}",
                    money(r, "usd_per_million", ".4f"), f"{r['metric']} {r['quality']:.4f}"] if r["batch_size"] is not None
                   else ["-", "-", "-", "-", "-"])
        if not r["meets"]:
            figures[-1] += f" ({r['why_not']})"
        table.add_row(r["profile"], r["price"], r["variant"], *figures, escape(r["measured_on"]),
                      style=None if r["meets"] else "dim")
    console.print(table)
