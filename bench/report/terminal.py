"""The table printed on the terminal after a run (rich)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.record import load_run
from bench.report.render import TABLE_COLUMNS, build_view, fmt


def print_summary(run_dir: Path, console: Console) -> None:
    view = build_view(load_run(run_dir))
    table = Table(title=f"{view['run'].suite_name} on {view['run'].profile['name']} (* = Pareto frontier at seq {view['seq']})")
    for _, header in TABLE_COLUMNS:
        table.add_column(header, justify="left" if header in ("variant", "runtime", "status") else "right")
    front = {(p["variant"], p["batch_size"]) for p in view["frontier"]}
    for r in view["rows"]:
        mark = r["seq_len"] == view["seq"] and (r["variant"], r["batch_size"]) in front
        cells = [fmt(k, r.get(k)) for k, _ in TABLE_COLUMNS]
        cells[0] = ("* " if mark else "  ") + cells[0]
        table.add_row(*cells, style="bold" if mark else ("red" if r["status"] == "failed" else None))
    console.print(table)
    print_speedups(view, console)
    console.print(view["rec_text"].replace("**", ""))


def print_speedups(view: dict, console: Console) -> None:
    """Throughput relative to the full fine-tune at the largest batch and the SLO's length."""
    ok = [r for r in view["rows"] if r["status"] == "ok" and r["seq_len"] == view["seq"]]
    if not ok:
        return
    bs = max(r["batch_size"] for r in ok)
    table = Table(title=f"speed-up vs full at batch {bs}, sequence length {view['seq']}")
    for header in ("variant", "samples/s", "x full", "accuracy", "p99 ms", "USD/1M"):
        table.add_column(header, justify="left" if header == "variant" else "right")
    for r in sorted((r for r in ok if r["batch_size"] == bs), key=lambda r: -r["throughput_per_s"]):
        table.add_row(r["variant"], fmt("throughput_per_s", r["throughput_per_s"]), fmt("speedup_vs_ref", r["speedup_vs_ref"]),
                      fmt("accuracy", r["accuracy"]), fmt("p99_ms", r["p99_ms"]), fmt("usd_per_million", r["usd_per_million"]))
    console.print(table)
