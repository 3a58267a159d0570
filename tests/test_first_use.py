"""What a new user met first (issue #17's closing round): mistakes refused up front with the key, the
value and the limit; errors that point at the --set argument; help texts that keep every word; report
files readable by others; messages in plain grammar."""

import csv
import dataclasses
import os
import stat
import subprocess
import sys

import pytest

from bench.config import ConfigError, Task, read_suite
from bench.errors import BenchError, DataError, rows_have
from bench.registry import load_suite
from bench.runsetup import check_distilled_layers, is_reference, select_variants
from tests.conftest import REPO


def test_more_student_layers_than_the_teacher_has_are_refused_up_front(tiny_model_dir, tmp_path):
    suite, path = load_suite("smoke", [f"model.base={tiny_model_dir}"])  # steps.distilled.layers = 3
    with pytest.raises(ConfigError, match=r"steps.distilled.layers = 3: the student cannot have more layers than "
                                          r"its teacher, and the base model .* has 2; use 2 or fewer"):
        check_distilled_layers(suite, select_variants(suite, ["distilled+int8"], str(path)), tiny_model_dir, str(path))
    check_distilled_layers(suite, select_variants(suite, ["full", "int8"], str(path)), tiny_model_dir, str(path))
    two, _ = load_suite("smoke", ["steps.distilled.layers=2"])
    check_distilled_layers(two, list(two.variants), tiny_model_dir, str(path))
    done = subprocess.run([sys.executable, "-m", "bench", "run", "smoke", "--out", str(tmp_path / "out"),
                           "--set", f"model.base={tiny_model_dir}", "--only", "distilled+int8"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2 and "steps.distilled.layers = 3" in done.stderr and "has 2" in done.stderr
    assert "smoke.toml: steps.distilled.layers" in " ".join(done.stderr.split())  # the value is the file's
    # said before anything is built: without the reference the relative floor cannot be judged
    assert "--only leaves out the full fine-tune in PyTorch" in " ".join(done.stderr.split())
    assert not (tmp_path / "out").exists()
    by_set = subprocess.run([*done.args, "--set", "steps.distilled.layers=4"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert by_set.returncode == 2 and "--set steps.distilled.layers=4 (over " in " ".join(by_set.stderr.split())


def test_a_bad_set_value_names_the_set_argument():
    with pytest.raises(ConfigError) as bad:
        read_suite("smoke", ["finetune.epochs=-1"])
    assert str(bad.value).startswith("--set finetune.epochs=-1 (over ") and "smoke.toml): key 'finetune.epochs'" in str(bad.value)
    with pytest.raises(ConfigError, match=r"^--set finetune.epoch=2 \(over .*\): unknown key 'finetune.epoch' "
                                          r"\(did you mean 'epochs'\?\)"):
        read_suite("smoke", ["finetune.epoch=2"])
    with pytest.raises(ConfigError, match=r"^--set steps.distilled.layers=0 \(over .*smoke.toml\): .*steps.distilled.layers"):
        load_suite("smoke", ["steps.distilled.layers=0"])


def test_a_bad_value_in_the_file_still_names_the_file(tmp_path):
    suite = (REPO / "suites" / "smoke.toml").read_text().replace("epochs = 1", "epochs = -1")
    (tmp_path / "s.toml").write_text(suite)
    with pytest.raises(ConfigError) as bad:
        read_suite(str(tmp_path / "s.toml"), ["measure.batch_sizes=[4]"])
    assert str(bad.value).startswith(f"{tmp_path / 's.toml'}: key 'finetune.epochs'")


def test_help_texts_keep_words_in_square_brackets():
    from typer.testing import CliRunner

    from bench.cli import app

    runner = CliRunner()
    compare, run, baseline = (" ".join(runner.invoke(app, [cmd, "--help"]).output.split())
                              for cmd in ("compare", "run", "baseline"))
    assert "Default: results/baselines/<suite>-<profile>.json.gz" in baseline  # markdown mode would drop these
    assert "Default: the suite's [gate], else 5%." in compare and "--error-tolerance" in compare
    assert "pip install 'bench[ray]'" in run and "the suite's [cluster] executor" in run


def test_an_out_that_is_a_file_is_refused_before_anything_runs(tmp_path):
    from bench.cli import app

    (tmp_path / "afile").write_text("x")
    with pytest.raises(BenchError, match=r"--out .*afile: is a file, not a folder"):
        app(["run", "smoke", "--out", str(tmp_path / "afile")], standalone_mode=False)
    with pytest.raises(BenchError, match=r"--out .*afile/deeper: cannot create"):
        from bench.runsetup import new_run_dir
        new_run_dir(tmp_path / "afile" / "deeper", "smoke", "abc")


def test_only_the_eager_full_fine_tune_is_the_reference():
    suite, _ = load_suite("default")
    assert [v.name for v in suite.variants if is_reference(v)] == ["full"]  # not onnx, compiled, bf16


def test_an_unknown_only_variant_gets_a_did_you_mean():
    suite, path = load_suite("smoke")
    with pytest.raises(ConfigError, match=r"--only names variants not in the suite: 'int9' \(did you mean 'int8'\?\), "
                                          r"'zzz'; the suite has: "):
        select_variants(suite, ["int9", "zzz", "full"], str(path))


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_report_files_follow_the_umask(tmp_path, umask):
    from bench.record import write_atomic

    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "report.md", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.md").stat().st_mode) == 0o666 & ~umask


def test_row_counts_read_as_english(tmp_path):
    assert (rows_have(1), rows_have(3), rows_have(1, ""), rows_have(2, "")) == ("1 row has", "3 rows have", "1 row", "2 rows")
    from bench.data import load_task_data

    data = tmp_path / "d.csv"
    with open(data, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *[(f"text {i}", "a" if i % 2 else "b") for i in range(20)],
                                 ("no label here", "")])
    with pytest.raises(DataError, match=r"1 row has no label in column 'label' \(line 22\)"):
        load_task_data(Task(dataset=str(data)), tmp_path)


def test_report_of_a_run_interrupted_before_any_cell_says_so(tmp_path):
    from bench.cli import app
    from bench.record import save_run
    from tests.golden import golden_run

    save_run(tmp_path / "run", dataclasses.replace(golden_run(), cells=(), builds={}, status="interrupted"))
    with pytest.raises(BenchError, match=r"no cell was measured \(the run is interrupted\): nothing to report; "
                                         r"finish it with `bench run --resume "):
        app(["report", str(tmp_path / "run")], standalone_mode=False)
    assert not (tmp_path / "run" / "report.md").exists()


def test_a_plan_nobody_can_serve_says_so_and_exits_0():
    from rich.console import Console

    from bench.report.plan_terminal import print_plan

    console = Console(record=True, width=200)
    print_plan([], 500.0, 50.0, 0.0, console)
    assert "no variant meets 500 requests/s within p99 50 ms and the quality floor" in console.export_text()
