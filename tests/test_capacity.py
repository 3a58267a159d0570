"""A server cell's capacity with its uncertainty (independent peak searches pooled: the lowest planned
with, the median beside it), the plan on synthetic repetitions of known spread, records from before
repetitions, and one tiny-model server cell measured in two fresh processes."""

from __future__ import annotations

import dataclasses

import pytest

from bench.cells import Machine, cell_record
from bench.executors.base import Outcome
from bench.jobspec import ServerJob, ServerSettings
from bench.plan import capacity_text, make_plan, plan_markdown, replicas_text
from bench.record import CellRecord
from bench.results import ProcessResult
from bench.scenarios.server import pool, server_warnings
from bench.scheduler import PendingCell
from bench.server import capacity_of, capacity_summary
from tests.golden import SERVER_CELLS, golden_run, probe

JOB = ServerJob(runtime="onnxruntime", artifact_dir="a", device="cpu", threads=2, test_path="t", label_names=("x",),
                seed=0, seq_len=64, slo_p99_ms=50.0, server=ServerSettings(repetitions=3))


def sweep(peak: float | None, max_bs: int = 4, p99_upper_at_peak: float = 45.0) -> dict:
    """One repetition's sweep of one batching setting: passing probes up to `peak`, failing above it."""
    probes = [probe(peak / 2, 30.0), probe(peak, p99_upper_at_peak), probe(peak * 1.1, None)] if peak else \
        [probe(10.0, None)]
    best = {"max_batch_size": max_bs, "max_queue_delay_ms": 2.0, "max_qps": peak} if peak else None
    return {"slo_p99_ms": 50.0, "settings": [{"max_batch_size": max_bs, "max_queue_delay_ms": 2.0,
                                              "service_ms_at_max_batch": 5.0, "max_qps": peak, "probes": probes,
                                              "samples_ms_at_max_qps": [10.0] * 500 if peak else None}],
            "best": best, "traffic": {"name": "fixed", "description": "d", "lengths": {"p50": 64, "p99": 64, "max": 64}}}


def repetition(peak: float | None) -> ProcessResult:
    return ProcessResult(unit="ms per request at the highest passing QPS", samples_ms=(10.0,) * 500 if peak else None,
                         server=sweep(peak), throughput_samples_per_s=peak, memory={"peak_rss_mib": 300.0 + (peak or 0)})


def test_the_conservative_capacity_is_the_lowest_repetition_and_the_typical_the_median():
    cap = capacity_summary([643.9, 436.8, 600.0])  # the spread of issue #20: int8 643.9, then 436.8 QPS
    assert cap == {"repetitions_qps": [643.9, 436.8, 600.0], "conservative_qps": 436.8, "typical_qps": 600.0,
                   "conservative_rule": "lowest of 3 repetitions", "typical_rule": "median of 3 repetitions",
                   "repetitions": 3}
    none = capacity_summary([500.0, None, 520.0])  # a repetition with no passing load: no conservative figure
    assert none["conservative_qps"] is None and none["typical_qps"] == 510.0
    assert "2 of 3" in none["typical_rule"]
    assert capacity_summary([None])["typical_qps"] is None


def test_pooled_repetitions_keep_each_sweep_and_cost_the_conservative_figure():
    fields = pool([repetition(600.0), repetition(450.0), repetition(640.0)], JOB)
    server = fields["server"]
    assert server["capacity"]["repetitions_qps"] == [600.0, 450.0, 640.0]
    assert fields["throughput_samples_per_s"] == server["capacity"]["conservative_qps"] == 450.0
    assert server["best"]["max_qps"] == 450.0 and server["conservative_repetition"] == 2
    assert [r["best"]["max_qps"] for r in server["repetitions"]] == [600.0, 450.0, 640.0]
    assert server["repetitions"][0]["settings"][0]["samples_ms_at_max_qps"]  # each sweep kept whole
    assert all(p.server is None for p in fields["processes"]) and fields["memory"]["peak_rss_mib"] == 940.0
    cell = PendingCell("int8", ("full", "onnx", "int8"), {}, "server", None, None, job=JOB, processes=3)
    record = cell_record(cell, Outcome(status="ok", result=[repetition(600.0), repetition(450.0), repetition(640.0)],
                                       wall_s=1.0), Machine("cpu", 2, "p", 3.6))
    # $/1M = price/h / (QPS * 3600) * 1e6 at the conservative QPS
    assert record.cost["usd_per_million"] == pytest.approx(3.6 / (450.0 * 3600) * 1e6)
    assert record.settings["processes"] == 3 and record.settings["traffic"] == "fixed"
    assert any("varies between repetitions" in w for w in record.warnings)  # 450 is 25% below the median 600


