"""Bad suites and profiles: a clear message naming the file and key, exit code 2, nothing written."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bench.config import load_profile
from bench.errors import BenchError, ConfigError
from bench.registry import load_suite

REPO = Path(__file__).resolve().parent.parent
SMOKE = (REPO / "suites" / "smoke.toml").read_text()


def write_suite(tmp_path, text: str) -> Path:
    p = tmp_path / "suite.toml"
    p.write_text(text)
    return p


def edit(old: str, new: str) -> str:
    assert old in SMOKE, old
    return SMOKE.replace(old, new, 1)


def test_shipped_suites_and_profiles_validate():
    for name in ("default", "smoke"):
        suite, _ = load_suite(name)
        assert suite.name == name and suite.default_profile == "auto"
    for p in (REPO / "profiles").glob("*.toml"):
        assert load_profile(str(p)).price_usd_per_hour > 0


@pytest.mark.parametrize("text, words", [
    (edit("max_steps = 2", "max_stepz = 2"), ["finetune.max_stepz", "did you mean 'max_steps'"]),
    (edit("batch_size = 16", "batch_size = \"sixteen\""), ["finetune.batch_size", "integer"]),
    (edit("batch_sizes = [4]", "batch_sizes = [0, 4]"), ["measure.batch_sizes[0]", "greater than or equal to 1"]),
    (edit('name = "onnx"\nchain = ["full", "onnx"]', 'name = "onnx"\nchain = ["full", "onxx"]'),
     ["variants[1]", "unknown build step 'onxx'", "did you mean 'onnx'"]),
    (edit('name = "onnx"\nchain = ["full", "onnx"]', 'name = "x"\nchain = ["onnx"]'), ["needs a built parent"]),
    (edit('name = "onnx"\nchain = ["full", "onnx"]', 'name = "onnx"\nchain = ["full", "onnx"]\nruntime = "trt"'),
     ["unknown runtime 'trt'"]),
    (edit("seq_len = 16", "seq_len = 99"), ["slo.seq_len 99 is not one of measure.seq_lengths"]),
    (edit("[model]", "[model]\ntrust_remote = true"), ["model.trust_remote", "did you mean 'trust_remote_code'"]),
    (SMOKE.replace("[slo]", "[slo\n"), ["not valid TOML"]),
    (edit('name = "smoke"\n', ''), ["missing required key 'name'"]),
    (SMOKE + '[cluster]\nprofiles = ["aws-c6a-large", "aws-c7a-large"]\n', ["cluster", "need executor = \"ray\""]),
    (SMOKE + '[cluster]\nexecutor = "slurm"\n', ["cluster.executor", "'local' or 'ray'"]),
])
def test_bad_suites_name_the_key(tmp_path, text, words):
    path = write_suite(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_suite(str(path))
    message = str(err.value)
    assert str(path) in message
    for w in words:
        assert w in message, message


def test_bad_step_parameters_name_the_steps_key(tmp_path):
    path = write_suite(tmp_path, SMOKE + "\n[steps.lora]\nrank = 0\n")
    with pytest.raises(ConfigError, match=r"'steps\.lora\.rank'.*greater than or equal to 1"):
        load_suite(str(path))


def test_the_suites_cluster_table_is_used_and_the_command_line_flags_override_it(tmp_path):
    from bench.cli import _where

    path = str(write_suite(tmp_path, SMOKE + '[cluster]\nexecutor = "ray"\nprofiles = ["aws-c6a-large", '
                                                '"aws-c7a-large"]\nray_address = "10.0.0.1:6379"\nnode_wait_s = 5\n'))
    assert _where(path, [], [], None, None, None) == (["aws-c6a-large", "aws-c7a-large"], "ray", "10.0.0.1:6379", 5, None)
    assert _where(path, [], ["aws-c7a-large"], None, "head:6379", 1.0) == (["aws-c7a-large"], "ray", "head:6379", 1.0, None)
    assert _where(path, ["cluster.node_wait_s=7"], [], None, None, None).node_wait_s == 7
    assert _where(path, ['cluster.artifact_store="s3://b/p"'], [], None, None, None, "file:///x").artifact_store == "file:///x"
    with pytest.raises(BenchError, match="several --profile need --executor ray"):
        _where(path, [], [], "local", None, None)
    with pytest.raises(BenchError, match="a shared artifact store is for --executor ray"):
        _where(path, [], ["aws-c6a-large"], "local", None, None, "file:///x")
    assert _where(str(write_suite(tmp_path, SMOKE)), [], [], None, None, None) == ([], "local", None, 60.0, None)


def test_config_reads_a_suite_without_the_registry_and_the_registry_checks_it(tmp_path):
    from bench.config import read_suite

    path = write_suite(tmp_path, edit('chain = ["full", "onnx"]', 'chain = ["full", "onxx"]'))
    suite, _ = read_suite(str(path))  # the chain is the registry's to check
    assert suite.variants[1].chain == ["full", "onxx"]
    with pytest.raises(ConfigError, match="unknown build step 'onxx'"):
        load_suite(str(path))


def test_resolve_variant_adds_implicit_parents_the_default_runtime_and_step_parameters():
    from bench.registry import resolve_variant

    suite, _ = load_suite("default")
    by_name = {v.name: resolve_variant(suite, v) for v in suite.variants}
    assert by_name["distilled+int8"].steps == ("full", "distilled", "onnx", "int8")
    assert by_name["distilled+int8"].runtime == "onnxruntime"
    assert by_name["full"].steps == ("full",) and by_name["full"].runtime == "torch"
    assert by_name["lora-merged"].steps == ("lora", "merge")
    lora = by_name["lora"].params["lora"]
    assert lora["rank"] == 8 and lora["dropout"] == 0.1  # from [steps.lora], and the default filled in
    assert set(by_name["pruned+int8"].params) == {"full", "pruned", "onnx", "int8"}
    assert by_name["distilled+openvino-int8"].steps == ("full", "distilled", "openvino", "openvino-int8")
    assert by_name["distilled+openvino-int8"].runtime == "openvino"
    assert (by_name["compiled"].steps, by_name["compiled"].runtime) == (("full",), "torch-compile")
    assert by_name["bf16-compiled"].steps == ("full", "bf16")


def test_bad_profile_price(tmp_path):
    d = tmp_path / "profiles"
    d.mkdir()
    good = tomllib.loads((REPO / "profiles" / "aws-c7a-large.toml").read_text())
    text = (REPO / "profiles" / "aws-c7a-large.toml").read_text().replace(
        f"price_usd_per_hour = {good['price_usd_per_hour']}", "price_usd_per_hour = -1")
    (d / "neg.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"price_usd_per_hour.*greater than 0"):
        load_profile(str(d / "neg.toml"))


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, words", [
    (["run", "no-such-suite"], "no suite named 'no-such-suite'"),
    (["run", "smoke", "--profile", "no-such-profile"], "no profile named 'no-such-profile'"),
    (["run", "smoke", "--only", "nope"], "--only names variants not in the suite: 'nope'"),
    (["run", "smoke", "--profile", "aws-g5-xlarge"], "this machine has no NVIDIA GPU, profile aws-g5-xlarge stands for"),
    # no shipped CPU profile of today's machines is an Intel Sapphire Rapids: refused, naming both sides
    (["run", "smoke", "--profile", "aws-c7i-large"], "is not what profile aws-c7i-large (AWS EC2 c7i.large) stands for"),
    (["run", "smoke", "--profile", "aws-c7i-large", "--price-usd-per-hour", "0.1"], "prices the 'local' profile"),
    (["run", "smoke", "--set", "task.dataset=missing.csv"], "file not found"),
    (["run", "smoke", "--set", "measure.batch_sizes=[0]"], "measure.batch_sizes[0]"),
    (["report", "nowhere"], "not found"),
    # usage errors: a usage message and exit 2, never a traceback (exit 1 would read as a regression)
    (["compare", "onlyone"], "Missing argument 'new'"),
    (["frobnicate"], "No such command 'frobnicate'"),
    (["run", "smoke", "--profile", "local", "--price-usd-per-hour", "inf"], "expected a positive price"),
])
def test_cli_errors_exit_2_and_write_nothing(tmp_path, args, words):
    if args[0] == "run" and args[1] == "smoke" and "aws-g5" in " ".join(args) and _has_gpu():
        pytest.skip("a GPU is present, so the CUDA profile is valid here")
    out = run_cli(*args, "--out", str(tmp_path / "results"), cwd=tmp_path) if args[0] == "run" else run_cli(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert words in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "results").exists()


def _has_gpu() -> bool:
    import shutil

    return shutil.which("nvidia-smi") is not None


def test_help_is_instant_and_does_not_import_torch():
    code = "import sys; from bench.cli import app; import bench.config, bench.registry; bench.registry.load_all(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
    helped = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "run" in helped.stdout


def test_bad_model_directories_are_rejected(tmp_path):
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text('{"model_type": "bert"}')
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    no_head = tmp_path / "no-head"
    no_head.mkdir()
    (no_head / "config.json").write_text('{"model_type": "clip"}')
    (no_head / "model.safetensors").write_bytes(b"")
    for base, words in ((tmp_path / "missing", "model directory not found"), (no_weights, "no .safetensors weights"),
                        (not_a_model, "has no config.json"), (no_head, "no sequence-classification head")):
        out = run_cli("run", "smoke", "--out", str(tmp_path / "results"), "--set", f"model.base={base}", cwd=tmp_path)
        assert out.returncode == 2 and words in out.stderr, out.stderr
        assert not (tmp_path / "results").exists()


def test_a_bare_threshold_of_1_or_more_is_ambiguous_not_read_as_hundreds_of_percent():
    from bench.cli import _fraction
    from bench.errors import BenchError

    assert _fraction("5%", "--max-slowdown") == pytest.approx(0.05) and _fraction("0.05", "--max-slowdown") == 0.05
    with pytest.raises(BenchError, match="ambiguous; write 5% for a percentage"):
        _fraction("5", "--max-slowdown")


def test_a_validators_message_reads_without_pydantics_prefix(tmp_path):
    path = write_suite(tmp_path, SMOKE.replace("[slo]", "[slo]\nquality_floor = 0.5", 1))
    with pytest.raises(ConfigError) as raised:
        load_suite(str(path))
    assert "key 'slo': give one floor" in str(raised.value) and "Value error" not in str(raised.value)


def test_bench_report_of_a_suite_file_says_it_is_not_a_run(tmp_path):
    suite = write_suite(tmp_path, SMOKE)
    out = subprocess.run([sys.executable, "-m", "bench", "report", str(suite)], capture_output=True, text=True,
                         cwd=REPO)
    assert out.returncode == 2 and "a TOML file, not a run" in out.stderr and "JSON" not in out.stderr


def test_bench_report_of_a_runs_run_json_renders_that_run(tmp_path):
    from bench.cli import app
    from bench.record import save_run
    from tests.golden import golden_run

    save_run(tmp_path / "run", golden_run())
    assert app(["report", str(tmp_path / "run" / "run.json")], standalone_mode=False) in (None, 0)
    assert (tmp_path / "run" / "report.md").is_file()
