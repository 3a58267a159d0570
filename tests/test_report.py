import re

import pytest

from bench.record import save_run
from bench.report.card import card_markdown
from bench.report.render import build_view, markdown, write_report
from bench.report.rows import cell_rows, recommend
from tests.golden import crowded_run, golden_run


def test_recommendation_is_cheapest_within_slo_and_floor():
    run = golden_run()
    rec = recommend(run, cell_rows(run))
    assert rec["reference_variant"] == "full" and rec["accuracy_floor"] == 0.99 * 0.80
    c = rec["choice"]
    assert (c["variant"], c["batch_size"]) == ("onnx", 8)  # tiny is cheaper but below the floor


def test_no_choice_says_why():
    run = golden_run()
    run = run.__class__(**{**run.__dict__, "suite": {**run.suite, "slo": {**run.suite["slo"], "p99_ms": 1.0}}})
    rec = recommend(run, cell_rows(run))
    assert rec["choice"] is None and "no cell meets the p99 SLO of 1 ms" in rec["why_none"]


def test_frontier_and_unsupported_cells_in_the_view():
    view = build_view(golden_run())
    front = {(p["variant"], p["batch_size"]) for p in view["frontier"]}
    assert ("tiny", 8) in front and ("onnx", 1) in front
    assert ("full", 8) not in front  # onnx bs8 is more accurate-or-equal, cheaper and faster
    assert [(g["variant"], g["cells"], g["status"]) for g in view["failed"]] == [("trt", ["offline/bs8/seq64"], "unsupported")]


def test_reports_are_written_from_the_record_alone(tmp_path):
    save_run(tmp_path, golden_run())
    paths = write_report(tmp_path)
    md = paths["md"].read_text()
    assert "**onnx** (onnxruntime) at batch size 8" in md
    assert "- **trt** (offline/bs8/seq64): **unsupported**: " in md
    html = paths["html"].read_text()
    assert html.count("<svg") == 3  # accuracy vs cost, accuracy vs p99, latency vs batch
    assert not re.search(r'(src|href)="(https?:)?//', html)  # self-contained: nothing fetched
    csv = paths["csv"].read_text().splitlines()
    assert csv[0].startswith("variant,steps,runtime,batch_size,seq_len,status")
    assert len(csv) == 1 + 6


def test_strings_from_data_and_config_are_escaped(tmp_path):
    evil = "<script>alert(1)</script>"
    save_run(tmp_path, golden_run(label_names=(evil, "b", "c"), suite_name="x<img src=x onerror=alert(1)>"))
    html = write_report(tmp_path)["html"].read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html


def test_server_results_give_a_load_section_a_knee_chart_and_a_plan(tmp_path):
    run = golden_run(with_server=True)
    run = run.__class__(**{**run.__dict__, "suite": {**run.suite, "slo": {**run.suite["slo"], "target_qps": 200.0}}})
    save_run(tmp_path, run)
    paths = write_report(tmp_path)
    md = paths["md"].read_text()
    assert "## Under load: server scenario" in md and "the cheapest is **onnx**" in md
    # a record from before repeated peaks: one repetition of fixed-length traffic, capacity = best max_qps
    assert "| onnx | fixed-length | 0.8000 | 80.0 | 80.0 | 1: 80.0 | max 4, 5 ms |" in md
    assert "## Capacity plan (fixed-length traffic): 200 requests/s at p99 50 ms" in md
    assert "| 1 | test-cpu (test.large, $3.6/h) | onnx | 0.8000 | 80.0 | max 4, 5 ms | 3 |" in md
    assert "- onnx/server (fixed-length traffic): 80.0 QPS, 1 repetition: no spread measured" in md
    html = paths["html"].read_text()
    # quality vs cost and vs p99, latency vs batch, capacity repetitions, p99 vs offered load, the plan's bars
    assert html.count("<svg") == 6 and "p99 per request vs offered load" in html
    assert "Capacity plan (fixed-length traffic): 200 requests/s" in html