def test_a_repetition_without_a_passing_load_leaves_no_conservative_capacity():
    fields = pool([repetition(600.0), repetition(None), repetition(640.0)], JOB)
    assert fields["throughput_samples_per_s"] is None and fields["server"]["best"] is None
    assert fields["server"]["capacity"]["typical_qps"] == 620.0
    assert server_warnings(pool([repetition(600.0), repetition(590.0)], JOB)["server"]) == []  # 2% apart: no warning


def served_cell(variant: str, peaks: list[float | None], traffic: str = "fixed") -> CellRecord:
    fields = pool([dataclasses.replace(repetition(p), server={**sweep(p), "traffic": {**sweep(p)["traffic"],
                                                                                       "name": traffic}})
                   for p in peaks], JOB)
    suffix = "" if traffic == "fixed" else f"-{traffic}"
    return CellRecord(cell_id=f"{variant}/server{suffix}", variant=variant, steps=("full", "onnx"),
                      runtime="onnxruntime", scenario="server", status="ok", seq_len=64,
                      settings={"traffic": traffic, "processes": len(peaks)}, **fields)


def _run_with(*cells):
    run = golden_run(with_server=False)
    return dataclasses.replace(run, cells=tuple(c for c in run.cells) + cells)


def test_the_plan_is_sized_on_the_lowest_repetition_and_shows_the_typical_replicas():
    run = _run_with(served_cell("onnx", [100.0, 80.0, 120.0]), served_cell("onnx", [150.0, 160.0, 170.0], "real"))
    rows = make_plan([run], qps=200, p99_ms=50)
    fixed = next(r for r in rows if r.variant == "onnx" and r.traffic == "fixed")
    # conservative 80 QPS -> ceil(200 / 80) = 3 replicas; typical (median) 100 -> 2
    assert fixed.capacity_qps == 80.0 and fixed.replicas == 3 and fixed.replicas_at_typical == 2
    assert fixed.typical_capacity_qps == 100.0 and fixed.capacity_rule == "lowest of 3 repetitions"
    assert replicas_text(fixed) == "3 (2 at typical)"
    assert capacity_text(fixed) == "80.0 (lowest of 3 repetitions; typical 100.0)"
    real = next(r for r in rows if r.traffic == "real")
    assert real.capacity_qps == 150.0 and real.replicas == 2 and replicas_text(real) == "2"
    assert rows[0] is real and real.cell_id == "onnx/server-real"  # cheaper: ranked first
    md = plan_markdown(rows, 200, 50, 0.0, 730)
    assert "onnx (real-length)" in md and "onnx (fixed-length)" in md and "3 (2 at typical)" in md


def test_a_tighter_p99_uses_each_repetitions_lower_loads_and_a_missing_one_is_not_planned():
    run = _run_with(served_cell("onnx", [100.0, 80.0, 120.0]))
    rows = make_plan([run], qps=200, p99_ms=40)  # only the probes at half the peak (p99 bound 30 ms) pass
    row = next(r for r in rows if r.variant == "onnx" and r.traffic == "fixed" and r.cell_id == "onnx/server")
    assert row.capacity_qps == 40.0 and row.typical_capacity_qps == 50.0
    run = _run_with(served_cell("onnx", [100.0, None, 120.0]))
    row = next(r for r in make_plan([run], qps=200, p99_ms=50) if r.cell_id == "onnx/server")
    assert not row.feasible and "repetition 2 of 3 found no measured load" in row.why_not


def test_a_record_from_before_repetitions_plans_as_one_repetition():
    old = SERVER_CELLS[1].server  # onnx: one process, no "capacity", no "repetitions"
    assert "capacity" not in old and capacity_of(old)["repetitions"] == 1
    assert capacity_of(old)["conservative_qps"] == old["best"]["max_qps"] == 80
    row = next(r for r in make_plan([golden_run(with_server=True)], qps=200, p99_ms=50) if r.variant == "onnx")
    assert row.capacity_qps == 80 and row.replicas == 3 and replicas_text(row) == "3" and capacity_text(row) == "80.0"
    assert row.traffic == "fixed" and row.capacity_rule == "lowest of 1 repetition"


