"""[tuning]: every trained step gets the same budget of trials on the validation split, the best one is
the artifact, every trial reaches the manifest and the report, and tuning off keeps today's cache keys.
Trials train the tiny BERT built in conftest (seconds)."""

import math
from types import SimpleNamespace

import pytest

from bench import artifact_chain, jobs
from bench.config import ConfigError, FineTune, Task, Tuning, load_profile
from bench.data import load_task_data, write_split
from bench.jobfactory import JobPaths, build_job, tuning_of_step
from bench.record import save_run
from bench.registry import load_all, load_suite
from bench.report.render import write_report
from bench.tuning import GridSampler, grid_settings, is_better, score_logits
from tests.golden import golden_run
from tests.test_config import run_cli

load_all()
FINETUNE = FineTune(epochs=4, batch_size=16, max_length=32, learning_rate=2e-3, seed=0)
# a planted search space: a learning rate 10,000 times too small learns nothing, the step's own rate does
PLANTED = {"trials": 2, "learning_rate_factors": [1e-4, 1.0], "epoch_factors": [1.0]}
TRAINED = {"full": {}, "lora": {"learning_rate": 5e-3}, "distilled": {"layers": 1, "learning_rate": 2e-3},
           "pruned": {"recovery_epochs": 1.0, "recovery_learning_rate": 2e-3}}


def suite_with(tuning: dict | None, steps: dict | None = None):
    suite = load_suite("smoke")[0]
    update = {"finetune": FINETUNE, "tuning": None if tuning is None else Tuning.model_validate(tuning),
              "measure": suite.measure.model_copy(update={"eval_batch_size": 16})}
    return suite.model_copy(update={**update, "steps": steps or {}})


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_csv, tiny_model_dir):
    """Each trained step built with the planted tuning (pruned and distilled from the tuned full): its build
    result (what the manifest records) and the progress messages of its worker."""
    root = tmp_path_factory.mktemp("tuning")
    data = load_task_data(Task(dataset=str(tiny_csv)), tiny_csv.parent)
    for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
        write_split(split, root / "data" / f"{name}.jsonl")
    paths = JobPaths(root, tuple(data.label_names), threads=1)  # 2 threads spin on a busy 2-core machine
    suite, profile = suite_with(PLANTED, TRAINED), load_profile("aws-c6a-large")
    out = {}
    for step in TRAINED:
        messages = []
        parent = None if step in ("full", "lora") else root / "full"
        job = build_job(suite, profile, step, root / step, parent, tiny_model_dir, paths)
        (root / step).mkdir()
        out[step] = (jobs.build(job, lambda *m, messages=messages: messages.append(m)), messages, job)
    return out


def test_the_trials_run_are_recorded_and_the_best_validation_figure_is_chosen(built):
    result, messages, _ = built["full"]
    t = result["tuning"]
    assert t["budget"] == 2 and t["sampler"] == "grid" and t["metric"] == "accuracy" and t["split"] == "validation"
    assert [tr["learning_rate"] for tr in t["trials"]] == pytest.approx([2e-7, 2e-3])
    values = [tr["value"] for tr in t["trials"]]
    assert values[1] > values[0] + 0.2, values  # the planted setting is clearly better ...
    assert t["chosen"] == 1  # ... and chosen
    assert result["train"]["learning_rate"] == pytest.approx(2e-3)  # the artifact is the chosen trial's model
    assert result["val_accuracy"] == pytest.approx(values[1])  # and scores as the chosen trial did
    assert all(tr["train_wall_s"] > 0 and tr["steps"] > 0 for tr in t["trials"])
    lines = [m[0] for m in messages if m[1:] == (0, 0)]  # a progress line per trial
    assert len(lines) == 2 and "trial 2/2: learning rate 0.002, epochs 4: validation accuracy" in lines[1]


def test_every_trained_step_gets_the_same_budget(built):
    for step, (result, _, job) in built.items():
        t = result["tuning"]
        assert job.tuning == tuning_of_step(suite_with(PLANTED, TRAINED), step)
        assert (t["budget"], t["learning_rate_factors"], t["epoch_factors"], t["metric"]) == (2, [1e-4, 1.0], [1.0], "accuracy"), step
        assert len(t["trials"]) == 2 and t["trials"][t["chosen"]]["value"] == max(tr["value"] for tr in t["trials"]), step
        base = {"full": 2e-3, "lora": 5e-3, "distilled": 2e-3, "pruned": 2e-3}[step]  # each step's own rate
        assert t["base_learning_rate"] == pytest.approx(base) and t["trials"][0]["learning_rate"] == pytest.approx(base * 1e-4)
    suite = suite_with(PLANTED)
    assert all(tuning_of_step(suite, s) is None for s in ("onnx", "int8", "merge", "bf16"))  # nothing to train


