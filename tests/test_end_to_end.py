"""`bench run suites/smoke.toml` in a subprocess, on a tiny model and dataset made in the test."""

import csv
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.record import load_run
from tests.conftest import EarlyRun, early_run

REPO = Path(__file__).resolve().parent.parent
REQUIRED_OFFLINE = ("latency", "throughput_samples_per_s", "memory", "cost", "model", "settings")
VARIANTS = ("full", "onnx", "int8", "lora", "distilled+int8", "tensorrt-fp16")
SERVED = {f"{v}/server{t}" for v in ("int8", "tensorrt-fp16") for t in ("", "-real")}
MANIFEST_KEYS = ("step", "key", "parent", "chain", "params", "parameters", "size_on_disk_bytes", "build_wall_s", "files")


@early_run("smoke_run")
def start_smoke_run(request) -> EarlyRun:
    """The smoke suite on the tiny model, started when the session starts (tests/conftest.py: early runs)."""
    factory = request.getfixturevalue("tmp_path_factory")
    model, data = request.getfixturevalue("tiny_model_dir"), request.getfixturevalue("tiny_csv")
    out, cache = factory.mktemp("results"), factory.mktemp("cache")
    cmd = [sys.executable, "-m", "bench", "run", str(REPO / "suites" / "smoke.toml"), "--out", str(out),
           "--set", f"model.base={model}", "--set", f"task.dataset={data}",
           "--set", "finetune.max_steps=20", "--set", "finetune.epochs=6", "--set", "finetune.learning_rate=1e-3",
           "--set", "steps.distilled.layers=1"]
    return EarlyRun(cmd, {**os.environ, "BENCH_CACHE_DIR": str(cache)}, factory.mktemp("smoke-log"), out=out)


@pytest.fixture(scope="module")
def smoke_run(early_runs):
    run = early_runs["smoke_run"]
    return run.wait(), run.out, run.cmd, run.env


def run_dir_of(out: Path) -> Path:
    return sorted((out / "smoke").iterdir())[0]


def test_run_succeeds_and_writes_the_run_directory(smoke_run):
    done, out, _, _ = smoke_run
    assert done.returncode == 0, done.stderr[-3000:]
    d = run_dir_of(out)
    for name in ("run.json", "cells.csv", "report.md", "report.html", "data/test.jsonl"):
        assert (d / name).is_file(), name
    assert "report:" in done.stderr and str(d / "report.html") in done.stderr


def _cells_with_latency(run_dir: Path) -> tuple[dict, list[dict]]:
    """run.json as stored (schema 2: processes per cell), each cell with its derived pooled latency."""
    run = json.loads((run_dir / "run.json").read_text())
    latency = {c.cell_id: c.latency for c in load_run(run_dir).cells}
    assert all("latency" not in c and isinstance(c["processes"], list) for c in run["cells"])
    return run, [{**c, "latency": latency[c["cell_id"]]} for c in run["cells"]]


