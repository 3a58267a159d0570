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
    console.print(view["rec_text"].replace("**", ""))