def test_terminal_summary_says_each_unsupported_variant_once(tmp_path):
    from rich.console import Console

    from bench.report.terminal import print_summary

    save_run(tmp_path, golden_run())
    console = Console(record=True, width=200)
    print_summary(tmp_path, console)
    text = console.export_text()
    assert "trt (offline/bs8/seq64): unsupported: " in text
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert rows and not any(" trt " in row for row in rows)  # no row of dashes in the table



def _with_target(run, **slo):
    return run.__class__(**{**run.__dict__, "suite": {**run.suite, "slo": {**run.suite["slo"], "target_qps": 200.0, **slo}}})


def test_decision_card_takes_its_figures_from_the_plan():
    from bench.plan import make_plan

    run = _with_target(golden_run(with_server=True))
    card = build_view(run)["card"]
    top = next(r for r in make_plan([run], 200.0, 50.0) if r.feasible)
    figures = {f["key"]: f for f in card["figures"]}
    assert (card["status"], card["variant"]) == ("recommended", top.variant) == ("recommended", "onnx")
    assert figures["monthly_usd"]["raw"] == top.monthly_usd == 3 * 3.6 * 730  # replicas x price per hour x 730 h
    assert figures["monthly_usd"]["value"] == "$7,884.00" and "3 replicas x $3.6/h x 730 h" in figures["monthly_usd"]["note"]
    assert figures["usd_per_million"]["raw"] == pytest.approx(3 * 3.6 / (200 * 3600) * 1e6)
    assert figures["replicas"]["value"] == "3"  # one repetition: no range
    assert figures["quality"]["value"] == "0.8000" and figures["quality"]["note"].startswith("95% CI 0.780-0.820; +0.00 points vs full")
    assert card["measured_on"]["machine"] == "Test CPU, 2 usable cores" and "made up for a test" in card["measured_on"]["profile"]


def test_decision_card_gives_the_replica_range_of_repeated_peaks(tmp_path):
    run = crowded_run()  # int8's peaks 436.8, 643.9, 540.0: 1 replica for 200 QPS either way; full's 52, 61, 57
    run = run.__class__(**{**run.__dict__, "suite": {**run.suite, "slo": {**run.suite["slo"], "target_qps": 1000.0}}})
    card = build_view(run)["card"]
    replicas = next(f for f in card["figures"] if f["key"] == "replicas")
    assert card["variant"] == "int8" and replicas["raw"] == 3 and replicas["value"] == "3 (typical 2)"
    assert "436.8 requests/s per replica (lowest of 3 repetitions)" in replicas["note"]
    assert "typical capacity 540.0 (median of 3 repetitions) needs 2" in replicas["note"]
    real = next(f for f in card["figures"] if f["key"] == "real_traffic")
    assert real["raw"] == 3 and "349.4 requests/s per replica" in real["note"]  # 1000 / 349.4 -> 3


def test_decision_card_says_not_decided_and_why():
    run = _with_target(golden_run(with_server=True))
    cells = tuple(c.__class__(**{**c.__dict__, "quality": {k: v for k, v in c.quality.items() if k != "predictions"},
                                 "processes": ()}) if c.scenario == "accuracy" else c for c in run.cells)
    card = build_view(run.__class__(**{**run.__dict__, "cells": cells}))["card"]  # unpaired: 0.78-0.82 holds 0.792
    assert card["status"] == "not decided" and card["variant"] == "onnx"
    assert "cannot tell whether onnx" in card["why"] and "0.780-0.820" in card["why"]
    assert "**Not decided**" in "\n".join(card_markdown(card))


def test_an_undecided_card_names_the_cheapest_decided_choice():
    run = _with_target(golden_run(with_server=True))
    # onnx without its predictions: unpaired, its interval 0.780-0.820 holds the floor 0.792; full (the
    # reference, paired with itself) is decided, at 10 replicas where onnx needs 3
    cells = tuple(c.__class__(**{**c.__dict__, "quality": {k: v for k, v in c.quality.items() if k != "predictions"},
                                 "processes": ()}) if c.scenario == "accuracy" and c.variant == "onnx" else c
                  for c in run.cells)
    card = build_view(run.__class__(**{**run.__dict__, "cells": cells}))["card"]
    assert card["status"] == "not decided" and card["variant"] == "onnx"
    assert card["why"].endswith("The cheapest decided choice: full (10 replicas, $26,280.00 per month under "
                                "fixed-length traffic).")


