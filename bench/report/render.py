"""report.md, report.html and cells.csv for a run directory, from run.json alone."""

from __future__ import annotations

import math
from pathlib import Path

import jinja2
import pandas as pd

from bench.cost import usd_for_duration
from bench.record import RunRecord, load_run, write_atomic
from bench.report import charts
from bench.report.capacity import plans_by_traffic
from bench.report.card import card_markdown, decision_card
from bench.report.labels import (
    NO_PRICE,
    has_price,
    header_line,
    machine_description,
    mismatch_warning,
    money,
    priced_as,
    pricing_label,
    profile_check,
)
from bench.report.notes import notes_summary, offline_notes, server_notes
from bench.report.quality import (
    LABELS,
    Metric,
    format_delta,
    format_interval,
    interval,
    primary_metric,
    quality_floor,
    value,
)
from bench.report.rows import (
    cell_rows,
    frontier_rows,
    quality_by_variant,
    recommend,
    recommend_under_load,
    recommendation_text,
    reference_variant,
    server_rows,
)
from bench.report.svgchart import run_variants, variant_colours
from bench.report.tuning import cost_text, trained_artifacts, tuning_markdown, tuning_view
from bench.stats import HIGH_CV

# "quality" stands for the primary metric and the kind's other metrics (bench.report.quality.Metric.shown)
TABLE_COLUMNS = [("variant", "variant"), ("runtime", "runtime"), ("batch_size", "batch"), ("seq_len", "seq"),
                 ("quality", None), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
                 ("throughput_per_s", "samples/s"), ("speedup_vs_ref", "x full"), ("usd_per_million", "USD/1M"), ("peak_rss_mib", "peak RSS MiB"),
                 ("size_on_disk_mib", "size MiB"), ("samples", "samples"), ("processes", "processes"),
                 ("between_process_cv", "between-process CV"),
                 ("status", "status")]
# CUDA runs add these where measured: the same calls timed by CUDA events, the end-to-end latency with
# copies, the three GPU memory figures (named as they are measured) and NVML energy
GPU_COLUMNS = [("p50_device_ms", "p50 CUDA-event ms"), ("p50_end_to_end_ms", "p50 end-to-end ms"),
               ("gpu_max_allocated_mib", "torch max alloc MiB"), ("gpu_max_reserved_mib", "torch max reserved MiB"),
               ("gpu_peak_nvml_used_mib", "NVML used MiB"), ("energy_per_inference_j", "J/inference")]


def table_columns(rows: list[dict], metric: Metric = Metric("accuracy")) -> list[tuple[str, str]]:
    """(row key, header) of the cell tables: the metric's shown metrics where TABLE_COLUMNS says "quality",
    GPU columns where any row has them."""
    extra = [c for c in GPU_COLUMNS if any(r.get(c[0]) is not None for r in rows)]
    columns = [c for k, h in TABLE_COLUMNS[:-1] for c in ([(m, LABELS[m]) for m in metric.shown()] if k == "quality" else [(k, h)])]
    return columns + extra + TABLE_COLUMNS[-1:]


DOLLAR_KEYS = ("usd_per_million",)