def test_tuning_off_keeps_todays_cache_keys_and_on_changes_them(tiny_csv):
    data = load_task_data(Task(dataset=str(tiny_csv)), tiny_csv.parent)

    def keys(tuning):
        ctx = SimpleNamespace(suite=suite_with(tuning), data=data, base_model_hash="0" * 64,
                              profile=load_profile("aws-c6a-large"), record=SimpleNamespace(environment={}))
        full = artifact_chain.step_key(ctx, "full", None)
        return full, artifact_chain.step_key(ctx, "onnx", full), artifact_chain.step_key(ctx, "onnx", "same-parent")

    off = keys(None)
    assert keys({"trials": 1}) == off  # trials = 1 is off: the same artifacts as without the section
    on = keys({"trials": 2})
    assert on[0] != off[0] and on[1] != off[1]  # a tuned full (and everything built on it) is another artifact
    assert on[2] == off[2]  # a step that does not train keys as before on the same parent
    assert keys({"trials": 2, "learning_rate_factors": [1, 2, 3]})[0] != on[0]  # the settings are in the key


def test_the_grid_and_its_sample():
    t = Tuning(trials=4, learning_rate_factors=[0.5, 1, 2, 4])
    assert [(s.learning_rate_factor, s.epoch_factor) for s in grid_settings(t)] == [(0.5, 1), (1, 1), (2, 1), (4, 1)]
    sample = grid_settings(Tuning(trials=3, learning_rate_factors=[1, 2], epoch_factors=[1, 2], seed=1))
    assert len(sample) == 3 and len(set(sample)) == 3  # distinct grid points, in grid order
    assert sample == grid_settings(Tuning(trials=3, learning_rate_factors=[1, 2], epoch_factors=[1, 2], seed=1))
    assert GridSampler(t, True).ask(2).learning_rate_factor == 2
    assert is_better(0.8, 0.7, True) and not is_better(0.7, 0.7, True) and is_better(0.3, 0.5, False)
    assert not is_better(math.nan, 0.1, True) and is_better(0.1, math.nan, True)


def test_validation_figures_follow_the_metric():
    import numpy as np

    logits = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    labels = [0, 1, 0, 0]
    assert score_logits(logits, labels, "accuracy", {"kind": "binary"}) == 0.75
    assert score_logits(logits, labels, "pr_auc", {"kind": "binary"}) == pytest.approx(0.5)  # ranked 2nd of 4
    assert score_logits(np.array([[1.0], [3.0]]), [1.0, 2.0], "rmse", {"kind": "regression"}) == pytest.approx(math.sqrt(0.5))


def test_optuna_sampler_is_seeded_and_within_the_range():
    pytest.importorskip("optuna", reason="optuna is the `tuning` extra; the grid needs nothing")
    from bench.tuning import OptunaSampler

    t = Tuning(trials=4, sampler="optuna", learning_rate_factors=[0.25, 4], epoch_factors=[1, 2], seed=3)

    def asks():
        sampler, out = OptunaSampler(t, higher=True), []
        for i in range(4):
            out.append(sampler.ask(i))
            sampler.tell(i, [0.5, math.nan, 0.7, 0.6][i])
        return out

    first = asks()
    assert first == asks()
    assert all(0.25 <= s.learning_rate_factor <= 4 and s.epoch_factor in (1, 2) for s in first)


@pytest.mark.parametrize("setting, words", [
    ("tuning.trails=4", "unknown key 'tuning.trails' (did you mean 'trials'?)"),
    ("tuning.trials=9", "key 'tuning': trials 9 is more than the grid's 4 settings"),
    ("tuning.learning_rate_factors=[0]", "tuning.learning_rate_factors[0]"),
    ("tuning.sampler=\"tpe\"", "tuning.sampler"),
    ("tuning.metric=\"rmse\"", "tuning.metric 'rmse' does not judge a classification task"),
])
def test_bad_tuning_keys_are_refused_naming_the_key(setting, words):
    with pytest.raises(ConfigError, match=r"smoke\.toml") as e:
        load_suite("smoke", [setting])
    assert words in str(e.value)


