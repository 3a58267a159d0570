"""Charts as inline SVG (matplotlib, Agg): self-contained, no JavaScript, no network."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.report.quality import Metric

matplotlib.rcParams["svg.hashsalt"] = "bench"  # stable element ids: the same record renders the same file

PALETTE = plt.get_cmap("tab10")
ACCURACY = Metric("accuracy")


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype for inlining


def _accuracy_scatter(points: list[dict], x_key: str, metric: Metric = ACCURACY):
    """The primary metric against `x_key`, one colour per variant, frontier points outlined and labelled."""
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=100)
    y_key = metric.name
    for k, v in enumerate(sorted({p["variant"] for p in points})):
        mine = [p for p in points if p["variant"] == v and not math.isnan(p[y_key])]
        ax.scatter([p[x_key] for p in mine], [p[y_key] for p in mine], s=46, color=PALETTE(k % 10), label=v,
                   zorder=3, edgecolors=["black" if p["on_frontier"] else "none" for p in mine], linewidths=1.4)
        _label(ax, mine, x_key, y_key)
    ax.set_xscale("log")
    ax.set_ylabel(f"test {metric.label} ({metric.better} is better)")
    ax.grid(True, which="both", alpha=0.25)
    return fig, ax


def accuracy_vs_cost(points: list[dict], title: str, priced: bool = True, metric: Metric = ACCURACY) -> str:
    """Each point a (variant, batch size) cell; the Pareto frontier drawn as a line through its points.
    Without a price the x axis is ms of machine time per inference (1000 / samples/s), which orders the
    cells as USD per 1M would at any one price."""
    x_key = "usd_per_million" if priced else "ms_per_inference"
    points = points if priced else [{**p, x_key: 1000.0 / p["throughput_per_s"]} for p in points]
    fig, ax = _accuracy_scatter(points, x_key, metric)
    front = sorted((p for p in points if p["on_frontier"] and not math.isnan(p[metric.name])), key=lambda p: p[x_key])
    if front:
        ax.step([p[x_key] for p in front], [p[metric.name] for p in front], where="post",
                color="black", linewidth=1, linestyle="--", label="Pareto frontier", zorder=2)
    ax.set_xlabel("USD per 1M inferences (log scale, lower is better)" if priced else
                  "ms of machine time per inference, no price (log scale, lower is better)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return _svg(fig)


def _label(ax, points: list[dict], x_key: str, y_key: str = "accuracy") -> None:
    """A variant's frontier points share one label ("int8 bs1,bs8") at the first of them, staggered so
    that neighbours do not print over each other; other points carry their batch size only."""
    front = sorted((p for p in points if p["on_frontier"]), key=lambda p: p[x_key])
    if front:
        sizes = ",".join(f"bs{p['batch_size']}" for p in sorted(front, key=lambda p: p["batch_size"]))
        first = front[0]
        stagger = 4 + 10 * (sum(map(ord, first["variant"])) % 3)
        ax.annotate(f"{first['variant']} {sizes}", (first[x_key], first[y_key]), textcoords="offset points",
                    xytext=(6, stagger), fontsize=7, color="#222",
                    arrowprops={"arrowstyle": "-", "color": "#999", "linewidth": 0.6})
    for p in points:
        if not p["on_frontier"]:
            ax.annotate(f"bs{p['batch_size']}", (p[x_key], p[y_key]), textcoords="offset points", xytext=(4, -9),
                        fontsize=6, color="#888")


def accuracy_vs_p99(points: list[dict], slo_ms: float, title: str, metric: Metric = ACCURACY) -> str:
    fig, ax = _accuracy_scatter(points, "p99_ms", metric)
    ax.axvline(slo_ms, color="red", linewidth=1, linestyle="--", label=f"SLO p99 {slo_ms:g} ms")
    ax.set_xlabel("p99 latency per batch, ms (log scale, lower is better)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    return _svg(fig)


def latency_vs_qps(server_rows: list[dict], slo_ms: float) -> str:
    """The knee: p99 per request against offered load, per variant (its best batching setting)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    for k, r in enumerate(sorted(server_rows, key=lambda r: r["variant"])):
        probes = [p for p in r["probes"] if p["p99_ms"] is not None
                  and (r.get("max_batch_size") is None or (p["max_batch_size"], p["max_queue_delay_ms"])
                       == (r["max_batch_size"], r["max_queue_delay_ms"]))]
        probes.sort(key=lambda p: p["offered_qps"])
        if not probes:
            continue
        colour = PALETTE(k % 10)
        ax.plot([p["offered_qps"] for p in probes], [p["p99_ms"] for p in probes], color=colour, linewidth=1,
                label=r["variant"])
        for p in probes:
            ax.scatter([p["offered_qps"]], [p["p99_ms"]], s=30, zorder=3, color=colour if p["passed"] else "white",
                       edgecolors=colour, linewidths=1.3)
    ax.axhline(slo_ms, color="red", linewidth=1, linestyle="--", label=f"SLO p99 {slo_ms:g} ms")
    ax.set_xscale("log")
    ax.set_xlabel("offered load, requests/s (Poisson, log scale)")
    ax.set_ylabel("p99 per request, ms (queueing included)")
    ax.set_title("Latency vs offered load (filled: passed with 99% confidence; hollow: failed)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, ncol=2)
    return _svg(fig)


def latency_vs_batch(rows: list[dict], seq_len: int, slo_ms: float) -> str:
    fig, ax = plt.subplots(figsize=(7.5, 4.0), dpi=100)
    ok = [r for r in rows if r["status"] == "ok" and r["seq_len"] == seq_len]
    for k, v in enumerate(sorted({r["variant"] for r in ok})):
        mine = sorted((r for r in ok if r["variant"] == v), key=lambda r: r["batch_size"])
        ax.plot([r["batch_size"] for r in mine], [r["p99_ms"] for r in mine], marker="o", color=PALETTE(k % 10), label=f"{v} p99")
        ax.plot([r["batch_size"] for r in mine], [r["p50_ms"] for r in mine], marker=".", linestyle=":",
                color=PALETTE(k % 10), label=f"{v} p50")
    ax.axhline(slo_ms, color="red", linewidth=1, linestyle="--", label=f"SLO p99 {slo_ms:g} ms")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("latency per batch, ms (log)")
    ax.set_title(f"Latency vs batch size at sequence length {seq_len}", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, ncol=2)
    return _svg(fig)
