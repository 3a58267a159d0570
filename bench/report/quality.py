"""The suite's primary quality metric as the reading wing sees it: its name, label and direction
(config.METRICS, the one home of directions), its value and 95% interval in an accuracy cell, the
quality floor, and whether a candidate meets it or the test split cannot tell.

A run's metric is `task.metric` (default by `task.kind`, config.DEFAULT_METRIC); runs from before task
kinds have no `task.kind` and are classifications judged on accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.config import DEFAULT_METRIC, HIGHER, METRICS

LABELS = {"accuracy": "accuracy", "macro_f1": "macro-F1", "rmse": "RMSE", "mae": "MAE", "spearman": "Spearman",
          "pr_auc": "PR-AUC", "roc_auc": "ROC-AUC", "f1": "F1", "recall": "recall"}
# the metrics shown per kind, besides the primary (which comes first)
SHOWN = {"classification": ("accuracy", "macro_f1"), "regression": ("rmse", "mae", "spearman"),
         "binary": ("pr_auc", "roc_auc", "f1", "recall")}


@dataclass(frozen=True)
class Metric:
    """A quality metric: `name` as in config.METRICS, the task `kind` it judges."""

    name: str
    kind: str = "classification"

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    @property
    def higher(self) -> bool:
        return METRICS[self.name][0] == HIGHER

    @property
    def direction(self) -> str:
        """"max" or "min", as bench.report.pareto takes it."""
        return "max" if self.higher else "min"

    @property
    def better(self) -> str:
        return "higher" if self.higher else "lower"

    def shown(self) -> tuple[str, ...]:
        """The metrics a table shows for this kind, the primary first."""
        return (self.name, *(m for m in SHOWN.get(self.kind, ()) if m != self.name))

    def is_better(self, a: float, b: float) -> bool:
        """a is strictly better than b."""
        return a > b if self.higher else a < b


def primary_metric(run) -> Metric:
    """The run's primary metric: its suite's `task.metric` or the kind's default; else (a record without a
    task table) what its accuracy cells name; else accuracy."""
    task = run.suite.get("task") or {}
    named = next((c.quality for c in run.cells if c.scenario == "accuracy" and c.status == "ok"
                  and (c.quality or {}).get("metric")), {})
    kind = task.get("kind") or named.get("kind") or "classification"
    return Metric(task.get("metric") or named.get("metric") or DEFAULT_METRIC[kind], kind)


def value(quality: dict | None, name: str) -> float:
    """The metric's value in an accuracy cell's quality dict; NaN where absent or undefined."""
    v = (quality or {}).get(name)
    return math.nan if v is None else float(v)


def interval(quality: dict | None, name: str) -> tuple[float, float] | None:
    """The metric's 95% bootstrap interval (bench.metrics.bootstrap_ci); None where not defined."""
    ci = (quality or {}).get(f"{name}_ci95")
    return (float(ci[0]), float(ci[1])) if ci else None


def format_interval(ci, spec: str = ".3f", sep: str = "-") -> str:
    return f"{ci[0]:{spec}}{sep}{ci[1]:{spec}}" if ci else "undefined"


def format_delta(metric: Metric, v: float, ref: float) -> str:
    """Accuracy: the difference in points ("+0.25"); other metrics: relative to the reference ("+1.2%")."""
    if metric.name == "accuracy":
        return f"{(v - ref) * 100:+.2f}"
    return "-" if math.isnan(v) or math.isnan(ref) or not ref else f"{v / ref - 1:+.1%}"


