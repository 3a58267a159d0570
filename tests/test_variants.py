"""Every build step through the same checks, on a tiny BERT built in the test: it builds, loads in its
runtime, agrees with its parent within a tolerance stated per variant, and says why where it cannot run."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bench import artifacts, jobs
from bench.config import FineTune, Task, load_profile
from bench.data import load_task_data, write_split, write_task_info
from bench.errors import Unsupported
from bench.evaluate import predict_logits
from bench.jobfactory import JobPaths, build_job
from bench.jobspec import BuildJob, OfflineJob, StopRule
from bench.models import load_tokenizer, read_artifact_info
from bench.registry import DEFAULT_RUNTIME_FOR_FORMAT, RUNTIMES, STEPS, load_all, load_suite
from bench.scenarios import offline as offline_scenario
from tests.conftest import tiny_texts
from tests.families import FAMILIES, save_tiny_model

load_all()
FINETUNE = FineTune(epochs=8, batch_size=16, max_length=32, learning_rate=2e-3, seed=0)  # a random-init model needs it
SMOKE_SUITE = load_suite("smoke")[0]
SMOKE_PROFILE = load_profile("aws-c6a-large")  # a CPU profile: the jobs take its device and price


class Zoo:
    """Builds artifacts on demand, each once per test session, publishes them with the manifest the runner
    writes, and computes their test-split logits in their runtime."""

    def __init__(self, root: Path, model_dir: Path, csv: Path, finetune: FineTune = FINETUNE,
                 step_params: dict[str, dict] | None = None, task: Task | None = None):
        self.root, self.model_dir, self.finetune = root, model_dir, finetune
        self.step_params = step_params or {}  # a step's params wherever it appears in a chain, unless given
        task = task or Task(dataset=str(csv))
        data = load_task_data(task, csv.parent)
        self.labels = data.label_names
        self.test = data.test
        for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
            write_split(split, root / "data" / f"{name}.jsonl")
        write_task_info(data, task, root / "data")  # what the runner writes beside the splits
        self.built: dict[tuple, tuple[Path, dict]] = {}
        self.predicted: dict[tuple[Path, str], np.ndarray] = {}

    def build(self, chain: tuple[str, ...], params: dict | None = None, parent_params: dict | None = None,
              device: str = "cpu"):
        params = params or self.step_params.get(chain[-1])
        parent_params = parent_params or (self.step_params.get(chain[-2]) if len(chain) > 1 else None)
        key = (chain, tuple(sorted((params or {}).items())), tuple(sorted((parent_params or {}).items())), device)
        if key not in self.built:
            parent_dir, parent = self.build(chain[:-1], parent_params, device=device) if len(chain) > 1 else (None, None)
            step = STEPS[chain[-1]]
            step_params = step.params.model_validate(params or {}).model_dump()
            content = artifacts.content_key({"step": step.name, "params": step_params, "device": device,
                                             "parent": parent["key"] if parent else None})
            final = self.root / "artifacts" / f"{step.name}-{content[:16]}"
            staging = artifacts.staging_dir(final)
            result = jobs.build(self.job(step.name, params, parent_dir, staging, device), lambda *a: None)
            manifest = artifacts.step_manifest(step.name, content, step_params, step.output_format, parent,
                                               {"cpu_model": "test", "gpu_name": None, "profile": "test"}, result)
            self.built[key] = (final, artifacts.publish(staging, final, manifest))
        return self.built[key]

    def job(self, step: str, params: dict | None, parent_dir: Path | None, out_dir: Path, device: str) -> BuildJob:
        """The build job the runner would hand a worker (made by the one job factory)."""
        base = SMOKE_SUITE
        suite = base.model_copy(update={"finetune": self.finetune, "steps": {step: params or {}},
                                        "measure": base.measure.model_copy(update={"eval_batch_size": 16})})
        profile = SMOKE_PROFILE.model_copy(update={"device": device})
        return build_job(suite, profile, step, out_dir, parent_dir, self.model_dir,
                         JobPaths(self.root, tuple(self.labels), threads=2))

    def logits(self, chain: tuple[str, ...], params: dict | None = None, parent_params: dict | None = None,
               device: str = "cpu", run_on: str | None = None) -> np.ndarray:
        """Test-split logits of the artifact built for `device`, run on `run_on` (default: `device`)."""
        path, _ = self.build(chain, params, parent_params, device)
        run_on = run_on or device
        if (path, run_on) not in self.predicted:
            runtime = DEFAULT_RUNTIME_FOR_FORMAT[STEPS[chain[-1]].output_format]
            session = RUNTIMES[runtime].load(path, run_on, 2)
            self.predicted[path, run_on] = predict_logits(session, load_tokenizer(path), self.test.texts,
                                                          pairs=self.test.pairs, max_length=32, batch_size=16)
        return self.predicted[path, run_on]

    def accuracy(self, logits) -> float:
        return float(np.mean(logits.argmax(-1) == np.asarray(self.test.labels)))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, tiny_model_dir, tiny_csv):
    return Zoo(tmp_path_factory.mktemp("zoo"), tiny_model_dir, tiny_csv)


LORA = {"learning_rate": 5e-3}
PRUNED = {"heads_fraction": 0.5, "ffn_fraction": 0.5, "recovery_epochs": 2.0, "recovery_learning_rate": 1e-3}
DISTILLED = {"layers": 1, "learning_rate": 2e-3}


@dataclass(frozen=True)
class Contract:
    """How one build step is checked: the chain that builds it (its own params last), the device it needs,
    and what its predictions must satisfy against `follows` (its parent), or alone where it has none."""

    chain: tuple[str, ...]
    params: dict = field(default_factory=dict)
    parent_params: dict = field(default_factory=dict)
    device: str = "cpu"
    follows: tuple[str, ...] | None = None
    follows_params: dict = field(default_factory=dict)
    min_top1_agreement: float = 0.0
    max_abs_logit_diff: float | None = None
    max_rel_logit_error: float | None = None  # max |difference| / max |parent logit|
    min_accuracy: float = 0.0


CONTRACTS = {
    "full": Contract(("full",), min_accuracy=0.8),
    # the tiny base is random, not pretrained: above chance (1/3) is what LoRA can show here
    "lora": Contract(("lora",), LORA, min_accuracy=0.4),
    "merge": Contract(("lora", "merge"), parent_params=LORA, follows=("lora",), follows_params=LORA,
                      min_top1_agreement=1.0, max_abs_logit_diff=1e-4),
    "pruned": Contract(("full", "pruned"), PRUNED, follows=("full",), min_top1_agreement=0.7),
    "distilled": Contract(("full", "distilled"), DISTILLED, follows=("full",), min_top1_agreement=0.7),
    "onnx": Contract(("full", "onnx"), follows=("full",), min_top1_agreement=1.0, max_abs_logit_diff=1e-3),
    "int8": Contract(("full", "onnx", "int8"), follows=("full", "onnx"), min_top1_agreement=0.9),
    # static int8: activations too are int8, ranges from train batches. On this hidden-32 model int8 moves the
    # logits by 12-13% of their range, static (any calibration method, s8 or u8 activations) and dynamic alike
    "int8-static": Contract(("full", "onnx", "int8-static"), follows=("full", "onnx"), min_top1_agreement=0.9,
                            max_rel_logit_error=0.2),
    # the same fp32 weights and graph in another runtime: within float rounding of PyTorch
    "openvino": Contract(("full", "openvino"), follows=("full",), min_top1_agreement=1.0, max_abs_logit_diff=1e-3),
    "openvino-int8": Contract(("full", "openvino", "openvino-int8"), follows=("full", "openvino"),
                              min_top1_agreement=0.9, max_rel_logit_error=0.2),
    "bf16": Contract(("full", "bf16"), follows=("full",), min_top1_agreement=0.95, max_rel_logit_error=0.05),
    "fp16": Contract(("full", "fp16"), device="cuda", follows=("full",), min_top1_agreement=0.95,
                     max_rel_logit_error=0.01),
    "tensorrt-fp16": Contract(("full", "onnx", "tensorrt-fp16"), device="cuda", follows=("full", "onnx"),
                              min_top1_agreement=0.95, max_rel_logit_error=0.02),
    "tensorrt-int8": Contract(("full", "onnx", "tensorrt-int8"), device="cuda", follows=("full", "onnx"),
                              min_top1_agreement=0.9),
}


def test_every_registered_step_has_a_contract():
    assert set(CONTRACTS) == set(STEPS), "a new build step needs its tolerances in CONTRACTS"


def gpu_marks(name: str) -> list:
    contract = CONTRACTS[name]
    marks = [pytest.mark.gpu] if contract.device == "cuda" else []
    return marks + ([pytest.mark.tensorrt] if name.startswith("tensorrt") else [])


@pytest.mark.parametrize("name", [pytest.param(n, marks=gpu_marks(n)) for n in CONTRACTS])
def test_variant_contract(zoo, name, tmp_path):
    """Every step: it builds (or says exactly why not), its manifest is right, it loads in its runtime,
    and its predictions follow its parent's within the tolerance stated for it."""
    c = CONTRACTS[name]
    reason = STEPS[name].why_unsupported(c.device)
    if reason:  # the build job itself refuses, with the reason the run records as `unsupported`
        parent_dir = zoo.build(c.chain[:-1], c.parent_params)[0] if len(c.chain) > 1 else None
        with pytest.raises(Unsupported) as raised:
            jobs.build(zoo.job(name, c.params, parent_dir, tmp_path, c.device), lambda *a: None)
        assert str(raised.value) == reason and not any(tmp_path.iterdir())
        pytest.skip(f"{name} on {c.device}: {reason}")
    path, manifest = zoo.build(c.chain, c.params, c.parent_params, c.device)
    parent = zoo.build(c.chain[:-1], c.parent_params, device=c.device)[1] if len(c.chain) > 1 else None
    assert manifest["step"] == name and manifest["chain"] == list(c.chain)
    assert manifest["parent"] == (parent["key"] if parent else None)
    assert manifest["params"] == STEPS[name].params.model_validate(c.params).model_dump()
    assert manifest["format"] == STEPS[name].output_format
    assert manifest["parameters"] > 0 and manifest["size_on_disk_bytes"] > 0 and manifest["build_wall_s"] > 0
    assert manifest["files"] and artifacts.verify(path) is None
    logits = zoo.logits(c.chain, c.params, c.parent_params, c.device)
    assert logits.shape == (len(zoo.test.texts), len(zoo.labels)) and np.isfinite(logits).all()
    assert zoo.accuracy(logits) >= c.min_accuracy
    if c.follows is None:
        return
    # the parent built for the same device (a CUDA fine-tune is not the CPU one's weights), run on the CPU:
    # every parent format has a CPU runtime, not every one a CUDA runtime here (ORT without its CUDA EP)
    ref = zoo.logits(c.follows, c.follows_params, device=c.device, run_on="cpu")
    assert agreement(logits, ref) >= c.min_top1_agreement
    if c.max_abs_logit_diff is not None:
        assert np.abs(logits - ref).max() <= c.max_abs_logit_diff
    if c.max_rel_logit_error is not None:
        assert np.abs(logits - ref).max() <= c.max_rel_logit_error * np.abs(ref).max()


