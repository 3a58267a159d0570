"""A short run on the real embedded model and data: the fine-tune must beat the majority class."""

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import EarlyRun, early_run

REPO = Path(__file__).resolve().parent.parent


@early_run("real_model_run")
def start_real_model_run(request) -> EarlyRun:
    """`full` of the smoke suite on the real model, started when the session starts (tests/conftest.py)."""
    tmp = request.getfixturevalue("tmp_path_factory").mktemp("real-model")
    cmd = [sys.executable, "-m", "bench", "run", "smoke", "--out", str(tmp / "results"), "--only", "full",
           "--set", "finetune.max_steps=40", "--set", "finetune.learning_rate=1e-4", "--set", "finetune.max_length=64",
           "--set", "task.max_train_rows=640", "--set", "task.max_test_rows=300"]
    env = {**os.environ, "BENCH_CACHE_DIR": str(tmp / "cache")}
    return EarlyRun(cmd, env, tmp, out=tmp / "results" / "smoke")


@pytest.fixture(scope="module")
def real_model_run(early_runs):
    return early_runs["real_model_run"]


@pytest.mark.integration
def test_real_model_few_steps_beats_majority_class(real_model_run):
    done = real_model_run.wait()
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = list(real_model_run.out.iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    assert run["data"]["cleaning"]["rows_read"] == 38158
    q = next(c for c in run["cells"] if c["cell_id"] == "full/accuracy")["quality"]
    assert q["n_examples"] == 300
    assert q["accuracy"] > q["majority_class_rate"] + 0.05, q