@dataclass(frozen=True)
class Floor:
    """The quality floor on `metric`: `threshold` is the value a candidate must reach (at least it where
    higher is better, at most where lower). Relative floors come from `reference`'s value (slo.accuracy_floor);
    absolute ones are slo.quality_floor."""

    metric: Metric
    threshold: float
    relative: float | None = None  # slo.accuracy_floor, where the floor is relative
    reference: str | None = None
    reference_value: float | None = None

    def meets(self, v: float) -> bool:
        if v is None or math.isnan(v):
            return False
        return v >= self.threshold if self.metric.higher else v <= self.threshold

    def undecided(self, ci) -> bool:
        """The interval reaches both sides of the threshold (or there is none): the split cannot tell."""
        return ci is None or ci[0] <= self.threshold <= ci[1]

    def describe(self) -> str:
        """"the accuracy floor (99% of full's 0.8000, i.e. 0.7920)", "the RMSE floor (at most full's
        0.5880 / 0.95, i.e. 0.6189)", "the PR-AUC floor (at least 0.6000, absolute)"."""
        m = self.metric
        if self.relative is None:
            return f"the {m.label} floor ({'at least' if m.higher else 'at most'} {self.threshold:.4f}, absolute)"
        if m.higher:
            return (f"the {m.label} floor ({self.relative:.0%} of {self.reference}'s {self.reference_value:.4f}, "
                    f"i.e. {self.threshold:.4f})")
        return (f"the {m.label} floor (at most {self.reference}'s {self.reference_value:.4f} / {self.relative:g}, "
                f"i.e. {self.threshold:.4f})")

    def misses(self, v: float) -> str:
        """Why `v` does not meet it: "accuracy 0.7000 is below the floor 0.7920"."""
        return f"{self.metric.label} {v:.4f} is {'below' if self.metric.higher else 'above'} the floor {self.threshold:.4f}"


def paired_accuracy_interval(quality: dict | None, reference: dict | None, floor: Floor) -> tuple[float, float] | None:
    """A 95% interval for a variant's accuracy that is paired with the reference it is judged against:
    the two models answer the same test examples, so their accuracies move together and the unpaired
    intervals (about +-1.9 points at 2,000 examples) overstate what separates them from a 99% floor.

    Var(acc_v - f * acc_ref) <= d / n + (1 - f)^2 * acc_ref (1 - acc_ref) / n, where d is the share of
    examples on which the two predictions differ (an upper bound on the discordant share of McNemar's
    variance, (b + c) / n^2 - (b - c)^2 / n^3: no label needed). None where it does not apply (not a
    relative accuracy floor, or predictions missing)."""
    if floor.metric.name != "accuracy" or floor.relative is None or not quality or not reference:
        return None
    mine, theirs = quality.get("predictions"), reference.get("predictions")
    if not mine or not theirs or len(mine) != len(theirs):
        return None
    n = len(mine)
    d = sum(a != b for a, b in zip(mine, theirs, strict=True)) / n
    ref = floor.reference_value
    se = math.sqrt(d / n + (1 - floor.relative) ** 2 * ref * (1 - ref) / n)
    acc = value(quality, "accuracy")
    return acc - 1.96 * se, acc + 1.96 * se


def reference_variant(run) -> str | None:
    """The full fine-tune in its own PyTorch runtime: the reference for a relative floor."""
    for cell in run.cells:
        if list(cell.steps) == ["full"] and cell.runtime == "torch":
            return cell.variant
    return None


def quality_by_variant(run) -> dict[str, dict]:
    return {c.variant: c.quality for c in run.cells if c.scenario == "accuracy" and c.status == "ok"}


def quality_floor(run) -> tuple[Floor | None, str | None]:
    """(the floor, None), or (None, why there is none: no reference value for a relative floor)."""
    metric = primary_metric(run)
    slo = run.suite["slo"]
    if slo.get("quality_floor") is not None:
        return Floor(metric, float(slo["quality_floor"])), None
    ref = reference_variant(run)
    ref_value = value(quality_by_variant(run).get(ref), metric.name) if ref else math.nan
    if math.isnan(ref_value):
        return None, (f"no {metric.label} for the full fine-tune in PyTorch, so the {metric.label} floor "
                      "cannot be judged")
    rel = slo["accuracy_floor"]
    threshold = rel * ref_value if metric.higher else ref_value / rel
    return Floor(metric, threshold, rel, ref, ref_value), None