def agreement(a, b) -> float:
    return float(np.mean(a.argmax(-1) == b.argmax(-1)))


def test_full_fine_tune_records_its_training(zoo):
    _, info = zoo.build(("full",))
    assert info["train"]["steps"] > 0 and info["train"]["wall_s"] > 0


def test_same_seed_gives_identical_predictions(tmp_path, tiny_model_dir, tiny_csv, zoo):
    """Determinism: the same suite and seed on the same CPU give the same fine-tuned predictions."""
    again = Zoo(tmp_path, tiny_model_dir, tiny_csv)
    np.testing.assert_array_equal(again.logits(("full",)), zoo.logits(("full",)))
    _, info = again.build(("full",))
    assert info["train"]["determinism"]["seed"] == FINETUNE.seed


def test_onnx_records_its_check_against_pytorch(zoo):
    _, info = zoo.build(("full", "onnx"))
    assert info["ort_transformer_optimizer"] == "applied" and info["max_abs_logit_diff_vs_parent"] < 1e-3


def test_int8_weights_are_a_quarter_of_fp32(zoo):
    path, _ = zoo.build(("full", "onnx", "int8"))
    parent, _ = zoo.build(("full", "onnx"))
    assert (path / "model.onnx").stat().st_size < 0.5 * (parent / "model.onnx").stat().st_size


