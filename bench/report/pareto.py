"""Pareto frontier over stored results, with a declared better-direction per metric (as peft's
method_comparison does)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def dominates(a: Sequence[float], b: Sequence[float], better: Sequence[str]) -> bool:
    """a dominates b: at least as good on every metric and strictly better on one."""
    strictly = False
    for x, y, direction in zip(a, b, better, strict=True):
        if direction == "max":
            x, y = -x, -y
        elif direction != "min":
            raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
        if x > y:
            return False
        strictly |= x < y
    return strictly


def pareto_front(points: Sequence[Sequence[float]], better: Sequence[str]) -> list[int]:
    """Indices of the points no other point dominates. Equal points do not dominate each other, so
    duplicates on the frontier are all kept; points with a missing (NaN) metric are never on it."""
    usable = [i for i, p in enumerate(points) if all(v is not None and not math.isnan(v) for v in p)]
    return [i for i in usable if not any(dominates(points[j], points[i], better) for j in usable if j != i)]