def fmt(key: str, value) -> str:
    """A table value as shown: "-" for none or NaN (see `cell` for "no price")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key in LABELS:  # a quality metric
        return f"{value:.4f}"
    if key == "usd_per_million":
        return f"{value:.4f}" if value < 1 else f"{value:.2f}"
    if key == "cost_usd":
        return f"{value:.5f}"
    if key.endswith("_ms"):
        return f"{value:.2f}"
    if key == "between_process_cv":  # flagged where it passes stats.HIGH_CV (notes.spread_flag)
        return f"{value:.1%}" + (" HIGH" if value > HIGH_CV else "")
    if key == "speedup_vs_ref":
        return f"{value:.2f}x"
    if key == "energy_per_inference_j":
        return f"{value:.4g}"
    if key in ("throughput_per_s", "peak_rss_mib", "size_on_disk_mib") or key.endswith("_mib"):
        return f"{value:,.1f}"
    return str(value)


def cell(row: dict, key: str) -> str:
    """fmt of row[key], except that a dollar figure of a measured row without a price reads "no price"."""
    if key in DOLLAR_KEYS and not row.get("priced", True) and row.get("status", "ok") == "ok":
        return NO_PRICE
    return fmt(key, row.get(key))


def build_view(run: RunRecord) -> dict:
    rows = cell_rows(run)
    seq = run.suite["slo"]["seq_len"]
    metric = primary_metric(run)
    points = frontier_rows(rows, seq, metric)
    rec = recommend(run, rows)
    failed = not_measured(run)
    servers = server_rows(run)
    plans = plans_by_traffic(run)
    return {"servers": servers, "rec_load_text": recommend_under_load(run, servers), "plans": plans,
            "card": decision_card(run, rec, plans), "colours": variant_colours(run_variants(run)),
            "notes": offline_notes(rows), "server_notes": server_notes(servers), "floor": quality_floor(run)[0],
            "run": run, "rows": rows, "points": points, "frontier": [p for p in points if p["on_frontier"]],
            "rec": rec, "warnings": cell_warnings(run), "rec_text": recommendation_text(rec, run), "failed": failed,
            "trainings": trainings(run), "val_metric_label": metric.label, "tuning": tuning_view(run), "quality": quality_rows(run), "seq": seq, "columns": table_columns(rows, metric),
            "metric": metric, "quality_headers": quality_headers(metric),
            "fmt": fmt, "cell": cell, "money": money, "header": header_line(run), "warning": mismatch_warning(run),
            "pricing_label": pricing_label(run), "priced": has_price(run.profile)}


def not_measured(run: RunRecord) -> list[dict]:
    """Cells that were not measured, one entry per variant, status and reason: a reason shared by all
    of a variant's cells (a build that cannot run here) is said once, with the cells it covers."""
    groups: dict[tuple, dict] = {}
    for c in run.cells:
        if c.status != "ok":
            group = groups.setdefault((c.variant, c.status, c.reason),
                                      {"variant": c.variant, "status": c.status, "reason": c.reason, "cells": []})
            group["cells"].append(c.cell_id.removeprefix(f"{c.variant}/"))
    return list(groups.values())


def cell_warnings(run: RunRecord) -> list[dict]:
    """Every cell warning once, with the cells it covers: {"warning": text, "cells": [cell ids]}."""
    groups: dict[str, list[str]] = {}
    for c in run.cells:
        for w in c.warnings:
            groups.setdefault(w, []).append(c.cell_id)
    return [{"warning": w, "cells": cells} for w, cells in groups.items()]


def trainings(run: RunRecord) -> list[dict]:
    """One row per trained artifact (a fine-tune shared by several variants is listed once)."""
    price = run.profile.get("price_usd_per_hour")
    out = []
    for m, used_by in trained_artifacts(run):
        t = m["train"]
        out.append({"step": m["step"], "used_by": used_by, "wall_s": t["wall_s"], "steps": t["steps"],
                    "trainable_parameters": t["trainable_parameters"], "peak_rss_mib": t["peak_rss_mib"],
                    # training hours on the machine this run measured
                    "cost_usd": usd_for_duration(price, t["wall_s"]) if price is not None else None,
                    "priced": price is not None,
                    # the task's primary metric on the validation split (artifacts from before: accuracy)
                    "val_metric": m.get("val_metric", "accuracy"), "val_value": m.get("val_value", m.get("val_accuracy"))})
    return out


def quality_rows(run: RunRecord) -> list[dict]:
    """One row per variant with an accuracy cell: each shown metric's value and 95% interval (`metrics`:
    [(name, value, ci)], the primary first) and the primary's difference from the reference (`delta`:
    points for accuracy, else the relative change)."""
    metric = primary_metric(run)
    ref_q = quality_by_variant(run).get(reference_variant(run))
    ref_value = value(ref_q, metric.name)
    out = []
    for variant, q in quality_by_variant(run).items():
        manifest = (run.builds.get(variant, {}).get("manifests") or [{}])[-1]
        v = value(q, metric.name)
        out.append({"variant": variant, "steps": " → ".join(next(c.steps for c in run.cells if c.variant == variant)),
                    "metrics": [(m, value(q, m), interval(q, m)) for m in metric.shown()],
                    "delta": format_delta(metric, v, ref_value), "n": q["n_examples"],
                    "parameters": manifest.get("parameters"),
                    "size_mib": manifest.get("size_on_disk_bytes", 0) / 2**20})
    return out


def quality_headers(metric: Metric) -> list[str]:
    """The headers of the quality table between steps and n: the primary, its change vs full, the others."""
    delta = "vs full, points" if metric.name == "accuracy" else "vs full"
    names = metric.shown()
    return [LABELS[names[0]], delta] + [LABELS[m] for m in names[1:]]


def quality_figure(v: float, ci, sep: str = "-") -> str:
    """"0.8000 (0.780-0.820)": a value and its 95% interval ("-" where the metric is undefined)."""
    return "-" if math.isnan(v) else f"{v:.4f} ({format_interval(ci, sep=sep)})"


