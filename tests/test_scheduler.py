"""Scheduling against the Executor interface, with a fake executor: round order, partial/ after each
process and its reload on resume, a failed process failing its cell; the resume refusal; the
scenario registry."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from bench.executors.base import Outcome
from bench.jobspec import OfflineJob
from bench.results import ProcessResult
from bench.runsetup import resume_refusal
from bench.scenarios import SCENARIOS, Scenario, register_scenario
from bench.scheduler import PendingCell, Scheduler


class FakeExecutor:
    """Answers each job at once: a ProcessResult whose samples say which call it was; fails the calls
    listed in `fail_on` (by log name)."""

    def __init__(self, fail_on=()):
        self.calls: list[str] = []
        self.fail_on = set(fail_on)

    def run(self, job, log_path, timeout_s, on_progress=None, memory_limit_mib=None) -> Outcome:
        name = log_path.stem
        self.calls.append(name)
        if name in self.fail_on:
            return Outcome("failed", reason="boom", error_kind="exception", wall_s=1.0)
        return Outcome("ok", result=ProcessResult(samples_ms=(float(len(self.calls)),), warmup_ms=(),
                                                  stopped_by="rule"), wall_s=1.0)


def _cells(n=2, processes=3) -> list[PendingCell]:
    job = OfflineJob(runtime="torch", artifact_dir="a", device="cpu", threads=1, test_path="t", label_names=("x",),
                     seed=0)
    return [PendingCell(f"v{i}", ("full",), {}, "offline", 1, 16, job, processes=processes) for i in range(n)]


def _schedule(tmp_path, executor, cells, done=None):
    finished = {} if done is None else done
    Scheduler(executor, tmp_path, 60).run_rounds(
        cells, ["accuracy", "offline"], lambda cid: cid in finished,
        lambda cell, outcome: finished.__setitem__(cell.cell_id, outcome))
    return finished


def test_rounds_take_one_process_of_every_cell_in_turn(tmp_path):
    ex = FakeExecutor()
    finished = _schedule(tmp_path, ex, _cells())
    assert ex.calls == ["v0_offline_bs1_seq16-p1", "v1_offline_bs1_seq16-p1", "v0_offline_bs1_seq16-p2",
                        "v1_offline_bs1_seq16-p2", "v0_offline_bs1_seq16-p3", "v1_offline_bs1_seq16-p3"]
    v0 = finished["v0/offline/bs1/seq16"]
    assert v0.status == "ok" and [r.samples_ms for r in v0.result] == [(1.0,), (3.0,), (5.0,)]
    assert v0.wall_s == 3.0 and not any((tmp_path / "partial").glob("*"))


def test_partial_is_written_after_each_process_and_reloaded_on_resume(tmp_path):
    cells = _cells(n=1)
    scheduler = Scheduler(FakeExecutor(), tmp_path, 60)
    assert scheduler.run_one_process(cells[0]) is None
    assert scheduler.run_one_process(cells[0]) is None
    saved = json.loads(scheduler.partial_path(cells[0]).read_text())
    assert [r["samples_ms"] for r in saved["results"]] == [[1.0], [2.0]]
    # an interrupted run resumes: the two processes come back, only the third is measured
    again = _cells(n=1)
    scheduler.load_partial(again[0])
    ex = FakeExecutor()
    finished = _schedule(tmp_path, ex, again)
    assert ex.calls == ["v0_offline_bs1_seq16-p3"]
    assert [r.samples_ms for r in finished["v0/offline/bs1/seq16"].result] == [(1.0,), (2.0,), (1.0,)]
    assert not scheduler.partial_path(again[0]).exists()


def test_a_failed_process_fails_the_whole_cell(tmp_path):
    ex = FakeExecutor(fail_on={"v0_offline_bs1_seq16-p2"})
    finished = _schedule(tmp_path, ex, _cells())
    v0 = finished["v0/offline/bs1/seq16"]
    assert v0.status == "failed" and v0.reason == "process 2 of 3: boom"
    assert "v0_offline_bs1_seq16-p3" not in ex.calls and finished["v1/offline/bs1/seq16"].status == "ok"


def test_cells_already_in_the_record_are_not_measured_again(tmp_path):
    ex = FakeExecutor()
    _schedule(tmp_path, ex, _cells(), done={"v0/offline/bs1/seq16": None})
    assert all(c.startswith("v1") for c in ex.calls) and len(ex.calls) == 3


class SlotsExecutor(FakeExecutor):
    """Two machines: every job waits at a barrier for a second one, so the test fails (BrokenBarrierError)
    unless two run at once; records the jobs running at once and the node of each."""

    slots = 2

    def __init__(self):
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=10)
        self.lock = threading.Lock()
        self.running: set[str] = set()
        self.most_at_once = 0

    def run(self, job, log_path, timeout_s, on_progress=None, memory_limit_mib=None) -> Outcome:
        with self.lock:
            self.running.add(log_path.stem)
            self.most_at_once = max(self.most_at_once, len(self.running))
            node = {"node_id": f"n{len(self.running)}", "host": "h"}
        self.barrier.wait()
        outcome = super().run(job, log_path, timeout_s)
        with self.lock:
            self.running.discard(log_path.stem)
        return dataclasses.replace(outcome, node=node)


def test_an_executor_with_two_slots_runs_two_cells_of_a_round_at_once_and_rounds_stay_in_order(tmp_path):
    ex = SlotsExecutor()
    cells = _cells(n=4, processes=2)
    finished = _schedule(tmp_path, ex, cells)
    assert ex.most_at_once == 2 and len(finished) == 4
    assert all(name.endswith("-p1") for name in ex.calls[:4]) and all(n.endswith("-p2") for n in ex.calls[4:])
    assert all(len(c.nodes) == 2 and {"node_id", "host"} <= c.nodes[0].keys() for c in cells)


def test_resume_is_refused_where_the_machine_or_packages_differ():
    before = {"cpu_model": "EPYC", "cpu_count": 2, "gpu_name": None, "packages": {"torch": "2.13.0"}}
    assert resume_refusal(before, dict(before)) is None
    message = resume_refusal(before, {**before, "cpu_model": "Xeon", "packages": {"torch": "2.14.0"}})
    assert message == ("cannot resume here, the environment differs from the run's "
                       "(cpu_model: EPYC -> Xeon; torch: 2.13.0 -> 2.14.0); start a new run instead")
    # where both record a machine identity, the message names the microarchitecture
    zen3 = {"microarchitecture": "Zen 3", "cpu_model_name": "AMD EPYC 7R13", "isa": ["avx2"]}
    zen5 = {"microarchitecture": "Zen 5", "cpu_model_name": "AMD EPYC 9R45",
            "isa": ["avx2", "avx512", "avx512_vnni", "avx512_bf16"]}
    message = resume_refusal({**before, "machine": zen3}, {**before, "machine": zen5})
    assert "machine: Zen 3 (AMD EPYC 7R13, AVX2) -> Zen 5 (AMD EPYC 9R45, AVX-512, VNNI, BF16)" in message


def test_scenarios_are_registered_in_measuring_order_and_once():
    from bench import record

    assert list(SCENARIOS) == ["accuracy", "offline", "server"] == list(record.SCENARIOS)
    with pytest.raises(ValueError, match="registered twice"):
        register_scenario(Scenario("offline", *[None] * 5))
