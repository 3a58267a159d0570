import re

from bench.record import save_run
from bench.report.render import build_view, write_report
from bench.report.rows import cell_rows, recommend
from tests.golden import golden_run


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
    assert "| onnx | 0.8000 | 80.0 | max 4, 5 ms |" in md
    assert "## Capacity plan: 200 requests/s at p99 50 ms" in md
    assert "| 1 | test-cpu (test.large, $3.6/h) | onnx | 0.8000 | 80.0 | max 4, 5 ms | 3 |" in md
    html = paths["html"].read_text()
    assert html.count("<svg") == 4 and "Latency vs offered load" in html
    assert "Capacity plan: 200 requests/s" in html


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

