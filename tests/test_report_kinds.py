"""The reading wing judges a run on its suite's primary metric in that metric's direction (issue #17):
the floor, the recommendation (and "not decided"), the frontier, the plan, the labels and cells.csv.
Hand-made records (tests/golden.py), no model."""

import pytest

from bench.config import SLO, ConfigError, read_suite
from bench.record import save_run
from bench.report.render import build_view, write_report
from bench.report.rows import cell_rows, frontier_rows, recommend
from tests.golden import golden_run, kind_run


def test_regression_floor_is_a_ceiling_on_rmse_relative_to_full():
    run = kind_run("regression")
    rec = recommend(run, cell_rows(run))
    assert rec["floor"].threshold == pytest.approx(0.50 / 0.95)  # at most full's RMSE / 0.95
    assert (rec["choice"]["variant"], rec["choice"]["batch_size"]) == ("onnx", 8)  # tiny's RMSE 0.70 is too high
    # onnx's interval [0.47, 0.55] contains the ceiling 0.526: the split cannot tell
    assert not rec["decided"] and [u["variant"] for u in rec["undecided"]] == ["onnx"]


def test_an_absolute_floor_decides_where_the_interval_is_clear_of_it():
    run = kind_run("regression", quality_floor=0.6)
    rec = recommend(run, cell_rows(run))
    assert rec["floor"].relative is None and rec["accuracy_floor"] == 0.6
    assert rec["choice"]["variant"] == "onnx" and rec["decided"]  # [0.47, 0.55] is all below 0.6
    run = kind_run("regression", quality_floor=0.45)
    rec = recommend(run, cell_rows(run))
    assert rec["choice"] is None and rec["why_none"] == "every cell within the SLO is above the RMSE floor 0.4500"


def test_a_cheaper_variant_whose_interval_reaches_the_floor_leaves_it_undecided():
    run = kind_run("binary", quality_floor=0.33)  # tiny: PR-AUC 0.30 in [0.22, 0.38], cheaper than onnx
    rec = recommend(run, cell_rows(run))
    assert rec["choice"]["variant"] == "onnx" and not rec["decided"]
    assert [u["variant"] for u in rec["undecided"]] == ["tiny"]


def test_the_frontier_follows_the_metric_direction():
    rows = cell_rows(kind_run("regression"))
    front = {(p["variant"], p["batch_size"]) for p in frontier_rows(rows, 64, build_view(kind_run("regression"))["metric"])
             if p["on_frontier"]}
    # full bs8 has the lowest RMSE, so nothing dominates it; in the classification run onnx bs8 does
    assert ("full", 8) in front and ("tiny", 8) in front
    assert ("full", 8) not in {(p["variant"], p["batch_size"]) for p in build_view(golden_run())["frontier"]}


@pytest.mark.parametrize(("kind", "label", "columns"), [("regression", "RMSE", "rmse,mae,spearman"),
                                                         ("binary", "PR-AUC", "pr_auc,roc_auc,f1,recall")])
def test_every_output_names_the_metric(tmp_path, kind, label, columns):
    save_run(tmp_path, kind_run(kind, with_server=True))
    paths = write_report(tmp_path)
    md, html = paths["md"].read_text(), paths["html"].read_text()
    if kind == "regression":  # a regression has no accuracy anywhere
        assert "accuracy" not in md.lower()
    assert "the accuracy floor" not in md and f"the {label} floor" in md
    assert f"| variant | steps | {label} (95% CI) | vs full |" in md
    assert f"Over {label} (" in md and f"| # | profile | variant | {label} |" in md
    assert f"<th>{label}</th><th>95% CI</th>" in html and html.count("<svg") == 6  # + capacity repetitions and the plan's bars
    header = paths["csv"].read_text().splitlines()[0]
    assert f"seq_len,status,reason,{columns},{columns.split(',')[0]}_ci_low" in header


def test_the_terminal_names_the_metric(tmp_path):
    from rich.console import Console

    from bench.report.terminal import print_summary

    save_run(tmp_path, kind_run("regression"))
    console = Console(record=True, width=220)
    print_summary(tmp_path, console)
    text = console.export_text()
    assert "RMSE" in text and "Not decided" in text and "accuracy" not in text.lower()


def test_plan_rows_carry_the_metric():
    from bench.plan import make_plan

    rows = make_plan([kind_run("regression", with_server=True)], 200.0, 50.0)
    assert {r.quality_metric for r in rows} == {"rmse"}
    assert [r.variant for r in rows if r.feasible] == ["onnx", "full"]
    assert next(r.why_not for r in rows if r.variant == "tiny") == "RMSE 0.7000 is above the floor 0.5263"


def test_one_floor_per_suite():
    with pytest.raises(ConfigError, match="give one floor"):
        read_suite("smoke", ["slo.quality_floor=0.5"])  # smoke sets accuracy_floor = 0.9
    assert SLO(p99_ms=10, seq_len=64, quality_floor=0.5).quality_floor == 0.5


def test_a_relative_accuracy_floor_is_judged_on_the_interval_paired_with_full():
    """At 2,000 examples the unpaired 95% interval of an accuracy is about +-1.8 points, wider than the
    0.8-point margin of a 99% floor; paired with full (same examples), few disagreements decide it."""
    from bench.report.quality import Floor, Metric, paired_accuracy_interval

    floor = Floor(Metric("accuracy"), 0.99 * 0.80, relative=0.99, reference="full",
                  reference_value=0.80)
    full = {"accuracy": 0.80, "predictions": [0] * 2000}
    close = {"accuracy": 0.795, "predictions": [1] * 4 + [0] * 1996}  # differs from full on 0.2% of examples
    lo, hi = paired_accuracy_interval(close, full, floor)
    assert (hi - lo) / 2 == pytest.approx(1.96 * (0.002 / 2000 + 0.01**2 * 0.16 / 2000) ** 0.5)
    assert not floor.undecided((lo, hi))  # 0.7950 +- 0.0020 is clear of 0.7920
    loose = {"accuracy": 0.795, "predictions": [1] * 40 + [0] * 1960}  # differs on 2%: the floor is inside
    assert floor.undecided(paired_accuracy_interval(loose, full, floor))
    assert paired_accuracy_interval({"accuracy": 0.795}, full, floor) is None  # no predictions: unpaired


def test_report_names_the_task_it_judged():
    from bench.report.render import task_description

    assert task_description(kind_run("regression")) == "regression of texts (text), judged on RMSE"
    assert task_description(golden_run()) == "classification of texts (text), judged on accuracy"  # before task kinds
