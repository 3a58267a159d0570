import math

import pytest

from bench.report.pareto import dominates, pareto_front

B = ("max", "min", "min")  # accuracy up, cost down, p99 down


def test_single_point_is_the_frontier():
    assert pareto_front([[0.9, 1.0, 10.0]], B) == [0]


def test_point_dominated_on_each_axis_is_dropped():
    base = [0.9, 1.0, 10.0]
    worse_acc, worse_cost, worse_p99 = [0.8, 1.0, 10.0], [0.9, 2.0, 10.0], [0.9, 1.0, 20.0]
    assert pareto_front([base, worse_acc, worse_cost, worse_p99], B) == [0]


def test_trade_offs_are_all_kept():
    pts = [[0.9, 2.0, 10.0], [0.8, 1.0, 10.0], [0.85, 1.5, 5.0]]
    assert pareto_front(pts, B) == [0, 1, 2]


def test_duplicates_and_ties_are_kept_together():
    pts = [[0.9, 1.0, 10.0], [0.9, 1.0, 10.0], [0.9, 1.0, 11.0]]
    assert pareto_front(pts, B) == [0, 1]
    assert not dominates(pts[0], pts[1], B)


def test_missing_metric_is_never_on_the_frontier():
    assert pareto_front([[math.nan, 0.1, 1.0], [0.5, 1.0, 10.0]], B) == [1]


def test_unknown_direction_is_an_error():
    with pytest.raises(ValueError):
        dominates([1], [2], ["up"])
