"""What `bench plan` prints on the terminal: the plan table (with the pricing labels) and the verdict
of `--verify`. Pure functions of the plan rows and the verification record."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.plan import PlanRow, capacity_text, named, profile_named, quality_header, replicas_text
from bench.report.labels import money

COLUMNS = ("profile", "variant", "quality", "QPS/replica", "replicas", "util.", "USD/month", "USD/1M", "note")


def print_plan(rows: list[PlanRow], qps: float, p99_ms: float, headroom: float, console: Console) -> None:
    """The plan table, cheapest first (rows without a price by replicas); a warning line per run measured
    on other hardware than its profile stands for."""
    table = Table(title=f"capacity plan: {qps:g} requests/s at p99 {p99_ms:g} ms (headroom {headroom:.0%}, cheapest "
                        "first; replicas for the conservative capacity, the lowest repetition)")
    for h in COLUMNS:
        h = quality_header(rows) if h == "quality" else h
        table.add_column(h, justify="left" if h in ("profile", "variant", "note") else "right")
    for r in rows:
        if r.feasible:
            table.add_row(profile_named(r, rows), named(r, rows), f"{r.quality:.4f}", capacity_text(r), replicas_text(r),
                          f"{r.utilization:.0%}", money(r, "monthly_usd", ",.2f"), money(r, "usd_per_million", ".4f"),
                          r.pricing_label or "")
        else:
            table.add_row(profile_named(r, rows), named(r, rows), "-" if r.quality is None else f"{r.quality:.4f}", "-", "-",
                          "-", "-", "-", r.why_not, style="dim")
    console.print(table)
    if not any(r.feasible for r in rows):
        console.print(no_plan_line(qps, p99_ms), soft_wrap=True)
    for label in sorted({r.pricing_label for r in rows if r.pricing_label}):
        console.print(f"[bold red]warning:[/] {escape(label)}", soft_wrap=True)


def no_plan_line(qps: float, p99_ms: float) -> str:
    """The verdict when no (profile, variant) can serve the traffic: `bench plan` still exits 0 (the plan
    was made, and says why each row was left out); README, Commands."""
    return (f"[bold]no variant meets {qps:g} requests/s within p99 {p99_ms:g} ms and the quality floor[/] on the "
            "measured profiles: the note of each row says why (measure more replicas' worth of load, a faster "
            "variant or profile, or relax the p99)")


def print_verification(verification: dict, per_replica_qps: float, p99_ms: float, console: Console) -> None:
    """One line: whether the served load met the p99 (with the probe's figures), or why it was not run."""
    v = verification
    if "probe" not in v:
        console.print(f"verification: {v['status']}: {escape(str(v['reason']))}")
        return
    p = v["probe"]
    bound = p["p99_upper_ms"] if p["p99_upper_ms"] is not None else float("nan")
    console.print(f"verification: [bold]{v['status']}[/]: {p['completed']} requests at {per_replica_qps:.1f}/s, p99 "
                  f"{p['p99_ms']:.1f} ms, 99%-confidence bound {bound:.1f} ms (target {p99_ms:g} ms)")
