"""Measurement notes (issue #20): what stands behind each figure. Per offline cell, the worker processes
and samples its latency pools (bench.results.pooled_latency) and how much the per-process medians differ
(bench.stats.between_process_cv), flagged above bench.stats.HIGH_CV as the within-process CV is; per
server cell, the repeated peak searches behind its capacity."""

from __future__ import annotations

from bench.report.capacity import spread_text
from bench.stats import HIGH_CV


def spread_flag(row: dict) -> str | None:
    """Why the row's figures vary too much to read as one number, or None: a between-process or a
    within-process coefficient of variation above HIGH_CV."""
    why = []
    if (row.get("between_process_cv") or 0) > HIGH_CV:
        why.append(f"the {row['processes']} processes' medians differ by CV {row['between_process_cv']:.0%}")
    if (row.get("cv") or 0) > HIGH_CV:
        why.append(f"samples within the cell vary by CV {row['cv']:.0%}")
    return "; ".join(why) or None


def offline_notes(rows: list[dict]) -> dict:
    """{"cells": n ok, "processes": sorted distinct process counts, "samples": (min, max), "flagged":
    [{"variant", "batch_size", "seq_len", "processes", "samples", "why"}], "single": cells of one process}."""
    ok = [r for r in rows if r["status"] == "ok"]
    flagged = [{**{k: r[k] for k in ("variant", "batch_size", "seq_len", "processes", "samples")}, "why": why}
               for r in ok if (why := spread_flag(r))]
    return {"cells": len(ok), "processes": sorted({r["processes"] for r in ok}),
            "samples": (min((r["samples"] for r in ok), default=0), max((r["samples"] for r in ok), default=0)),
            "flagged": flagged, "single": sum(r["processes"] == 1 for r in ok), "high_cv": HIGH_CV}


def server_notes(servers: list[dict]) -> list[dict]:
    """Per served cell: its label, repetitions and the spread of its capacity in words."""
    return [{"cell_id": r["cell_id"], "variant": r["variant"], "traffic": r["traffic"],
             "repetitions": r["capacity"]["repetitions"], "spread": spread_text(r["capacity"])}
            for r in servers if r.get("capacity")]


def notes_summary(notes: dict) -> str:
    """One sentence on the offline figures: cells, processes each, samples, and how many are flagged."""
    procs = " or ".join(str(p) for p in notes["processes"]) or "0"
    lo, hi = notes["samples"]
    samples = f"{lo}" if lo == hi else f"{lo}-{hi}"
    text = (f"{notes['cells']} offline cells, each pooled from {procs} worker process(es), {samples} samples per cell; "
            f"{len(notes['flagged'])} flagged for a coefficient of variation above {notes['high_cv']:.0%}.")
    if notes["single"]:
        text += (f" {notes['single']} cell(s) ran in one process: their between-process spread is not measured "
                 "(measure.processes)")
    return text