def markdown(view: dict) -> str:
    run = view["run"]
    lines = [f"# bench report: {run.suite_name}", "", f"Run `{run.run_id}`. Status: {run.status}.", "",
             view["header"], ""]
    if view["warning"]:
        lines += [f"> **Warning: {view['warning']}**", ""]
    lines += card_markdown(view["card"])
    lines += ["", "## Recommendation", "", view["rec_text"], "",
              f"## Pareto frontier at sequence length {view['seq']}", "",
              f"Over {view['metric'].label} ({view['metric'].better}), " + ("USD per 1M" if view["priced"] else "1/throughput (no price)")
              + " (lower) and p99 latency per batch (lower).", ""]
    lines += _md_table(view["frontier"], view["columns"])
    lines += ["", "## Quality per variant (test split, in the variant's own runtime)", ""]
    lines += _md_quality(view)
    lines += _md_server(view)
    for plan in view["plans"]:
        from bench.plan import plan_markdown

        md = plan_markdown(plan["rows"], plan["qps"], plan["p99_ms"], 0.0, 730.0).replace(
            "# Capacity plan:", f"# Capacity plan ({plan['label']} traffic):", 1)
        lines += [""] + ["#" + x if x.startswith("# ") else x for x in md.splitlines()]
    lines += _md_notes(view)
    lines += ["", "## All cells", "", *_md_table(view["rows"], view["columns"])]
    if view["trainings"]:
        lines += ["", "## Training", "", "| step | used by | wall s | steps | trainable params | peak RSS MiB | cost USD | "
                  f"validation {view['val_metric_label']} |",
                  "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {t['step']} | {', '.join(t['used_by'])} | {t['wall_s']:.1f} | {t['steps']} | {t['trainable_parameters']:,} | "
                  f"{t['peak_rss_mib']:.0f} | {money(t, 'cost_usd', '.5f')} | {fmt(t['val_metric'], t['val_value'])} |" for t in view["trainings"]]
    lines += tuning_markdown(view["tuning"])
    if view["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w['warning']} ({', '.join(w['cells'])})" for w in view["warnings"]]
    if view["failed"]:
        lines += ["", "## Not measured", ""] + [f"- **{g['variant']}** ({', '.join(g['cells'])}): **{g['status']}**: "
                                                 f"{g['reason']}" for g in view["failed"]]
    lines += _md_environment(run)
    return "\n".join(lines) + "\n"


def _md_server(view: dict) -> list[str]:
    """The server scenario's table: per served cell its traffic, capacity with its repetitions, latency."""
    if not view["servers"]:
        return []
    lines = ["", "## Under load: server scenario", "", (view["rec_load_text"] or ""), "",
             f"| variant | traffic | {view['metric'].label} | capacity QPS (conservative) | typical | repetitions | batching | "
             "p50 ms | p99 ms | p99 bound ms | mean batch | USD/1M at that load |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in view["servers"]:
        quality = fmt(view["metric"].name, r["quality"])
        if not r["max_qps"]:
            lines.append(f"| {r['variant']} | {r['traffic']} | {quality} | - | | | {r['reason']} | | | | | |")
            continue
        cap = r["capacity"]
        reps = ", ".join(f"{q:.1f}" for q in cap["repetitions_qps"])
        lines.append(f"| {r['variant']} | {r['traffic']} | {quality} | {cap['conservative_qps']:.1f} | {cap['typical_qps']:.1f} | "
                     f"{cap['repetitions']}: {reps} | max {r['max_batch_size']}, {r['max_queue_delay_ms']:g} ms | {r['p50_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {r['p99_upper_ms']:.1f} | {r['mean_batch_size']:.2f} | {money(r, 'usd_per_million', '.4f')} |")
    return lines


def _md_notes(view: dict) -> list[str]:
    """Measurement notes: what stands behind the offline and the server figures, high variation flagged."""
    notes = view["notes"]
    lines = ["", "## Measurement notes", "", notes_summary(notes)]
    if notes["flagged"]:
        lines += ["", "| variant | batch | seq | processes | samples | why flagged |", "|---|---|---|---|---|---|"]
        lines += [f"| {f['variant']} | {f['batch_size']} | {f['seq_len']} | {f['processes']} | {f['samples']} | {f['why']} |"
                  for f in notes["flagged"]]
    if view["server_notes"]:
        lines += ["", "Server capacity per cell (requests/s per replica):", ""]
        lines += [f"- {n['cell_id']} ({n['traffic']} traffic): {n['spread']}" for n in view["server_notes"]]
    return lines


def _md_quality(view: dict) -> list[str]:
    """The quality table: per variant the shown metrics with their 95% intervals, the primary's change."""
    heads = view["quality_headers"]
    cols = [f"{heads[0]} (95% CI)", heads[1], *(f"{h} (95% CI)" for h in heads[2:])]
    lines = ["| variant | steps | " + " | ".join(cols) + " | n | parameters | size MiB |", "|---|" * 1 + "---|" * (len(cols) + 4)]
    for q in view["quality"]:
        figures = [quality_figure(v, ci) for _, v, ci in q["metrics"]]
        lines.append(f"| {q['variant']} | {q['steps']} | {' | '.join([figures[0], q['delta'], *figures[1:]])} | {q['n']} | "
                     f"{q['parameters'] or 0:,} | {q['size_mib']:.1f} |")
    return lines


def _md_environment(run: RunRecord) -> list[str]:
    """The closing section of report.md: machine, CPU and its flags, GPU, git, packages, data."""
    env = run.environment
    return ["", "## Environment", "",
            f"- machine: {machine_description(run)}",
            f"- CPU: {env.get('cpu_model')} ({env.get('cpu_count')} usable cores); flags: "
            + ", ".join(k for k, v in (env.get("cpu_flags") or {}).items() if v),
            f"- GPU: {env.get('gpu_name') or 'none'}",
            f"- git: {env.get('git', {}).get('commit')} (dirty: {env.get('git', {}).get('dirty')})",
            "- packages: " + ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()),
            f"- task: {task_description(run)}",
            f"- data: test {run.data.get('test', {}).get('rows')} rows (sha256 {run.data.get('test', {}).get('sha256', '')[:12]}), "
            f"train {run.data.get('train', {}).get('rows')} rows"]