def test_a_served_cell_round_trips_through_the_record():
    cell = served_cell("onnx", [100.0, 80.0, 120.0], "real")
    again = CellRecord.from_dict(cell.to_dict())
    assert again == cell and again.server["capacity"]["conservative_qps"] == 80.0
    assert len(again.latency["process_sample_counts"]) == 3


def test_a_tiny_model_server_cell_measured_in_two_fresh_processes(tmp_path, tiny_model_dir):
    """The real path: the scheduler runs two repetitions of a real-traffic server cell in spawned workers,
    and the record pools them (each repetition's sweep, the capacity, the traffic's lengths)."""
    from bench.data import Split, write_split
    from bench.executors.local import LocalExecutor
    from bench.scheduler import Scheduler
    from tests.conftest import tiny_texts

    rows = tiny_texts(120)
    write_split(Split(tuple(t for t, _ in rows), tuple(y for _, y in rows)), tmp_path / "test.jsonl")
    settings = ServerSettings(max_batch_sizes=(2,), max_queue_delay_ms=(1.0,), min_queries=459, min_duration_s=0.1,
                              relative_tolerance=0.5, max_probes=2, repetitions=2, traffic=("real",))
    job = ServerJob(runtime="torch", artifact_dir=str(tiny_model_dir), device="cpu", threads=1,
                    test_path=str(tmp_path / "test.jsonl"), label_names=("negative", "positive"), seed=0, seq_len=32,
                    slo_p99_ms=2000.0, server=settings, traffic="real")
    cell = PendingCell("tiny", ("full",), {}, "server", None, None, job=job, processes=2, traffic="real")
    done = []
    (tmp_path / "logs").mkdir()
    Scheduler(LocalExecutor(), tmp_path, timeout_s=300).run_rounds([cell], ["server"], lambda cid: False,
                                                                   lambda c, o: done.append(o))
    (outcome,) = done
    assert outcome.status == "ok", outcome.reason
    record = cell_record(cell, outcome, Machine("cpu", 1, "p", 3.6))
    server = record.cell_id, record.server
    assert record.cell_id == "tiny/server-real" and record.settings["processes"] == 2
    cap = server[1]["capacity"]
    assert cap["repetitions"] == 2 and len(server[1]["repetitions"]) == 2 and len(record.processes) == 2
    assert cap["conservative_qps"] == min(cap["repetitions_qps"]) == record.throughput_samples_per_s > 0
    lengths = server[1]["traffic"]["lengths"]
    assert server[1]["traffic"]["name"] == "real" and lengths["max"] <= 32 and lengths["p50"] < 32
    # each repetition checked the CPU before and during its sweep, as an offline cell's processes do
    checks = record.isolation["processes"]
    assert len(checks) == 2 and all({"before", "during"} <= set(c["cpu"]) for c in checks)
    assert all(c["cpu"]["during"]["duration_s"] > 0 for c in checks)


def test_server_rows_name_the_traffic_and_take_latency_from_the_conservative_repetition():
    from bench.report.rows import server_rows

    rows = server_rows(_run_with(served_cell("onnx", [100.0, 80.0, 120.0]), served_cell("onnx", [150.0], "real")))
    fixed, real = (next(r for r in rows if r["traffic"] == t) for t in ("fixed-length", "real-length"))
    assert fixed["label"] == "onnx (fixed-length)" and real["label"] == "onnx (real-length)"
    assert fixed["max_qps"] == 80.0 and fixed["capacity"]["typical_qps"] == 100.0
    assert fixed["requests"] == 500  # the conservative repetition's requests, not the three pooled
    assert server_rows(golden_run(with_server=True))[0]["label"] == "full"  # one traffic model: no label


def test_an_unsupported_real_traffic_cell_is_named_by_its_traffic_not_as_fixed_length():
    """An unsupported or failed server cell has no server record: its traffic comes from its id."""
    from bench.report.rows import server_rows

    unsupported = [CellRecord(cell_id=f"trt/server{s}", variant="trt", steps=("trt",), runtime="tensorrt",
                              scenario="server", status="unsupported", reason="no CUDA") for s in ("", "-real")]
    assert [c.traffic for c in unsupported] == ["fixed", "real"]
    rows = server_rows(_run_with(served_cell("onnx", [100.0]), *unsupported))
    assert sorted(r["label"] for r in rows if r["variant"] == "trt") == ["trt (fixed-length)", "trt (real-length)"]
    plan = make_plan([_run_with(served_cell("onnx", [100.0]), *unsupported)], qps=200, p99_ms=50)
    assert sorted(r.traffic for r in plan if r.variant == "trt") == ["fixed", "real"]