def test_every_record_has_the_required_fields(smoke_run):
    _, out, _, _ = smoke_run
    run, cells = _cells_with_latency(run_dir_of(out))
    assert run["schema_version"] == 2 and run["status"] == "finished"
    env = run["environment"]
    for key in ("git", "packages", "cpu_model", "cpu_flags", "python"):
        assert key in env
    assert run["profile"]["name"] == "aws-c6a-large" and run["data"]["test"]["sha256"]
    ids = {c["cell_id"] for c in cells}
    assert ids == {f"{v}/{s}" for v in VARIANTS for s in ("accuracy", "offline/bs4/seq16")} | SERVED
    for c in cells:
        if c["variant"] == "tensorrt-fp16":
            assert c["status"] == "unsupported" and "cuda" in c["reason"], c
            continue
        assert c["status"] == "ok", c
        if c["scenario"] == "server":
            best = c["server"]["best"]
            assert best and best["max_qps"] > 0 and c["throughput_samples_per_s"] == best["max_qps"], c["cell_id"]
            assert [s["max_batch_size"] for s in c["server"]["settings"]] == [1, 4]
            probes = [p for s in c["server"]["settings"] for p in s["probes"]]
            assert any(p["passed"] for p in probes) and all(p["queries"] >= 459 for p in probes)
            assert len(c["latency"]["samples_ms"]) >= 459 and c["cost"]["usd_per_million"] > 0
            traffic = c["server"]["traffic"]
            assert traffic["name"] == ("real" if c["cell_id"].endswith("-real") else "fixed")
            assert traffic["lengths"]["max"] <= 16 and c["server"]["capacity"]["repetitions"] == 1
        elif c["scenario"] == "offline":
            for key in REQUIRED_OFFLINE:
                assert c[key], (c["cell_id"], key)
            assert len(c["latency"]["samples_ms"]) >= 5 and c["cost"]["usd_per_million"] > 0
        else:
            q = c["quality"]
            assert len(q["predictions"]) == run["data"]["test"]["rows"]
            assert q["accuracy_ci95"][0] <= q["accuracy"] <= q["accuracy_ci95"][1]
    build = run["builds"]["full"]["manifests"][0]
    assert build["train"]["steps"] == 20 and build["train"]["wall_s"] > 0
    onnx = run["builds"]["onnx"]["manifests"][-1]
    assert onnx["max_abs_logit_diff_vs_parent"] < 1e-3
    chain = run["builds"]["distilled+int8"]["manifests"]
    assert [m["step"] for m in chain] == ["full", "distilled", "onnx", "int8"]
    assert chain[0]["key"] == build["key"]  # the shared parent was built once
    for parent, child in itertools.pairwise(chain):
        assert child["parent"] == parent["key"]
    for m in chain:
        for key in MANIFEST_KEYS:
            assert key in m, (m["step"], key)
    assert run["builds"]["tensorrt-fp16"]["status"] == "unsupported"


def test_onnx_predicts_what_pytorch_predicts(smoke_run):
    _, out, _, _ = smoke_run
    cells = {c["cell_id"]: c for c in json.loads((run_dir_of(out) / "run.json").read_text())["cells"]}
    a, b = cells["full/accuracy"]["quality"]["predictions"], cells["onnx/accuracy"]["quality"]["predictions"]
    assert sum(x == y for x, y in zip(a, b, strict=True)) / len(a) >= 0.97


