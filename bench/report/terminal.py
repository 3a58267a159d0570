"""The table printed on the terminal after a run (rich)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bench.record import load_run
from bench.report.render import build_view, cell, fmt

TERMINAL_LEAVES_OUT = ("samples", "processes")  # report.md/html have them; the terminal keeps the between-process CV


def print_header(view: dict, console: Console) -> None:
    """The machine measured and the profile priced; a mismatch in bold red above everything else."""
    console.print(escape(view["header"]), soft_wrap=True)
    if view["warning"]:
        console.print(f"[bold red]warning: {escape(view['warning'])}[/]", soft_wrap=True)


def print_summary(run_dir: Path, console: Console) -> None:
    view = build_view(load_run(run_dir))
    print_header(view, console)
    table = Table(title=f"{view['run'].suite_name} on {view['run'].profile['name']} (* = Pareto frontier at seq {view['seq']})")
    columns = [c for c in view["columns"] if c[0] not in TERMINAL_LEAVES_OUT]
    for _, header in columns:
        table.add_column(header, justify="left" if header in ("variant", "runtime", "status") else "right")
    front = {(p["variant"], p["batch_size"]) for p in view["frontier"]}
    for r in view["rows"]:
        if r["status"] == "unsupported":  # said once per variant under the table
            continue
        mark = r["seq_len"] == view["seq"] and (r["variant"], r["batch_size"]) in front
        cells = [cell(r, k) for k, _ in columns]
        cells[0] = ("* " if mark else "  ") + cells[0]
        table.add_row(*cells, style="bold" if mark else ("red" if r["status"] == "failed" else None))
    console.print(table)
    if view["pricing_label"]:  # the dollars of every table here
        console.print(f"[bold red]USD figures: {escape(view['pricing_label'])}[/]", soft_wrap=True)
    for g in view["failed"]:
        colour = "red" if g["status"] == "failed" else "yellow"
        console.print(f"[{colour}]{escape(g['variant'])}[/] ({escape(', '.join(g['cells']))}): {g['status']}: "
                      f"{escape(g['reason'] or '')}")
    for w in view["warnings"]:
        console.print(f"[yellow]warning[/]: {escape(w['warning'])} ({escape(', '.join(w['cells']))})")
    print_speedups(view, console)
    print_servers(view, console)
    console.print(view["rec_text"].replace("**", ""))
    if view["rec_load_text"]:
        console.print(view["rec_load_text"].replace("**", ""))


def _capacity(row: dict) -> str:
    """"436.8" or, over several repetitions, "436.8 (lowest of 3; median 600.1)": the conservative figure first."""
    cap = row.get("capacity") or {}
    if (cap.get("repetitions") or 1) < 2 or cap.get("typical_qps") is None:
        return f"{row['max_qps']:.1f}"
    return f"{row['max_qps']:.1f} (lowest of {cap['repetitions']}; median {cap['typical_qps']:.1f})"


def print_servers(view: dict, console: Console) -> None:
    if not view["servers"]:
        return
    slo = view["run"].suite["slo"]["p99_ms"]
    metric = view["metric"]
    table = Table(title=f"server scenario: highest Poisson load with p99 per request within {slo:g} ms")
    for h in ("variant", metric.label, "max QPS", "batching", "p50 ms", "p99 ms", "p99 bound ms", "USD/1M"):
        table.add_column(h, justify="left" if h in ("variant", "batching") else "right")
    for r in sorted(view["servers"], key=lambda r: -(r["max_qps"] or 0)):
        if r["max_qps"]:
            table.add_row(r.get("label", r["variant"]), fmt(metric.name, r["quality"]), _capacity(r),
                          f"max {r['max_batch_size']}, {r['max_queue_delay_ms']:g} ms", f"{r['p50_ms']:.1f}",
                          f"{r['p99_ms']:.1f}", f"{r['p99_upper_ms']:.1f}", cell(r, "usd_per_million"))
        else:
            table.add_row(r.get("label", r["variant"]), fmt(metric.name, r["quality"]), "-", r["reason"] or r["status"], "", "", "", "",
                          style="dim")
    console.print(table)


def print_speedups(view: dict, console: Console) -> None:
    """Throughput relative to the full fine-tune at the largest batch and the SLO's length."""
    ok = [r for r in view["rows"] if r["status"] == "ok" and r["seq_len"] == view["seq"]]
    if not ok:
        return
    bs = max(r["batch_size"] for r in ok)
    table = Table(title=f"speed-up vs full at batch {bs}, sequence length {view['seq']}")
    metric = view["metric"]
    for header in ("variant", "samples/s", "x full", metric.label, "p99 ms", "USD/1M"):
        table.add_column(header, justify="left" if header == "variant" else "right")
    for r in sorted((r for r in ok if r["batch_size"] == bs), key=lambda r: -r["throughput_per_s"]):
        table.add_row(r["variant"], fmt("throughput_per_s", r["throughput_per_s"]), fmt("speedup_vs_ref", r["speedup_vs_ref"]),
                      fmt(metric.name, r[metric.name]), fmt("p99_ms", r["p99_ms"]), cell(r, "usd_per_million"))
    console.print(table)
