"""A short run on the real embedded model and data: the fine-tune must beat the majority class."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_real_model_few_steps_beats_majority_class(tmp_path):
    cmd = [sys.executable, "-m", "bench", "run", "smoke", "--out", str(tmp_path / "results"), "--only", "full",
           "--set", "finetune.max_steps=40", "--set", "finetune.learning_rate=1e-4", "--set", "finetune.max_length=64",
           "--set", "task.max_train_rows=640", "--set", "task.max_test_rows=300"]
    env = {**os.environ, "BENCH_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = list((tmp_path / "results" / "smoke").iterdir())
    run = json.loads((run_dir / "run.json").read_text())
    assert run["data"]["cleaning"]["rows_read"] == 38158
    q = next(c for c in run["cells"] if c["cell_id"] == "full/accuracy")["quality"]
    assert q["n_examples"] == 300
    assert q["accuracy"] > q["majority_class_rate"] + 0.05, q