def test_cpu_session_runs_quantized_matmuls_and_unfused_layer_norm(zoo, tmp_path):
    """The graph ORT runs on CPU: attention and matmuls quantized and fused, residual + LayerNorm left
    as Add + LayerNormalization (its SkipLayerNormalization kernel is the slower one on CPU)."""
    import onnx

    from bench.runtimes.onnxruntime import open_session

    path, _ = zoo.build(("full", "onnx", "int8"))
    stored = {n.op_type for n in onnx.load(str(path / "model.onnx")).graph.node}
    assert {"QAttention", "LayerNormalization"} <= stored and "SkipLayerNormalization" not in stored
    open_session(path / "model.onnx", "cpu", 1, optimized_model_path=tmp_path / "run.onnx")
    running = {n.op_type for n in onnx.load(str(tmp_path / "run.onnx")).graph.node}
    assert {"QAttention", "DynamicQuantizeMatMul", "LayerNormalization"} <= running
    assert "SkipLayerNormalization" not in running


def test_bf16_records_its_dtype_and_the_cpu_kernels(zoo):
    _, info = zoo.build(("full", "bf16"))
    assert info["dtype"] == "bfloat16" and "cpu_bf16_kernels" in info


def test_lora_trains_few_parameters(zoo):
    path, info = zoo.build(("lora",), LORA)
    assert read_artifact_info(path)["kind"] == "lora"
    assert info["train"]["trainable_parameters"] < 0.5 * info["base_parameters"]
    targets = info["lora_targets"]  # every linear layer of both encoder layers, and the pooler
    assert targets["source"].startswith("default") and targets["layer_names"] == ["dense", "key", "query", "value"]
    assert targets["adapted_modules"] == 2 * 6 + 1 and targets["trainable_parameters"] == info["train"]["trainable_parameters"]


