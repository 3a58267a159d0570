"""`bench run` of the shipped regression and binary suites in subprocesses (issue #17), on the tiny model
and small data files made here, `full` and `int8` only, a few training steps (run early, beside the
in-process tests): the recorded metric names and intervals, the report judged on RMSE / PR-AUC, `bench
compare` of a run with itself and the exit codes. Nothing here asserts that the tiny model learned."""

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bench.metrics import MIN_CLASS_EXAMPLES_FOR_CI
from tests.conftest import FILLER, NEGATIVE, POSITIVE, EarlyRun, early_run

REPO = Path(__file__).resolve().parent.parent
FAST = ["--only", "full", "--only", "int8", "--set", "finetune.max_steps=4", "--set", "finetune.max_length=32",
        "--set", "finetune.batch_size=16", "--set", "task.max_train_rows=96", "--set", "task.max_val_rows=40",
        "--set", "task.max_test_rows=60", "--set", "measure.batch_sizes=[4]", "--set", "measure.seq_lengths=[16]",
        "--set", "slo.seq_len=16", "--set", "slo.p99_ms=1000.0", "--set", "measure.warmup_iterations=1",
        "--set", "measure.min_iterations=5", "--set", "measure.min_duration_s=0.05", "--set", "measure.max_duration_s=2.0",
        "--set", "measure.eval_batch_size=32", "--set", "measure.build_timeout_s=300"]


def _rows(kind: str, n: int = 240, seed: int = 1) -> list[tuple[str, object]]:
    """regression: a score in [-1, 1] from the cue words; binary: 'positive' for 1 row in 8, else 'other'."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        pos, neg = rng.randint(0, 2), rng.randint(0, 2)
        if kind == "binary":
            pos, neg = (2, 0) if i % 8 == 0 else (0, rng.randint(0, 2))
        words = [rng.choice(FILLER) for _ in range(3)] + rng.sample(POSITIVE, pos) + rng.sample(NEGATIVE, neg)
        rng.shuffle(words)
        label = round((pos - neg) / 2, 2) if kind == "regression" else ("positive" if pos else "other")
        rows.append((" ".join(words) + f" {i}", label))
    return rows


@early_run("kind_runs")
def start_kind_runs(request) -> dict:
    """Both suites, one after the other, queued when the session starts (tests/conftest.py: early runs)."""
    factory = request.getfixturevalue("tmp_path_factory")
    model = request.getfixturevalue("tiny_model_dir")
    out, cache = factory.mktemp("results"), factory.mktemp("cache")
    env = {**os.environ, "BENCH_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    runs = {}
    for kind in ("regression", "binary"):
        data = factory.mktemp("data") / f"{kind}.csv"
        with open(data, "w", newline="") as f:
            csv.writer(f).writerows([("text", "label"), *_rows(kind)])
        cmd = [sys.executable, "-m", "bench", "run", str(REPO / "suites" / f"{kind}.toml"), "--out", str(out),
               "--set", f"model.base={model}", "--set", f"task.dataset={data}", *FAST]
        runs[kind] = EarlyRun(cmd, env, factory.mktemp(f"{kind}-log"), out=out / kind)
    return runs


@pytest.fixture(scope="module")
def kind_runs(early_runs):
    """{kind: (completed process, run dir, env)}."""
    done = {}
    for kind, run in early_runs["kind_runs"].items():
        completed = run.wait()
        dirs = sorted(run.out.iterdir()) if run.out.is_dir() else []
        done[kind] = (completed, dirs[0] if dirs else None, run.env)
    return done


def _quality(run_dir: Path) -> dict:
    run = json.loads((run_dir / "run.json").read_text())
    return {c["variant"]: c["quality"] for c in run["cells"] if c["scenario"] == "accuracy" and c["status"] == "ok"}


@pytest.mark.parametrize(("kind", "metric", "label", "others"), [
    ("regression", "rmse", "RMSE", ("mae", "spearman")), ("binary", "pr_auc", "PR-AUC", ("roc_auc", "f1", "recall"))])
def test_a_kind_runs_end_to_end_and_is_judged_on_its_metric(kind_runs, kind, metric, label, others):
    done, run_dir, _ = kind_runs[kind]
    assert done.returncode == 0, done.stderr[-3000:]
    quality = _quality(run_dir)
    assert set(quality) == {"full", "int8"}
    test_rows = len((run_dir / "data" / "test.jsonl").read_text(encoding="utf-8").split("\n")) - 1
    for q in quality.values():
        assert (q["kind"], q["metric"], q["n_examples"]) == (kind, metric, test_rows)
        assert q["primary"] == q[metric] and q["primary_ci95"] == q[f"{metric}_ci95"]
        assert all(name in q for name in others)
        if kind == "binary" and min(q["positives"], test_rows - q["positives"]) < MIN_CLASS_EXAMPLES_FOR_CI:
            # this tiny split (1 positive in 8 rows) holds too few positives to bound PR-AUC: no interval
            assert q[f"{metric}_ci95"] is None and "too few for an interval" in q["ci_note"]
            continue
        lo, hi = q[f"{metric}_ci95"]
        assert lo <= q[metric] <= hi
    if kind == "regression":
        assert all(-1.0 <= p <= 1.0 for q in quality.values() for p in q["predictions"])  # clipped to the targets
    else:
        assert all(q["positives"] > 0 and 0 <= q["threshold"] <= 1 and "validation" in q["threshold_chosen_on"]
                   for q in quality.values())
    md = (run_dir / "report.md").read_text()
    if any(q.get("ci_note") for q in quality.values()):
        assert "too few for an interval" in " ".join(md.split())
    assert f"the {label} floor" in md and f"| variant | steps | {label} (95% CI) | vs full |" in md
    assert "the accuracy floor" not in md and f"Over {label} (" in md
    training = md[md.index("## Training"):].splitlines()[2:5]  # header, rule, the full fine-tune's row
    assert training[0].endswith(f"| validation {label} |") and not training[2].endswith("| - |")
    assert f",{metric}," in (run_dir / "cells.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_compare_of_a_run_with_itself_uses_the_kinds_test(kind_runs, kind, tmp_path):
    done, run_dir, env = kind_runs[kind]
    assert done.returncode == 0, done.stderr[-3000:]
    cmd = [sys.executable, "-m", "bench", "compare", str(run_dir), str(run_dir), "--out", str(tmp_path)]
    compared = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert compared.returncode == 0, compared.stderr[-3000:] + compared.stdout[-3000:]
    changes = json.loads((tmp_path / "compare.json").read_text())["changes"]
    quality = [c for c in changes if c["cell_id"].endswith("/accuracy")]
    test = "Wilcoxon signed-rank" if kind == "regression" else "paired bootstrap of pr_auc"
    assert quality and all(c["verdict"] == "same" and c["test"].startswith(test) for c in quality)


PAIR_SUITE = """name = "pairs"
default_profile = "auto"

