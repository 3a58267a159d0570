"""`bench plan` against hand-computed cases (tests/golden.py holds the probes)."""

import json
import math

import pytest

from bench.cli import app
from bench.plan import capacity_at, make_plan
from bench.record import save_run
from tests.golden import PROFILE, SERVER_CELLS, golden_run


def _row(rows, variant, profile="test-cpu"):
    return next(r for r in rows if r.variant == variant and r.profile == profile)


def test_capacity_is_the_highest_measured_load_within_the_p99():
    onnx = SERVER_CELLS[1].server
    assert capacity_at(onnx, 50.0)[0] == 80
    assert capacity_at(onnx, 40.0)[0] == 50
    assert capacity_at(onnx, 10.0) is None


def test_plan_by_hand():
    rows = make_plan([golden_run(with_server=True)], qps=200, p99_ms=50, headroom=0.2, hours_per_month=730)
    onnx, full, tiny = _row(rows, "onnx"), _row(rows, "full"), _row(rows, "tiny")
    # onnx: 80 QPS per replica, 20% headroom -> 64 usable -> ceil(200 / 64) = 4 replicas
    assert onnx.replicas == 4 and onnx.monthly_usd == pytest.approx(4 * 3.6 * 730)
    assert onnx.usd_per_million == pytest.approx(4 * 3.6 * 730 / (200 * 3600 * 730) * 1e6)  # = 20.0
    assert onnx.utilization == pytest.approx(200 / (4 * 80))
    # full: 20 QPS -> 16 usable -> 13 replicas
    assert full.replicas == 13 and full.usd_per_million == pytest.approx(65.0)
    assert [r.variant for r in rows][:2] == ["onnx", "full"]  # cheapest first
    assert not tiny.feasible and "below the floor" in tiny.why_not


def test_exact_fit_needs_no_extra_replica_and_tighter_p99_uses_lower_loads():
    rows = make_plan([golden_run(with_server=True)], qps=160, p99_ms=50)
    assert _row(rows, "onnx").replicas == 2
    rows = make_plan([golden_run(with_server=True)], qps=160, p99_ms=42)
    assert _row(rows, "onnx").capacity_qps == 50 and _row(rows, "onnx").replicas == 4
    assert _row(rows, "full").capacity_qps == 10
    rows = make_plan([golden_run(with_server=True)], qps=160, p99_ms=5)
    assert not _row(rows, "onnx").feasible and "no measured load meets p99 5 ms" in _row(rows, "onnx").why_not


def test_runs_from_two_profiles_combine_and_the_cheaper_hardware_wins():
    cheap = {**PROFILE, "name": "cheap-cpu", "price_usd_per_hour": 0.36}
    rows = make_plan([golden_run(with_server=True), golden_run(with_server=True, profile=cheap)], qps=200, p99_ms=50)
    assert (rows[0].profile, rows[0].variant) == ("cheap-cpu", "onnx")
    assert rows[0].monthly_usd == pytest.approx(3 * 0.36 * 730)
    assert {r.profile for r in rows} == {"test-cpu", "cheap-cpu"}  # nothing invented for other profiles


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        make_plan([golden_run(with_server=True)], qps=0, p99_ms=50)
    with pytest.raises(ValueError):
        make_plan([golden_run(with_server=True)], qps=10, p99_ms=50, headroom=1.0)


def test_plan_command_writes_md_and_json(tmp_path, capsys):
    save_run(tmp_path / "run", golden_run(with_server=True))
    code = app(["plan", str(tmp_path / "run"), "--qps", "200", "--p99-ms", "50", "--headroom", "0.2",
                "--out", str(tmp_path / "plan")], standalone_mode=False)
    assert code in (None, 0)
    doc = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert doc["rows"][0]["variant"] == "onnx" and doc["rows"][0]["replicas"] == 4
    md = (tmp_path / "plan" / "plan.md").read_text()
    assert "| 1 | test-cpu" in md and "tiny: accuracy 0.7000 is below the floor" in md
    assert not math.isnan(doc["rows"][0]["usd_per_million"])
    app(["plan", str(tmp_path / "run"), "--qps", "100", "--p99-ms", "50", "--out", str(tmp_path / "plan")],
        standalone_mode=False)
    assert "previous plan there replaced" in " ".join(capsys.readouterr().err.split())
    assert json.loads((tmp_path / "plan" / "plan.json").read_text())["qps"] == 100


@pytest.mark.parametrize("flag", ["--qps", "--p99-ms", "--hours-per-month"])
def test_plan_names_the_flag_with_a_bad_value(tmp_path, flag):
    from bench.errors import BenchError

    save_run(tmp_path / "run", golden_run(with_server=True))
    args = {"--qps": "200", "--p99-ms": "50", "--hours-per-month": "730", flag: "-5"}
    with pytest.raises(BenchError, match=f"^{flag} -5: expected a finite number > 0"):
        app(["plan", str(tmp_path / "run"), *[x for kv in args.items() for x in kv], "--out", str(tmp_path / "p")],
            standalone_mode=False)
    assert not (tmp_path / "p").exists()
    args[flag] = "inf"
    with pytest.raises(BenchError, match=f"^{flag} inf: expected a finite number > 0"):
        app(["plan", str(tmp_path / "run"), *[x for kv in args.items() for x in kv], "--out", str(tmp_path / "p")],
            standalone_mode=False)


def test_plan_refuses_runs_without_server_results(tmp_path):
    from bench.errors import BenchError

    save_run(tmp_path / "run", golden_run())
    with pytest.raises(BenchError, match="has server-scenario results"):
        app(["plan", str(tmp_path / "run"), "--qps", "200", "--p99-ms", "50", "--out", str(tmp_path / "p")],
            standalone_mode=False)


def test_two_runs_of_one_profile_are_told_apart_by_run_id():
    import dataclasses

    from bench.plan import plan_markdown, profile_named

    first = golden_run(with_server=True)
    second = dataclasses.replace(first, run_id=first.run_id + "-again")
    rows = make_plan([first, second], qps=200, p99_ms=50)
    onnx = [r for r in rows if r.variant == "onnx"]
    assert {profile_named(r, rows) for r in onnx} == {f"test-cpu (run {first.run_id})", f"test-cpu (run {second.run_id})"}
    assert f"(run {second.run_id})" in plan_markdown(rows, 200, 50, 0.0, 730)
    alone = make_plan([first], qps=200, p99_ms=50)
    assert profile_named(alone[0], alone) == "test-cpu"  # one run per profile: no run id