def test_pruned_removes_heads_and_neurons(zoo):
    _, parent = zoo.build(("full",))
    _path, info = zoo.build(("full", "pruned"), PRUNED)
    assert sum(info["pruned"]["heads_per_layer"]) == 4  # 2 layers x 4 heads, half kept
    assert info["pruned"]["ffn_per_layer"] == [32, 32]
    assert info["parameters"] < parent["parameters"]
    # the pruned artifact also exports to ONNX (heads per layer read from the graph)
    _onnx_path, onnx_info = zoo.build(("full", "pruned", "onnx"))
    assert onnx_info["max_abs_logit_diff_vs_parent"] < 1e-3


def test_distilled_student_has_fewer_layers(zoo):
    path, info = zoo.build(("full", "distilled"), DISTILLED)
    assert info["teacher_layers_kept"] == [0]
    assert json.loads((path / "config.json").read_text())["num_hidden_layers"] == 1


@pytest.mark.parametrize("step, words", [("fp16", "runs on cuda"), ("tensorrt-fp16", "runs on cuda"),
                                         ("tensorrt-int8", "runs on cuda")])
def test_gpu_only_steps_say_why_on_cpu(zoo, step, words):
    with pytest.raises(Unsupported, match=words):
        zoo.build(("full", "onnx", step) if step.startswith("tensorrt") else ("full", step))


