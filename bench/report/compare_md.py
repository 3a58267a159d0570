"""compare.md: the markdown of one `bench compare` (bench.compare.Comparison), and the formatters that
the terminal table shares with it. Pure functions of the comparison; nothing here decides a verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.config import LOWER, METRICS
from bench.report.quality import LABELS

if TYPE_CHECKING:  # no runtime import: bench.compare re-exports this module
    from bench.compare.comparison import Comparison
    from bench.compare.judge import MetricChange
    from bench.config import Gate

VERDICTS = ("regressed", "improved", "inconclusive", "same")
ICON = {"regressed": "❌ regressed", "improved": "✅ improved", "same": "same", "inconclusive": "⚠️ inconclusive"}
COLUMNS = ("cell", "metric", "baseline", "new", "change", "p", "detects (95%)", "test", "verdict")


def format_value(metric: str, value: float | None) -> str:
    """A shown baseline or new value: accuracy and USD per 1M to 4 decimals, the rest to 2 with
    thousands separators; "-" for none."""
    if value is None:
        return "-"
    if metric in ("accuracy", "usd_per_million") or metric in METRICS:
        return f"{value:.4f}"
    return f"{value:,.2f}"


def format_change(c: MetricChange) -> str:
    """The change: points for accuracy and other 0-1 metrics ("+1.50 pts"), else a signed percentage
    ("+12.3%": latency, throughput, cost, memory, RMSE, MAE)."""
    if c.change is None:
        return "-"
    points = c.metric in METRICS and not relative(c.metric)  # 0-1 metrics change in points
    return f"{c.change:+.2f} pts" if points else f"{c.change:+.1%}"


def format_p(c: MetricChange) -> str:
    """The test's p, and after the arrow the Holm-adjusted p that the verdict used ("0.002 → 0.0078")."""
    if c.p_value is None:
        return "-"
    return f"{c.p_value:.2g}" + ("" if c.p_adjusted is None else f" → {c.p_adjusted:.2g}")


def format_detectable(c: MetricChange) -> str:
    """The smallest slowdown the per-process test would see with 95% probability ("≥ 12%")."""
    return "-" if c.detectable is None else f"≥ {c.detectable:.0%}"


def row_cells(c: MetricChange) -> list[str]:
    """The texts of one table row, in COLUMNS order (the verdict as a word; markdown adds its icon)."""
    return [c.cell_id, c.metric, format_value(c.metric, c.baseline), format_value(c.metric, c.new),
            format_change(c) + ("*" if c.detectable is not None else ""), format_p(c), format_detectable(c), c.test, c.verdict]


def changes_first(changes: list[MetricChange]) -> list[MetricChange]:
    """Every verdict other than `same` first, each group in its original order."""
    return [c for c in changes if c.verdict != "same"] + [c for c in changes if c.verdict == "same"]


def headline(cmp: Comparison) -> str:
    counts = {v: sum(c.verdict == v for c in cmp.changes) for v in VERDICTS}
    # problems first: an unusable comparison exits 2 whatever its verdicts, and must not read as a regression
    head = ("⛔ **unusable comparison** (the verdicts below are not a gate result)" if cmp.problems
            else "❌ **regression**" if counts["regressed"] else "✅ **no regression**")
    return (f"{head}: {counts['regressed']} regressed, {counts['improved']} improved, "
            f"{counts['inconclusive']} inconclusive, {counts['same']} same.")


def relative(metric: str) -> bool:
    """An error metric (RMSE, MAE: lower is better, no fixed scale) is judged by its relative change
    (gate.error_tolerance); the others, on a 0-1 scale, in points (bench.compare.quality.RELATIVE)."""
    return metric in METRICS and METRICS[metric][0] == LOWER


def primary_metric_of(snapshot: dict) -> str:
    """The quality metric the snapshot's accuracy cells are judged on (accuracy for a record without one)."""
    return next((c["metric"] for c in snapshot.get("cells", {}).values() if c.get("metric")), "accuracy")


def thresholds_line(base: dict, new: dict, gate: Gate) -> str:
    """Which runs, and when a change counts (the gate's alpha, correction and minimum effects; the quality
    threshold of the primary metric the runs are judged on)."""
    scope = ("over the whole comparison (Holm-Bonferroni: p → adjusted p) " if gate.correction == "holm"
             else "per test ")
    metric = primary_metric_of(new)
    quality = (f"{gate.error_tolerance:.0%} ({LABELS[metric]}, relative)" if relative(metric)
               else f"{gate.accuracy_tolerance_points:g} points ({LABELS.get(metric, metric)})")
    return (f"Baseline `{base['run_id']}` vs new `{new['run_id']}`. A change counts when significant at "
            f"alpha {gate.alpha:g} {scope}and larger than {gate.max_slowdown:.0%} (latency, throughput, cost), "
            f"{gate.max_memory_growth:.0%} (memory) or {quality}.")


def pricing_lines(cmp: Comparison) -> list[str]:
    """"baseline: measured on X, priced as Y" for each side priced as another machine's profile: its
    USD per 1M figures apply one machine's speed to another's price."""
    sides = (("baseline", cmp.base), ("new", cmp.new))
    return [f"{name}: {snap['pricing_label']}" for name, snap in sides if snap.get("pricing_label")]


def _section(title: str, items: list[str]) -> list[str]:
    return [title, ""] + [f"- {x}" for x in items] + [""] if items else []


def _footnotes(changes: list[MetricChange], gate: Gate) -> list[str]:
    lines = []
    if any(c.detectable is not None for c in changes):
        lines += ["", "\\* Baseline and new are over all samples; where the test is per process (marked \\*), change and p come "
                  "from the per-process statistics (trimmed, and drift-corrected where named), so one disturbed "
                  "process can move a shown p99 without moving the verdict."]
    blind = [c for c in changes if c.detectable is not None and c.detectable > gate.max_slowdown * 2]
    if blind:
        lines += ["", f"{len(blind)} comparison(s) could not reliably see a change of twice the minimum effect "
                  f"({2 * gate.max_slowdown:.0%}) with their processes' spread; measure those cells in more processes "
                  "(`measure.processes`) or on a quieter machine."]
    return lines


def markdown(cmp: Comparison) -> str:
    """compare.md: headline, thresholds, problems, environment differences and notes, then one table
    row per cell and metric (changes first), then footnotes on per-process tests."""
    lines = [f"## bench compare: {cmp.new['suite_name']} on {cmp.new['profile']}", "", headline(cmp), "",
             thresholds_line(cmp.base, cmp.new, cmp.gate), ""]
    lines += _section("**Priced as another machine** (profile mismatch allowed; USD per 1M is that profile's "
                      "price at the speed measured here):", pricing_lines(cmp))
    lines += _section("**Problems:**", cmp.problems)
    lines += _section("**Environments differ:**", cmp.differences)
    lines += _section("**Environment notes** (not refused; they can move memory and speed: make the baseline "
                      "where the gate runs):", cmp.notes)
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for c in changes_first(cmp.changes):
        cells = row_cells(c)
        cells[0], cells[-1] = f"`{c.cell_id}`", ICON[c.verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + _footnotes(cmp.changes, cmp.gate)) + "\n"
