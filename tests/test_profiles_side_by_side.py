"""The profiles of a fan-out run side by side (bench/report/profiles.py): `bench report` of one of its
run directories finds the others and ranks profile x variant cheapest first among the rows that meet the
SLO and the accuracy floor; a run of one profile prints no such table. Hand-made records, no model."""

from __future__ import annotations

import dataclasses

from rich.console import Console
from typer.testing import CliRunner

from bench.cli import app
from bench.cost import usd_per_million
from bench.record import save_run
from bench.report.profiles import fanout_run_dirs, print_profiles, profile_rows
from tests.golden import PROFILE, golden_run

CHEAP = {**PROFILE, "name": "test-cheap", "instance": "cheap.large", "price_usd_per_hour": 0.36}


def _priced(run, profile: dict, run_id: str, siblings: list[str], simulated: bool = True):
    """`run` priced as `profile` (each cell's USD/1M at its price), as one profile of a fan-out."""
    cells = tuple(dataclasses.replace(c, cost={**c.cost, "usd_per_million": usd_per_million(
        profile["price_usd_per_hour"], c.throughput_samples_per_s)}) if c.cost else c for c in run.cells)
    cluster = {"executor": "ray", "simulated": simulated, "fanout_run_ids": siblings}
    return dataclasses.replace(run, profile=profile, cells=cells, run_id=run_id,
                               environment={**run.environment, "cluster": cluster})


def _fanout(tmp_path):
    ids = ["20260101T000000Z-abc-test-cpu", "20260101T000000Z-abc-test-cheap"]
    for run_id, profile in zip(ids, (PROFILE, CHEAP), strict=True):
        save_run(tmp_path / run_id, _priced(golden_run(), profile, run_id, ids))
    return [tmp_path / i for i in ids]


def test_one_directory_of_a_fan_out_finds_the_others(tmp_path):
    dirs = _fanout(tmp_path)
    assert fanout_run_dirs(dirs[0]) == dirs and fanout_run_dirs(dirs[1]) == dirs
    (tmp_path / "elsewhere").mkdir()
    alone = tmp_path / "elsewhere" / dirs[0].name
    dirs[0].rename(alone)
    assert fanout_run_dirs(alone) == [alone]  # its siblings are not beside it: itself only


def test_profiles_are_ranked_cheapest_first_among_rows_that_meet_the_slo_and_floor():
    ids = ["a", "b"]
    rows = profile_rows([_priced(golden_run(), PROFILE, "a", ids), _priced(golden_run(), CHEAP, "b", ids)])
    meeting = [(r["profile"], r["variant"]) for r in rows if r["meets"]]
    # onnx at batch 8 is each profile's cheapest; full only at batch 1 (batch 8's p99 is over 50 ms), and
    # the cheap profile's full ($0.36/h at 50/s) undercuts the dear one's onnx ($3.6/h at 260/s)
    assert meeting == [("test-cheap", "onnx"), ("test-cheap", "full"), ("test-cpu", "onnx"), ("test-cpu", "full")]
    assert [r["batch_size"] for r in rows[:4]] == [8, 1, 8, 1]
    costs = [r["usd_per_million"] for r in rows[:4]]
    assert costs == sorted(costs)
    tiny = next(r for r in rows if r["variant"] == "tiny")
    assert not tiny["meets"] and "accuracy below the floor" in tiny["why_not"]  # the primary metric, named
    assert all(r["measured_on"].endswith("(simulated node)") for r in rows)
    trt = next(r for r in rows if r["variant"] == "trt")
    assert not trt["meets"] and trt["why_not"] == "unsupported: see the report" and rows[-1]["variant"] == "trt"


def test_bench_report_of_a_fan_out_run_shows_its_profiles_side_by_side(tmp_path):
    dirs = _fanout(tmp_path)
    out = CliRunner().invoke(app, ["report", str(dirs[0])], terminal_width=250)
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "profiles side by side" in text
    table = text[text.index("profiles side by side"):]
    assert table.index("test-cheap") < table.index("test-cpu")
    single = tmp_path / "single"
    save_run(single, golden_run())
    out = CliRunner().invoke(app, ["report", str(single)], terminal_width=250)
    assert out.exit_code == 0 and "profiles side by side" not in out.output


def test_rows_without_a_cell_at_the_slo_length_say_why():
    run = golden_run()
    run = dataclasses.replace(run, suite={**run.suite, "slo": {**run.suite["slo"], "seq_len": 128}})
    rows = profile_rows([run])
    assert rows and not any(r["meets"] for r in rows)
    assert all(r["why_not"] == "no cell measured at the SLO's sequence length" for r in rows if r["variant"] != "trt")
    console = Console(record=True, width=250)
    print_profiles(rows, console)
    assert "no cell measured at the SLO's sequence length" in console.export_text()


def test_plan_rows_of_simulated_nodes_say_so_and_real_ones_do_not():
    from bench.plan import make_plan

    ids = ["a", "b"]
    run = golden_run(with_server=True)
    simulated = make_plan([_priced(run, PROFILE, "a", ids)], qps=100.0, p99_ms=50.0)
    real = make_plan([_priced(run, PROFILE, "a", ids, simulated=False)], qps=100.0, p99_ms=50.0)
    assert simulated and all("(simulated node)" in r.measured_on for r in simulated)
    assert all(r.pricing_label and "simulated node" in r.pricing_label for r in simulated)
    assert real and not any("simulated" in (r.measured_on or "") + (r.pricing_label or "") for r in real)