def test_plan_from_the_run_and_its_verification(smoke_run, tmp_path):
    """`bench plan --verify` serves the cheapest plan's variant at its per-replica load and meets the p99."""
    _, out, _, env = smoke_run
    run_dir = run_dir_of(out)
    run = json.loads((run_dir / "run.json").read_text())
    # the larger of int8's two traffic models: every row then needs at least 3 replicas for 2.5x it
    capacity = max(c["server"]["best"]["max_qps"] for c in run["cells"] if c["cell_id"].startswith("int8/server"))
    done = subprocess.run([sys.executable, "-m", "bench", "plan", str(run_dir), "--qps", str(round(2.5 * capacity)),
                           "--p99-ms", "1000", "--headroom", "0.3", "--out", str(tmp_path), "--verify"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    plan = json.loads((tmp_path / "plan.json").read_text())
    top = plan["rows"][0]
    assert top["variant"] == "int8" and top["replicas"] >= 3
    assert plan["verification"]["status"] == "met" and plan["verification"]["probe"]["completed"] >= 2000
    assert "verification: met" in done.stderr


def test_cells_csv_matches_the_record(smoke_run):
    _, out, _, _ = smoke_run
    rows = list(csv.DictReader(open(run_dir_of(out) / "cells.csv")))
    assert len(rows) == len(VARIANTS) and {r["variant"] for r in rows} == set(VARIANTS)


def test_second_run_reuses_cached_artifacts_and_report_rerenders(smoke_run):
    _done, out, cmd, env = smoke_run
    again = subprocess.run([*cmd, "--only", "onnx", "--set", "measure.processes=2"], capture_output=True, text=True,
                           timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    dirs = sorted((out / "smoke").iterdir())
    assert len(dirs) == 2  # a new run directory; the first is untouched
    assert not list((dirs[-1] / "logs").glob("build-*.log"))  # nothing rebuilt
    # each offline cell was measured in 2 fresh processes, whose samples are kept apart by their counts
    offline = [c for c in _cells_with_latency(dirs[-1])[1] if c["scenario"] == "offline"]
    assert offline
    for c in offline:
        assert len(c["processes"]) == 2
        counts = c["latency"]["process_sample_counts"]
        assert len(counts) == 2 and sum(counts) == len(c["latency"]["samples_ms"]) == c["latency"]["summary"]["count"]
        assert c["settings"]["processes"] == 2
        assert len(list((dirs[-1] / "logs").glob(c["cell_id"].replace("/", "_") + "-p*.log"))) == 2
    first = dirs[0] / "report.html"
    before = first.read_text()
    first.unlink()
    rerender = subprocess.run([sys.executable, "-m", "bench", "report", str(dirs[0])], capture_output=True, text=True, timeout=120)
    assert rerender.returncode == 0, rerender.stderr
    assert first.read_text() == before


def _start_and_wait_for_cells(cmd, env, out: Path, n: int):
    import time

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        found = list(out.glob("smoke/*/run.json"))
        if found and len(json.loads(found[0].read_text())["cells"]) >= n:
            return proc, found[0]
        time.sleep(0.5)
    raise AssertionError("the run ended before it could be stopped")


def test_sigterm_stops_cleanly_with_finished_cells_on_disk(smoke_run, tmp_path):
    import signal

    _, out, cmd, env = smoke_run
    cmd = [c if c != str(out) else str(tmp_path) for c in cmd] + ["--only", "full", "--only", "onnx"]
    proc, run_json = _start_and_wait_for_cells(cmd, env, tmp_path, 1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    run = json.loads(run_json.read_text())
    assert run["status"] == "interrupted" and len(run["cells"]) >= 1
    assert "bench run --resume" in stderr


def test_killed_run_resumes_to_the_same_cells(smoke_run, tmp_path):
    """SIGKILL the parent mid-run: finished cells survive; --resume measures only what is missing."""
    import signal

    _, out, cmd, env = smoke_run
    only = ["--only", "full", "--only", "onnx"]  # artifacts are cached by the first run; killed after 2 of 4 cells
    cmd = [c if c != str(out) else str(tmp_path) for c in cmd] + only
    proc, run_json = _start_and_wait_for_cells(cmd, env, tmp_path, 2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = json.loads(run_json.read_text())
    assert before["status"] == "running" and len(before["cells"]) >= 2  # a valid file, nothing lost
    resumed = subprocess.run([sys.executable, "-m", "bench", "run", "--resume", str(run_json.parent)],
                             capture_output=True, text=True, timeout=600, env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = json.loads(run_json.read_text())
    assert after["status"] == "finished"
    for cell in before["cells"]:  # finished cells were kept as they were, not re-measured
        assert next(c for c in after["cells"] if c["cell_id"] == cell["cell_id"]) == cell
    full_run = json.loads((run_dir_of(out) / "run.json").read_text())
    expected = {c["cell_id"] for c in full_run["cells"] if c["variant"] in ("full", "onnx")}
    assert {c["cell_id"] for c in after["cells"]} == expected
    assert "resuming" in resumed.stderr
    again = subprocess.run(resumed.args, capture_output=True, text=True, timeout=600, env=env)  # nothing left
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(run_json.read_text())["finished_at"] == after["finished_at"]


def test_failed_cells_give_exit_code_3_and_the_run_completes(smoke_run, tmp_path):
    """A cell whose worker fails (here: a timeout far too short to build) is recorded; the run goes on."""
    _, out, cmd, env = smoke_run
    cmd = [c if c != str(out) else str(tmp_path) for c in cmd] + ["--only", "full", "--set", "measure.cell_timeout_s=0.5"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 3, done.stderr[-2000:]
    run = json.loads(next(tmp_path.glob("smoke/*/run.json")).read_text())
    assert run["status"] == "finished"
    assert {c["status"] for c in run["cells"]} == {"failed"} and all("timed out" in c["reason"] for c in run["cells"])
    assert (next(tmp_path.glob("smoke/*/report.html"))).is_file()
