"""The report's charts as inline SVG (bench.report.svgchart): quality against cost and against p99,
latency against batch size, p99 against offered load, each served variant's repeated capacities, and the
plan's dollars per month. Every chart colours a variant the same way (one mapping per report), shows its
legend below the plot, draws the SLO and the quality floor as labelled lines and puts the figures of each
point in a hover tooltip rather than in labels that could overlap."""

from __future__ import annotations

import math

from matplotlib.lines import Line2D

from bench.report.quality import Floor, Metric
from bench.report.svgchart import MARKERS, Chart

SLO_COLOUR, FLOOR_COLOUR = "#c0392b", "#7d3c98"


def _dot(colour: str, marker: str = "o", label: str = "", **kw) -> Line2D:
    return Line2D([], [], marker=marker, linestyle="none", color=colour, label=label, **{"markersize": 6, **kw})


def _variant_handles(variants: list[str], colours: dict[str, str]) -> list[Line2D]:
    return [_dot(colours[v], label=v) for v in variants]


def offline_tooltip(p: dict, metric: Metric) -> str:
    """"int8, batch 8, seq 64 / accuracy 0.8000 / p99 12.3 ms per batch, p50 ... / 420 samples/s, $0.0024 per 1M"."""
    money = f", ${p['usd_per_million']:.4f} per 1M" if p.get("usd_per_million") is not None else ", no price"
    front = "\non the Pareto frontier" if p.get("on_frontier") else ""
    return (f"{p['variant']} ({p['runtime']}), batch {p['batch_size']}, seq {p['seq_len']}\n"
            f"{metric.label} {p[metric.name]:.4f}\np99 {p['p99_ms']:.2f} ms, p50 {p['p50_ms']:.2f} ms per batch\n"
            f"{p['throughput_per_s']:,.0f} samples/s{money}{front}\n"
            f"{p['samples']} timed batches from {p['processes']} process(es)" + _cv_text(p))


def _cv_text(p: dict) -> str:
    cv = p.get("between_process_cv")
    return "" if cv is None else f", between-process CV {cv:.1%}"


def _quality_scatter(chart: Chart, points: list[dict], x_key: str, colours: dict[str, str], metric: Metric,
                     choice: dict | None) -> list:
    """Points coloured by variant, shaped by batch size, outlined on the frontier; the choice ringed.
    Returns the legend handles of the batch-size shapes and the marks."""
    sizes = sorted({p["batch_size"] for p in points})
    shape = {bs: MARKERS[i % len(MARKERS)] for i, bs in enumerate(sizes)}
    for p in points:
        if math.isnan(p[metric.name]):
            continue
        chart.point(p[x_key], p[metric.name], offline_tooltip(p, metric), s=44, marker=shape[p["batch_size"]],
                    color=colours[p["variant"]], edgecolors="black" if p["on_frontier"] else "white", linewidths=1.2)
    handles = [_dot("#777", shape[bs], f"batch {bs}") for bs in sizes]
    handles.append(_dot("white", "o", "on the Pareto frontier", markeredgecolor="black"))
    if choice is not None and not math.isnan(choice[metric.name]):
        chart.ax.scatter([choice[x_key]], [choice[metric.name]], s=260, facecolors="none", edgecolors="#2e7d32",
                         linewidths=2, zorder=4)
        handles.append(_dot("none", "o", f"recommended: {choice['variant']}, batch {choice['batch_size']}",
                            markeredgecolor="#2e7d32", markersize=11, markeredgewidth=2))
    chart.ax.set_ylabel(f"test {metric.label} ({metric.better} is better)")
    return handles


def _floor_line(chart: Chart, floor: Floor | None, handles: list) -> None:
    if floor is not None:
        chart.line_label(f"floor {floor.threshold:.4f}", floor.threshold, "y", FLOOR_COLOUR)
        handles.append(Line2D([], [], color=FLOOR_COLOUR, linestyle="--", label=f"{floor.metric.label} floor"))


def quality_vs_cost(points: list[dict], colours: dict[str, str], metric: Metric, floor: Floor | None,
                    priced: bool, choice: dict | None) -> str:
    """Each point a (variant, batch size) cell at the SLO's length; the Pareto frontier a dashed step.
    Without a price the x axis is ms of machine time per inference (1000 / samples/s), which orders the
    cells as USD per 1M would at any one price."""
    x_key = "usd_per_million" if priced else "ms_per_inference"
    points = points if priced else [{**p, x_key: 1000.0 / p["throughput_per_s"]} for p in points]
    choice = choice if priced or choice is None else {**choice, x_key: 1000.0 / choice["throughput_per_s"]}
    chart = Chart("cost")
    handles = _quality_scatter(chart, points, x_key, colours, metric, choice)
    front = sorted((p for p in points if p["on_frontier"] and not math.isnan(p[metric.name])), key=lambda p: p[x_key])
    if front:
        chart.ax.step([p[x_key] for p in front], [p[metric.name] for p in front], where="post", color="black",
                      linewidth=0.9, linestyle=":", zorder=2)
        handles.append(Line2D([], [], color="black", linestyle=":", label="Pareto frontier"))
    _floor_line(chart, floor, handles)
    chart.log_axis("x")
    chart.ax.set_xlabel("USD per 1M inferences (log scale, lower is better)" if priced else
                        "ms of machine time per inference, no price (log scale, lower is better)")
    variants = [v for v in colours if any(p["variant"] == v for p in points)]
    chart.legend_below(_variant_handles(variants, colours) + handles, [*variants, *(h.get_label() for h in handles)],
                       keys=len(handles))
    return chart.svg()