def test_every_step_on_a_missing_cuda_device_says_so(zoo, tmp_path):
    """A CUDA profile on a machine without CUDA: the first build records `unsupported`, not a crash."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for name in STEPS:  # a CPU-only step (OpenVINO) says it runs on CPU; the others, that CUDA is missing
        words = "torch reports no CUDA device" if "cuda" in STEPS[name].devices else "runs on cpu"
        assert words in STEPS[name].why_unsupported("cuda"), name
    with pytest.raises(Unsupported, match="no CUDA device"):
        jobs.build(zoo.job("full", {}, None, tmp_path, "cuda"), lambda *a: None)


def test_tensorrt_reason_names_what_is_missing():
    from bench.steps.tensorrt import tensorrt_unsupported_reason

    reason = tensorrt_unsupported_reason("cuda")
    try:
        import tensorrt  # noqa: F401
        import torch

        if torch.cuda.is_available():
            assert reason is None
            return
    except (ImportError, OSError):
        pass
    assert reason and ("TensorRT" in reason)


@pytest.mark.gpu
@pytest.mark.parametrize(("chain", "runtime"), [(("full",), "torch"), (("full", "onnx"), "onnxruntime")])
def test_cuda_cell_has_host_event_and_end_to_end_timings_and_gpu_memory(zoo, chain, runtime):
    """On a GPU: the host clock after a synchronize, CUDA events around the same calls (torch), the
    end-to-end figure with copies, the GPU memory figures and the isolation check, all named so."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device (torch.cuda.is_available() is False)")
    reason = RUNTIMES[runtime].unsupported_reason("cuda")
    if reason:
        pytest.skip(reason)
    path, _ = zoo.build(chain)
    job = OfflineJob(runtime=runtime, artifact_dir=str(path), device="cuda", threads=2,
                     test_path=str(zoo.root / "data" / "test.jsonl"), label_names=tuple(zoo.labels), seed=0,
                     batch_size=8, seq_len=32, gpu_isolation="warn", price_usd_per_kwh=0.2,
                     stop_rule=StopRule(warmup_iterations=5, min_warmup_s=0.5, max_warmup_s=5, min_iterations=30,
                                        min_duration_s=0.5, max_duration_s=10))
    r = offline_scenario.run(job, lambda *a: None)
    lat = r.latency_view()
    host = np.asarray(lat["samples_ms"])
    assert "synchronize" in lat["clock"] and lat["end_to_end"]["includes"].startswith("host clock around: copy")
    e2e = np.asarray(lat["end_to_end"]["samples_ms"])
    assert np.median(e2e) >= np.median(host) * 0.9  # copies and the logits' trip back only add
    if runtime == "torch":
        device = np.asarray(lat["device_ms"])
        assert len(device) == len(host) and lat["device_clock"].startswith("CUDA events")
        assert np.median(device) <= np.median(host) * 1.05  # events see the device work, not the launch overhead
        assert r.memory["gpu_max_allocated_mib"] > 0
        assert r.memory["gpu_max_reserved_mib"] >= r.memory["gpu_max_allocated_mib"]
    assert r.isolation["policy"] == "warn" and "before" in r.isolation and "after" in r.isolation
    energy = r.energy
    assert (energy["status"] == "ok" and energy["energy_per_inference_j"] > 0) or energy.get("reason")


