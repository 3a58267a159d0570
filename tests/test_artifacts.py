"""The artifact cache: build once, share under concurrency, rebuild what is damaged."""

import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path

from bench import artifacts


@dataclass
class FakeOutcome:
    status: str
    result: dict | None = None


def fake_build(final: Path, counter: Path, delay_s: float = 0.0):
    def build():
        with open(counter, "a") as f:
            f.write("built\n")
        staging = artifacts.staging_dir(final)
        (staging / "weights.bin").write_bytes(b"w" * 1000)
        time.sleep(delay_s)
        return FakeOutcome("ok", artifacts.publish(staging, final, {"step": "fake"}))
    return build


def test_builds_once_then_reuses(tmp_path):
    final, counter = tmp_path / "a" / "fake-1", tmp_path / "count"
    m1, _ = artifacts.get_or_build(final, fake_build(final, counter))
    m2, _ = artifacts.get_or_build(final, fake_build(final, counter))
    assert m1 == m2 and counter.read_text().count("built") == 1
    assert m1["files"]["weights.bin"] and m1["size_on_disk_bytes"] == 1000
    assert not [p for p in final.parent.iterdir() if p.name.startswith(".tmp-")]  # no staging left


def test_damaged_artifact_is_rebuilt_not_used(tmp_path):
    final, counter = tmp_path / "a" / "fake-1", tmp_path / "count"
    artifacts.get_or_build(final, fake_build(final, counter))
    (final / "weights.bin").write_bytes(b"x" * 1000)  # same size, other bytes
    problems = []
    artifacts.get_or_build(final, fake_build(final, counter), on_rebuild=problems.append)
    assert problems == ["file weights.bin does not match its recorded sha256"]
    assert counter.read_text().count("built") == 2 and artifacts.verify(final) is None


def test_failed_build_publishes_nothing(tmp_path):
    final = tmp_path / "a" / "fake-1"
    manifest, outcome = artifacts.get_or_build(final, lambda: FakeOutcome("failed"))
    assert manifest is None and outcome.status == "failed" and not final.exists()


def _race(final: str, counter: str, out: str):
    manifest, _ = artifacts.get_or_build(Path(final), fake_build(Path(final), Path(counter), delay_s=1.0))
    Path(out).write_text(manifest["files"]["weights.bin"])


def test_concurrent_runs_build_once_and_agree(tmp_path):
    final, counter = tmp_path / "a" / "fake-1", tmp_path / "count"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_race, args=(str(final), str(counter), str(tmp_path / f"out{i}"))) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert counter.read_text().count("built") == 1
    assert len({(tmp_path / f"out{i}").read_text() for i in range(3)}) == 1