[task]
dataset = "{data}"
text_column = "query"
text_pair_column = "title"   # query-product relevance: both texts go to the model as one pair

[model]
base = "{model}"

[[variants]]
name = "full"
[[variants]]
name = "int8"

[slo]
accuracy_floor = 0.9
"""


def test_a_pair_task_runs_end_to_end(tmp_path, tiny_model_dir):
    """A query,title,label CSV through `bench run` (full and int8): accuracy and macro-F1 with intervals
    over pairs, the report naming the pair task, cells.csv, exit 0."""
    from tests.test_variants import pair_rows

    data = tmp_path / "pairs.csv"
    with open(data, "w", newline="") as f:
        csv.writer(f).writerows([("query", "title", "label"), *pair_rows(200)])
    suite = tmp_path / "pairs.toml"
    suite.write_text(PAIR_SUITE.format(data=data.as_posix(), model=Path(tiny_model_dir).as_posix()))
    env = {**os.environ, "BENCH_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "bench", "run", str(suite), "--out", str(tmp_path / "out"), *FAST]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    run_dir = next((tmp_path / "out" / "pairs").iterdir())
    test = [json.loads(line) for line in (run_dir / "data" / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert test and all(set(r) == {"text", "pair", "label"} for r in test)
    quality = _quality(run_dir)
    assert set(quality) == {"full", "int8"}
    for q in quality.values():
        assert (q["kind"], q["metric"], q["n_examples"]) == ("classification", "accuracy", len(test))
        for metric in ("accuracy", "macro_f1"):
            lo, hi = q[f"{metric}_ci95"]
            assert lo <= q[metric] <= hi
    md = (run_dir / "report.md").read_text()
    assert "- task: classification of text pairs (query, title), judged on accuracy" in md
    assert "| variant | steps | accuracy (95% CI) | vs full, points | macro-F1 (95% CI) |" in md
    assert "the accuracy floor" in md
    assert ",accuracy," in (run_dir / "cells.csv").read_text().splitlines()[0]
    build = json.loads((run_dir / "run.json").read_text())["builds"]["int8"]
    onnx = next(m for m in build["manifests"] if m["step"] == "onnx")  # exported and checked on pairs
    assert "token_type_ids" in onnx["inputs"] and onnx["max_abs_logit_diff_vs_parent"] < 1e-3