# The family matrix: every family people fine-tune through every CPU step, on a tiny random model of it
# (tests/families.py; a new family is one line there). A few training steps each: this checks that each
# variant builds (or says why not), reloads in its runtime and follows its parent where the step promises
# to (export, quantization, merge, cast), not what training achieves, which the BERT contract above checks.
FAMILY_FINETUNE = FineTune(epochs=1, max_steps=3, batch_size=16, max_length=32, learning_rate=2e-3, seed=0)
FAMILY_PRUNED = {"heads_fraction": 0.5, "ffn_fraction": 0.5, "importance_examples": 32, "recovery_epochs": 0.1}
FAMILY_CHAINS = {  # chain -> (the chain it follows, min top-1 agreement, max |logit difference|, max relative error)
    ("full",): None,
    ("lora",): None,
    ("lora", "merge"): (("lora",), 1.0, 1e-4, None),
    ("full", "bf16"): (("full",), 0.0, None, 0.05),
    ("full", "onnx"): (("full",), 1.0, 1e-3, None),
    ("full", "onnx", "int8"): (("full", "onnx"), 0.0, None, 0.2),
    ("full", "pruned"): None,
    ("full", "pruned", "onnx"): (("full", "pruned"), 1.0, 1e-3, None),
    ("full", "pruned", "distilled"): None,
    ("full", "distilled", "onnx", "int8"): None,
}
MATRIX: dict[str, dict[str, str]] = {}  # family -> chain -> "ok" or "unsupported: reason"


def build_or_reason(zoo: Zoo, chain: tuple[str, ...]):
    """(path, manifest) of the chain, or the Unsupported reason of the first step that refuses."""
    for i in range(1, len(chain) + 1):  # parents first, so a refusal names the step that refused
        try:
            built = zoo.build(chain[:i])
        except Unsupported as e:
            return None, f"{chain[i - 1]}: {e}"
    return built, None


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_matrix(family, tmp_path_factory, tiny_csv):
    """Each family through each step: it builds or is `unsupported` with a reason, and never fails."""
    root = tmp_path_factory.mktemp(f"family-{family}")
    words = sorted({w for t, _ in tiny_texts() for w in t.split()} | {str(i) for i in range(10)})
    zoo = Zoo(root, save_tiny_model(family, words, root / "base"), tiny_csv, FAMILY_FINETUNE,
              {"pruned": FAMILY_PRUNED, "distilled": {"layers": 1}, "lora": LORA})
    row = MATRIX.setdefault(family, {})
    for chain, follows in FAMILY_CHAINS.items():
        built, reason = build_or_reason(zoo, chain)
        row["+".join(chain)] = f"unsupported: {reason}" if reason else "ok"
        if reason:
            assert "pruned" in chain and family in {"modernbert", "gpt2"}, reason
            assert "structured pruning: " in reason and "not implemented" in reason
            continue
        path, manifest = built
        assert manifest["chain"] == list(chain) and manifest["parameters"] > 0 and artifacts.verify(path) is None
        logits = zoo.logits(chain)
        assert logits.shape == (len(zoo.test.texts), 3) and np.isfinite(logits).all()
        if follows is None:
            continue
        parent, min_agree, max_abs, max_rel = follows
        ref = zoo.logits(parent)
        assert agreement(logits, ref) >= min_agree, (chain, agreement(logits, ref))
        if max_abs is not None:
            assert np.abs(logits - ref).max() <= max_abs, chain
        if max_rel is not None:
            assert np.abs(logits - ref).max() <= max_rel * np.abs(ref).max(), chain
    if family == "bert" or "lora" not in row:
        return
    lora_info = zoo.build(("lora",))[1]["lora_targets"]
    assert lora_info["adapted_modules"] >= 2 * 3 and lora_info["source"].startswith("default")


def test_readme_family_table_matches_the_registry():
    from tests.conftest import REPO
    from tests.families import support_table

    assert support_table() in (REPO / "README.md").read_text(), "run `python -m tests.families` and paste it"


# Task kinds (issue #17): every CPU step through a regression, a binary and a pair task on the tiny BERT,
# a few training steps each: each builds, reloads in its runtime with one output per class (one for a
# regression) and follows its parent where the step promises to. Not what training achieves.
KIND_CHAINS = {  # chain -> (the chain it follows, max |logit difference|, max relative error)
    ("full",): None,
    ("lora",): None,
    ("lora", "merge"): (("lora",), 1e-4, None),
    ("full", "bf16"): (("full",), None, 0.05),
    ("full", "onnx"): (("full",), 1e-3, None),
    ("full", "onnx", "int8"): (("full", "onnx"), None, 0.2),
    ("full", "pruned"): None,
    ("full", "distilled"): None,
    ("full", "distilled", "onnx", "int8"): None,
}


