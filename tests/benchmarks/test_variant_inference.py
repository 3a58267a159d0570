"""bench's built variants under pytest-benchmark, for teams whose CI already uses
`--benchmark-autosave` / `--benchmark-compare-fail`. Kept out of the default test run (marker
`variant_benchmark`); run with `nox -s benchmarks`.

It times `session.run` on a prepared batch of real test texts for every successfully measured offline
cell of a finished run: BENCH_RUN_DIR, or else the newest finished run of the default suite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.variant_benchmark
REPO = Path(__file__).resolve().parents[2]


def _run_dir() -> Path | None:
    if os.environ.get("BENCH_RUN_DIR"):
        return Path(os.environ["BENCH_RUN_DIR"])
    from bench.record import load_run

    for path in sorted((REPO / "results" / "default").glob("*/run.json"), reverse=True):
        try:
            if load_run(path.parent).status == "finished":
                return path.parent
        except Exception:
            continue
    return None


def _cells():
    run_dir = _run_dir()
    if run_dir is None:
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="no finished default-suite run under "
                                                                      "results/; run `nox -s bench` first"))]
    from bench.record import load_run

    run = load_run(run_dir)
    return [pytest.param(run_dir, c.cell_id, id=c.cell_id) for c in run.cells
            if c.scenario == "offline" and c.status == "ok" and Path(run.builds[c.variant]["artifact_dir"]).is_dir()]


@pytest.mark.parametrize(("run_dir", "cell_id"), _cells())
def test_inference(benchmark, run_dir, cell_id):
    from bench.data import read_split
    from bench.models import load_tokenizer
    from bench.record import load_run
    from bench.registry import RUNTIMES, load_all

    load_all()
    run = load_run(run_dir)
    cell = run.cell(cell_id)
    artifact = Path(run.builds[cell.variant]["artifact_dir"])
    session = RUNTIMES[cell.runtime].load(artifact, cell.settings["device"], cell.settings["threads"])
    texts = list(read_split(run_dir / "data" / "test.jsonl").texts)[: cell.batch_size]
    encoded = dict(load_tokenizer(artifact)(texts, padding="max_length", truncation=True, max_length=cell.seq_len,
                                            return_tensors="np"))
    prepared = session.prepare(encoded)
    benchmark.extra_info.update(variant=cell.variant, runtime=cell.runtime, batch_size=cell.batch_size,
                                seq_len=cell.seq_len, run_id=run.run_id)

    def call():
        out = session.run(prepared)
        session.synchronize()
        return out

    logits = session.logits(benchmark.pedantic(call, rounds=20, warmup_rounds=3, iterations=1))
    assert logits.shape == (cell.batch_size, len(run.data["label_names"]))