def quality_vs_p99(points: list[dict], colours: dict[str, str], metric: Metric, floor: Floor | None,
                   slo_ms: float, choice: dict | None) -> str:
    chart = Chart("p99")
    handles = _quality_scatter(chart, points, "p99_ms", colours, metric, choice)
    chart.line_label(f"SLO {slo_ms:g} ms", slo_ms, "x", SLO_COLOUR)
    handles.append(Line2D([], [], color=SLO_COLOUR, linestyle="--", label=f"SLO: p99 {slo_ms:g} ms"))
    _floor_line(chart, floor, handles)
    chart.log_axis("x")
    chart.ax.set_xlabel("p99 latency per batch, ms (log scale, lower is better)")
    variants = [v for v in colours if any(p["variant"] == v for p in points)]
    chart.legend_below(_variant_handles(variants, colours) + handles, [*variants, *(h.get_label() for h in handles)],
                       keys=len(handles))
    return chart.svg()


def latency_vs_batch(rows: list[dict], seq_len: int, slo_ms: float, colours: dict[str, str]) -> str:
    """p99 (solid) and p50 (dotted) per batch against batch size, one colour per variant."""
    chart = Chart("batch")
    ok = [r for r in rows if r["status"] == "ok" and r["seq_len"] == seq_len]
    variants = [v for v in colours if any(r["variant"] == v for r in ok)]
    for v in variants:
        mine = sorted((r for r in ok if r["variant"] == v), key=lambda r: r["batch_size"])
        xs = [r["batch_size"] for r in mine]
        chart.ax.plot(xs, [r["p99_ms"] for r in mine], color=colours[v], linewidth=1.3, zorder=2)
        chart.ax.plot(xs, [r["p50_ms"] for r in mine], color=colours[v], linewidth=1, linestyle=":", zorder=2)
        for r in mine:
            chart.point(r["batch_size"], r["p99_ms"], f"{v}, batch {r['batch_size']}, seq {seq_len}\np99 "
                        f"{r['p99_ms']:.2f} ms, p50 {r['p50_ms']:.2f} ms per batch", s=22, color=colours[v])
    chart.line_label(f"SLO {slo_ms:g} ms", slo_ms, "y", SLO_COLOUR)
    chart.ax.set_xscale("log", base=2)
    chart.ax.set_xticks(sorted({r["batch_size"] for r in ok}), [str(b) for b in sorted({r["batch_size"] for r in ok})])
    chart.ax.minorticks_off()
    chart.log_axis("y")
    chart.ax.set_xlabel("batch size")
    chart.ax.set_ylabel("latency per batch, ms (log scale)")
    extra = [Line2D([], [], color="#555", label="p99 (solid)"), Line2D([], [], color="#555", linestyle=":", label="p50 (dotted)"),
             Line2D([], [], color=SLO_COLOUR, linestyle="--", label=f"SLO: p99 {slo_ms:g} ms")]
    chart.legend_below(_variant_handles(variants, colours) + extra, [*variants, *(h.get_label() for h in extra)],
                       keys=len(extra))
    return chart.svg()


def _served_label(r: dict) -> str:
    return r["variant"] if r.get("traffic", "fixed-length") == "fixed-length" else f"{r['variant']} ({r['traffic']} traffic)"