def test_a_recommendation_no_better_than_the_majority_class_is_flagged():
    from bench.stats import no_better_than_majority

    run = _with_target(golden_run(with_server=True))
    # every variant's accuracy 0.80 against a test split whose most common class is 85% of it
    cells = tuple(c.__class__(**{**c.__dict__, "quality": {**c.quality, "majority_class_rate": 0.85}})
                  if c.scenario == "accuracy" else c for c in run.cells)
    card = build_view(run.__class__(**{**run.__dict__, "cells": cells}))["card"]
    assert card["status"] == "recommended" and card["why"].startswith(f"Warning: {card['variant']}'s accuracy 0.8000")
    assert "most common class (0.8500)" in card["why"] and "has not learned the task" in card["why"]
    assert no_better_than_majority({"accuracy": 0.8, "accuracy_ci95": [0.78, 0.82], "majority_class_rate": 0.81}) is None
    assert no_better_than_majority({"accuracy": 0.5, "majority_class_rate": 0.97, "pr_auc": 0.4}) is None  # binary


def test_decision_card_without_a_server_scenario_is_offline_and_plans_nothing():
    card = build_view(golden_run())["card"]
    figures = {f["key"]: f for f in card["figures"]}
    assert card["variant"] == "onnx" and card["setting"].startswith("batch size 8")
    assert figures["monthly_usd"]["value"] == "not planned" and "no slo.target_qps" in figures["monthly_usd"]["note"]


def test_capacity_of_a_record_before_repetitions_is_one_search_of_fixed_traffic():
    from bench.report.capacity import capacity_of, traffic_of

    old = next(c for c in golden_run(with_server=True).cells if c.cell_id == "onnx/server")
    assert capacity_of(old)["repetitions_qps"] == [80.0] and capacity_of(old)["repetitions"] == 1
    assert traffic_of(old)["name"] == "fixed"
    new = next(c for c in crowded_run().cells if c.cell_id == "int8/server-real")
    cap = capacity_of(new)
    assert traffic_of(new)["name"] == "real" and cap["conservative_qps"] == pytest.approx(436.8 * 0.8)
    assert cap["typical_qps"] == pytest.approx(540.0 * 0.8) and cap["repetitions"] == 3


def test_measurement_notes_flag_a_high_between_process_spread(tmp_path):
    save_run(tmp_path, crowded_run())
    md = write_report(tmp_path)["md"].read_text()
    notes = md[md.index("## Measurement notes"):md.index("## All cells")]
    assert "30 offline cells, each pooled from 3 worker process(es), 180 samples per cell; 3 flagged" in notes
    assert "| pruned | 8 | 64 | 3 | 180 | the 3 processes' medians differ by CV 15%" in notes
    assert "- int8/server (fixed-length traffic): 436.8 (lowest of 3 repetitions), typical 540.0" in notes
    assert "| 15.0% HIGH | ok |" in md and "| 2.0% | ok |" in md  # the between-process CV of each offline figure


def test_every_chart_gives_a_variant_the_same_colour_and_each_point_a_tooltip():
    from bench.report.render import chart_svgs

    view = build_view(crowded_run())
    svgs = chart_svgs(view)
    assert all(svgs.values()) and len(view["colours"]) == 13 and len(set(view["colours"].values())) == 13
    seen = {}
    for name in ("cost", "p99", "batch", "knee"):
        for variant, style in re.findall(r'<g id="pt-[^"]+" class="pt"><title>([^,\n (]+)[^<]*</title>.*?style="([^"]*)"',
                                         svgs[name], flags=re.S):
            fill = re.search(r"fill: (#[0-9a-f]{6})", style)
            if fill and fill.group(1) != "#ffffff":  # hollow (failed) probes are white inside
                seen.setdefault(variant, set()).add(fill.group(1))
    assert len(seen) == 10 and all(fills == {view["colours"][v]} for v, fills in seen.items())


def test_report_md_stays_free_of_html():
    md = markdown(build_view(crowded_run()))
    assert not re.search(r"<(div|table|span|br|svg|details)\b", md)
    assert md.index("## Decision") < md.index("## Recommendation")