def task_description(run: RunRecord) -> str:
    """e.g. "classification of text pairs (query, title), judged on accuracy"."""
    task, metric = run.suite.get("task", {}), primary_metric(run)
    pair = task.get("text_pair_column")
    what = (f"of text pairs ({task.get('text_column', 'text')}, {pair})" if pair
            else f"of texts ({task.get('text_column', 'text')})")
    return f"{metric.kind} {what}, judged on {metric.label}"


def _md_table(rows: list[dict], columns) -> list[str]:
    out = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(cell(r, k).replace("|", "\\|") for k, _ in columns) + " |" for r in rows]
    return out


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("bench.report", "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined)


def chart_svgs(view: dict) -> dict[str, str]:
    """The report's charts (bench.report.charts) as inline SVG, "" where a chart has nothing to show."""
    run, metric, colours = view["run"], view["metric"], view["colours"]
    slo_ms = run.suite["slo"]["p99_ms"]
    choice = view["rec"]["choice"]
    out = dict.fromkeys(("cost", "p99", "batch", "knee", "capacity", "plan"), "")
    if view["points"]:
        out["cost"] = charts.quality_vs_cost(view["points"], colours, metric, view["floor"], view["priced"], choice)
        out["p99"] = charts.quality_vs_p99(view["points"], colours, metric, view["floor"], slo_ms, choice)
        out["batch"] = charts.latency_vs_batch(view["rows"], view["seq"], slo_ms, colours)
    if any(r["probes"] for r in view["servers"]):
        out["knee"] = charts.latency_vs_qps(view["servers"], slo_ms, colours)
    if any(r["capacity"] for r in view["servers"]):
        out["capacity"] = charts.capacity_repetitions(view["servers"], colours)
    if any(r.feasible for p in view["plans"] for r in p["rows"]):
        out["plan"] = charts.plan_bars(view["plans"], colours, view["priced"])
    return out


def html(view: dict) -> str:
    return _ENV.get_template("report.html.j2").render(**view, cost_text=cost_text, charts=chart_svgs(view),
                                                       rec_html=view["rec_text"].replace("**", ""),
                                                       notes_text=notes_summary(view["notes"]),
                                                       rec_load_html=(view["rec_load_text"] or "").replace("**", ""))


def cells_csv(view: dict) -> str:
    """cells.csv: the rows, and on each the machine measured, the profile priced and their check
    (`pricing_label` is empty unless the profile stands for other hardware); no-price dollars are empty."""
    run = view["run"]
    where = {"measured_on": machine_description(run), "priced_as": priced_as(run.profile),
             "profile_check": profile_check(run)["status"], "pricing_label": view["pricing_label"] or ""}
    frame = pd.DataFrame([{**{k: v for k, v in r.items() if k != "priced"}, **where} for r in view["rows"]])
    return frame.to_csv(index=False)


def write_report(run_dir: Path) -> dict[str, Path]:
    run = load_run(run_dir)
    view = build_view(run)
    paths = {"csv": run_dir / "cells.csv", "md": run_dir / "report.md", "html": run_dir / "report.html"}
    write_atomic(paths["csv"], cells_csv(view))
    write_atomic(paths["md"], markdown(view))
    write_atomic(paths["html"], html(view))
    return paths