def latency_vs_qps(server_rows: list[dict], slo_ms: float, colours: dict[str, str]) -> str:
    """The knee: p99 per request against offered load, per served cell at its best batching setting
    (fixed-length traffic solid, real traffic dashed); filled points passed with 99% confidence."""
    chart = Chart("knee")
    for r in server_rows:
        probes = sorted((p for p in r["probes"] if p["p99_ms"] is not None and (r.get("max_batch_size") is None or (
            p["max_batch_size"], p["max_queue_delay_ms"]) == (r["max_batch_size"], r["max_queue_delay_ms"]))),
            key=lambda p: p["offered_qps"])
        if not probes:
            continue
        colour = colours[r["variant"]]
        style = "-" if r.get("traffic", "fixed-length") == "fixed-length" else "--"
        chart.ax.plot([p["offered_qps"] for p in probes], [p["p99_ms"] for p in probes], color=colour, linewidth=1,
                      linestyle=style, zorder=2)
        for p in probes:
            bound = "-" if p["p99_upper_ms"] is None else f"{p['p99_upper_ms']:.1f}"
            chart.point(p["offered_qps"], p["p99_ms"], f"{_served_label(r)} at {p['offered_qps']:.1f} requests/s\n"
                        f"p99 {p['p99_ms']:.1f} ms (99% bound {bound} ms), mean batch {p['mean_batch_size']:.2f}\n"
                        f"{'passed' if p['passed'] else 'failed'}; max batch {p['max_batch_size']}, delay "
                        f"{p['max_queue_delay_ms']:g} ms", s=28, color=colour if p["passed"] else "white",
                        edgecolors=colour, linewidths=1.3)
    chart.line_label(f"SLO {slo_ms:g} ms", slo_ms, "y", SLO_COLOUR)
    chart.log_axis("x")
    chart.ax.set_xlabel("offered load, requests/s (Poisson, log scale)")
    chart.ax.set_ylabel("p99 per request, ms (queueing included)")
    variants = [v for v in colours if any(r["variant"] == v and r["probes"] for r in server_rows)]
    extra = [_dot("#555", label="passed (99% bound within SLO)"), _dot("white", label="failed", markeredgecolor="#555")]
    if any(r.get("traffic", "fixed-length") != "fixed-length" for r in server_rows):
        extra += [Line2D([], [], color="#555", label="fixed-length traffic"),
                  Line2D([], [], color="#555", linestyle="--", label="real traffic")]
    chart.legend_below(_variant_handles(variants, colours) + extra, [*variants, *(h.get_label() for h in extra)],
                       keys=len(extra))
    return chart.svg()


def capacity_repetitions(server_rows: list[dict], colours: dict[str, str]) -> str:
    """Each served cell's repeated peak searches (points), the conservative capacity a plan uses (a bar)
    and the typical one (a hollow diamond), in requests/s per replica."""
    rows = [r for r in server_rows if r.get("capacity")]
    chart = Chart("capacity", size=(5.6, 0.8 + 0.34 * len(rows)))
    for y, r in enumerate(reversed(rows)):
        cap, colour = r["capacity"], colours[r["variant"]]
        for k, q in enumerate(cap["repetitions_qps"], 1):
            chart.point(q, y, f"{_served_label(r)}: repetition {k} of {cap['repetitions']}, {q:.1f} requests/s within "
                        "the SLO", s=36, color=colour, alpha=0.85)
        chart.point(cap["conservative_qps"], y, f"{_served_label(r)}: conservative {cap['conservative_qps']:.1f} "
                    f"requests/s ({cap['conservative_rule']}), planned on", s=260, marker="|", color="black", linewidths=2)
        chart.point(cap["typical_qps"], y, f"{_served_label(r)}: typical {cap['typical_qps']:.1f} requests/s "
                    f"({cap['typical_rule']})", s=50, marker="D", color="none", edgecolors="black", linewidths=1)
    chart.ax.set_yticks(range(len(rows)), [_served_label(r) for r in reversed(rows)])
    chart.ax.set_ylim(-0.6, len(rows) - 0.4)
    chart.ax.set_xlim(0, 1.08 * max(q for r in rows for q in r["capacity"]["repetitions_qps"]))
    chart.ax.set_xlabel("highest load within the SLO, requests/s per replica")
    extra = [_dot("#777", label="one peak search (repetition)"),
             _dot("black", "|", "conservative (planned)", markersize=12, markeredgewidth=2),
             _dot("none", "D", "typical", markeredgecolor="black")]
    chart.legend_below(extra, [h.get_label() for h in extra], columns=3)
    return chart.svg()


def plan_bars(plans: list[dict], colours: dict[str, str], priced: bool) -> str:
    """USD per month per variant at the target QPS (replicas where there is no price), one bar per feasible
    plan row, fixed-length plan first and real traffic hatched, the cheapest at the top."""
    bars = [(p, r) for p in plans for r in p["rows"] if r.feasible]
    chart = Chart("plan", size=(5.6, 0.8 + 0.34 * len(bars)))
    key = (lambda r: r.monthly_usd) if priced else (lambda r: r.replicas)
    for y, (plan, r) in enumerate(reversed(bars)):
        real = plan["traffic"] != "fixed"
        chart.ax.barh(y, key(r), color=colours[r.variant], hatch="///" if real else None, edgecolor="white", height=0.7)
        money = f"${r.monthly_usd:,.0f}/month, " if priced else ""
        chart.ax.annotate(f"{money}{r.replicas} x {r.capacity_qps:.0f} QPS", (key(r), y), xytext=(4, 0),
                          textcoords="offset points", va="center", fontsize=8)
    labels = [r.variant if p["traffic"] == "fixed" else f"{r.variant} ({p['label']} traffic)" for p, r in reversed(bars)]
    chart.ax.set_yticks(range(len(bars)), labels)
    chart.ax.set_xlim(0, 1.45 * max(key(r) for _, r in bars))
    target = plans[0]["qps"]
    chart.ax.set_xlabel(f"USD per month at {target:g} requests/s (replicas x price per hour x 730 h)" if priced
                        else f"replicas for {target:g} requests/s (no price)")
    chart.ax.grid(True, axis="x", alpha=0.25)
    chart.ax.grid(False, axis="y")
    return chart.svg()