def test_a_bad_tuning_key_exits_2_on_the_command_line(tmp_path):
    result = run_cli("run", "smoke", "--set", "tuning.trails=4", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "tuning.trails" in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()


def test_the_report_shows_each_steps_trials_and_the_same_budget(built, tmp_path):
    run = golden_run()
    manifests = {s: {"key": f"{s}-key", "step": s, **built[s][0]} for s in built}
    builds = {"full": {"manifests": [manifests["full"]]}, "lora-merged": {"manifests": [manifests["lora"]]},
              "distilled": {"manifests": [manifests["full"], manifests["distilled"]]},
              "pruned": {"manifests": [manifests["full"], manifests["pruned"]]}}
    save_run(tmp_path, run.__class__(**{**run.__dict__, "builds": builds}))
    paths = write_report(tmp_path)
    md, html = paths["md"].read_text(), paths["html"].read_text()
    assert "Every trained step (full, lora, distilled, pruned) got the same budget: 2 trials (grid)" in md
    assert "the test figures in this report are of it alone" in md
    chosen = [line for line in md.splitlines() if line.endswith("| **chosen** |")]
    assert len(chosen) == 4 and chosen[0].startswith("| full | full, distilled, pruned | 2 | 0.002 | 4 | accuracy ")
    assert "Tuning (validation split)" in html and html.count(">chosen</td>") == 4


def test_a_run_without_tuning_says_each_step_trained_once(built, tmp_path):
    run = golden_run()
    untuned = {k: v for k, v in built["full"][0].items() if k != "tuning"}
    save_run(tmp_path, run.__class__(**{**run.__dict__, "builds": {"full": {"manifests": [{"key": "k", "step": "full", **untuned}]}}}))
    md = write_report(tmp_path)["md"].read_text()
    assert "Every trained step was trained once, at its own settings (the suite has no [tuning])." in md


def test_tuning_needs_a_validation_split():
    with pytest.raises(ConfigError, match=r"task\.split\.val is 0"):
        load_suite("smoke", ["tuning.trials=2", "task.split={train=0.8, val=0, test=0.2}"])
    assert load_suite("smoke", ["tuning.trials=1", "task.split={train=0.8, val=0, test=0.2}"])  # off: no need



def test_the_tuned_suite_extends_the_default():
    tuned, default = load_suite("tuned")[0], load_suite("default")[0]
    assert tuned.name == "tuned" and tuned.tuning.trials == 4 and default.tuning is None
    assert tuned.variants == default.variants and tuned.steps == default.steps and tuned.finetune == default.finetune


def test_extends_refuses_a_cycle_and_a_missing_suite(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\nname = "a"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\nname = "b"\n')
    with pytest.raises(ConfigError, match="a cycle"):
        load_suite(str(tmp_path / "a.toml"))
    (tmp_path / "c.toml").write_text('extends = "no-such-suite"\n')
    with pytest.raises(ConfigError, match="no suite named 'no-such-suite'") as raised:
        load_suite(str(tmp_path / "c.toml"))
    assert str(raised.value).startswith(f"{tmp_path / 'c.toml'}: key 'extends': ")  # the file and key asking for it


def test_a_trial_line_is_printed_and_each_trial_logs_its_own_progress():
    import io

    from rich.console import Console
    from rich.progress import Progress

    from bench.runner import RunContext

    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    ctx = SimpleNamespace(console=console, progress=Progress(console=console), tag="")
    update = RunContext.worker_progress(ctx, "build-full")
    for trial in (1, 2):
        for step in range(1, 11):
            update(f"fine-tune (trial {trial}/2)", step, 10)
        update(f"fine-tune: trial {trial}/2: validation accuracy 0.5", 0, 0)
    lines = out.getvalue().splitlines()
    assert sum("fine-tune (trial 2/2)" in line for line in lines) == 10  # the second trial's 10%s too
    assert [line for line in lines if ": trial " in line] == [
        "  build-full: fine-tune: trial 1/2: validation accuracy 0.5", "  build-full: fine-tune: trial 2/2: validation accuracy 0.5"]