def pair_rows(n: int = 160, seed: int = 2) -> list[tuple[str, str, str]]:
    """(query, title, label): 'match' where the title's cue words have the query's polarity."""
    import random

    from tests.conftest import FILLER, NEGATIVE, POSITIVE

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        query, title = rng.choice((POSITIVE, NEGATIVE)), rng.choice((POSITIVE, NEGATIVE))
        words = [rng.choice(FILLER) for _ in range(3)] + rng.sample(title, 2)
        rng.shuffle(words)
        rows.append((f"{rng.choice(FILLER)} {rng.choice(query)}", " ".join(words) + f" {i}",
                     "match" if query is title else "other"))
    return rows


def kind_csv(kind: str, path: Path) -> Task:
    """A small data file of the kind, written to `path`, and its task."""
    import csv

    from tests.test_kinds_end_to_end import _rows

    with open(path, "w", newline="") as f:
        if kind == "pair":
            csv.writer(f).writerows([("query", "title", "label"), *pair_rows()])
            return Task(dataset=str(path), text_column="query", text_pair_column="title")
        csv.writer(f).writerows([("text", "label"), *_rows(kind, n=160)])
    return Task(dataset=str(path), kind=kind)


@pytest.mark.parametrize("kind", ["regression", "binary", "pair"])
def test_every_cpu_step_serves_each_task_kind(kind, tmp_path, tiny_model_dir):
    zoo = Zoo(tmp_path, tiny_model_dir, tmp_path / f"{kind}.csv", FAMILY_FINETUNE,
              {"pruned": FAMILY_PRUNED, "distilled": {"layers": 1}, "lora": LORA},
              task=kind_csv(kind, tmp_path / f"{kind}.csv"))
    outputs = 1 if kind == "regression" else 2
    for chain, follows in KIND_CHAINS.items():
        built, reason = build_or_reason(zoo, chain)
        assert reason is None, (chain, reason)
        assert built[1]["chain"] == list(chain) and artifacts.verify(built[0]) is None
        logits = zoo.logits(chain)
        assert logits.shape == (len(zoo.test.texts), outputs) and np.isfinite(logits).all(), chain
        if follows is not None:
            parent, max_abs, max_rel = follows
            ref = zoo.logits(parent)
            assert max_abs is None or np.abs(logits - ref).max() <= max_abs, chain
            assert max_rel is None or np.abs(logits - ref).max() <= max_rel * np.abs(ref).max(), chain
    if kind == "pair":  # the second text reaches the model, and the ONNX graph takes its segment ids
        import onnx

        path, manifest = zoo.build(("full", "onnx"))
        assert "token_type_ids" in manifest["inputs"]
        assert "token_type_ids" in {i.name for i in onnx.load(str(path / "model.onnx")).graph.input}
        alone = predict_logits(RUNTIMES["onnxruntime"].load(path, "cpu", 2), load_tokenizer(path), zoo.test.texts,
                               max_length=32, batch_size=16)
        assert np.abs(alone - zoo.logits(("full", "onnx"))).max() > 1e-5  # a few training steps: small logits


def test_a_pair_task_on_a_tokenizer_without_a_separator_is_unsupported(tmp_path):
    """GPT-2's tokenizer joins the two texts with nothing between them: the steps that start from the base
    model say so (naming the pair column), and a chain above them is refused at that step."""
    words = sorted({w for t, _ in tiny_texts() for w in t.split()} | {str(i) for i in range(10)})
    task = kind_csv("pair", tmp_path / "pair.csv")
    zoo = Zoo(tmp_path, save_tiny_model("gpt2", words, tmp_path / "base"), tmp_path / "pair.csv", FAMILY_FINETUNE,
              task=task)
    for chain in (("full",), ("lora",), ("full", "onnx", "int8")):
        built, reason = build_or_reason(zoo, chain)
        assert built is None and reason.startswith(f"{chain[0]}: a pair task (task.text_pair_column = 'title')")
        assert "no separator token and no segment id" in reason


