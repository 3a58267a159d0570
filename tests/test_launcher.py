"""Each failure of a real worker process becomes an outcome with its kind and the log's tail."""

import pytest

from bench.jobspec import CallJob
from bench.launcher import run_job


def job(target):
    return CallJob(target=f"tests.faults:{target}")


def test_ok_result_and_progress(tmp_path):
    seen = []
    out = run_job(job("ok"), tmp_path / "ok.log", 120, lambda *a: seen.append(a))
    assert out.status == "ok" and out.result == {"value": 42}
    assert seen == [("working", 1, 1)]


@pytest.mark.parametrize("target, kind, words", [
    ("raise_error", "exception", "injected failure"),
    ("kill_self", "signal", "SIGSEGV"),
    ("exit_quietly", "no_result", "code 7"),
    ("raise_out_of_memory", "oom", "CUDA out of memory"),
])
def test_failures_become_failed_outcomes(tmp_path, target, kind, words):
    out = run_job(job(target), tmp_path / f"{target}.log", 120)
    assert out.status == "failed" and out.error_kind == kind
    assert words in out.reason
    if target == "raise_error":
        assert "about to fail" in out.error_tail and "RuntimeError" in out.error_tail


def test_timeout_kills_the_worker(tmp_path):
    out = run_job(job("sleep_forever"), tmp_path / "t.log", 8)
    assert out.status == "failed" and out.error_kind == "timeout" and "timed out" in out.reason


def test_memory_limit_kills_the_worker(tmp_path):
    out = run_job(job("allocate_forever"), tmp_path / "m.log", 120, memory_limit_mib=400)
    assert out.status == "failed" and out.error_kind == "oom"
    assert "exceeded the memory limit of 400 MiB" in out.reason