def test_pair_tokenizers_that_mark_the_second_text_are_accepted(tiny_model_dir):
    from bench.steps.base import unmarked_pair_reason

    assert unmarked_pair_reason(load_tokenizer(tiny_model_dir), "title") is None  # [SEP] and segment ids


def test_tensorrt_int8_calibration_batches_carry_pairs(tiny_model_dir):
    """The calibration input TensorRT int8 sees (tested without TensorRT): pairs with both segments,
    padded to opt_seq_len, cycled where the train split is smaller than a batch."""
    from bench.data import Split
    from bench.steps.tensorrt import TensorRTParams, calibration_batches

    rows = pair_rows(40)
    split = Split(tuple(r[0] for r in rows), tuple(r[2] for r in rows), tuple(r[1] for r in rows))
    tokenizer = load_tokenizer(tiny_model_dir)
    batches = calibration_batches(tokenizer, split, TensorRTParams(opt_batch_size=8, opt_seq_len=24,
                                                                   calibration_batches=3))
    assert len(batches) == 3 and all(b["input_ids"].shape == (8, 24) and b["input_ids"].dtype == np.int64
                                     for b in batches)
    assert all((b["token_type_ids"] == 1).any(axis=1).all() for b in batches)  # every row has its second text
    small = calibration_batches(tokenizer, split.take(range(3)), TensorRTParams(opt_batch_size=8, opt_seq_len=24))
    assert len(small) == 1 and small[0]["input_ids"].shape == (8, 24)
    single = calibration_batches(tokenizer, Split(split.texts, split.labels), TensorRTParams(opt_batch_size=8))
    assert not single[0]["token_type_ids"].any()
    with pytest.raises(ValueError, match="train split is empty"):
        calibration_batches(tokenizer, Split((), ()), TensorRTParams())


def test_a_variant_this_machine_cannot_build_is_unsupported_even_where_its_parent_failed(monkeypatch, tmp_path):
    """On the H200 a failed fine-tune was the reason given for TensorRT variants where TensorRT was absent."""
    from types import SimpleNamespace

    from bench import artifact_chain
    from bench.executors.base import Outcome
    from bench.registry import load_suite

    suite = load_suite("gpu")[0]
    failed = Outcome("failed", reason="build: RuntimeError: injected")
    monkeypatch.setattr(artifact_chain, "step_key", lambda ctx, step, parent: f"{step}-{parent}")
    monkeypatch.setattr(artifact_chain.artifacts, "artifact_dir", lambda step, key: tmp_path / key)
    monkeypatch.setattr(artifact_chain.artifacts, "get_or_build", lambda final, build, on_rebuild: (None, failed))
    ctx = SimpleNamespace(suite=suite, profile=SimpleNamespace(device="cuda"), record=SimpleNamespace(environment={}))
    variants = {v.name: v for v in suite.variants}
    # full -> onnx -> tensorrt-fp16; the first of the later steps that cannot be built here gives the reason
    reason = STEPS["onnx"].why_unsupported("cuda") or STEPS["tensorrt-fp16"].why_unsupported("cuda")
    _, _, outcome = artifact_chain.build_chain(ctx, variants["tensorrt-fp16"], {})
    if reason:  # no TensorRT or no GPU here (every CI machine): the variant is unsupported, and says why
        assert (outcome.status, outcome.reason) == ("unsupported", reason)
    else:
        assert outcome is failed
    assert artifact_chain.build_chain(ctx, variants["full"], {})[2] is failed  # nothing after it: the failure
    ray = SimpleNamespace(**{**ctx.__dict__, "record": SimpleNamespace(environment={"cluster": {"executor": "ray"}})})
    assert artifact_chain.build_chain(ray, variants["tensorrt-fp16"], {})[2] is failed  # nodes build: not asked here
