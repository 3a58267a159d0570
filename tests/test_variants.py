"""Every build step through the same checks, on a tiny BERT built in the test: it builds, loads in its
runtime, agrees with its parent within a tolerance stated per variant, and says why where it cannot run."""

from pathlib import Path

import numpy as np
import pytest

from bench import jobs
from bench.config import FineTune, Task
from bench.data import load_task_data, write_split
from bench.errors import Unsupported
from bench.evaluate import predict_logits
from bench.models import load_tokenizer, read_artifact_info
from bench.registry import RUNTIMES, STEPS, load_all

load_all()
FINETUNE = FineTune(epochs=8, batch_size=16, max_length=32, learning_rate=2e-3, seed=0)  # a random-init model needs it


class Zoo:
    """Builds artifacts on demand, each once per test session, and their test-split logits."""

    def __init__(self, root: Path, model_dir: Path, csv: Path):
        self.root, self.model_dir = root, model_dir
        data = load_task_data(Task(dataset=str(csv)), csv.parent)
        self.labels = data.label_names
        self.test = data.test
        for name, split in (("train", data.train), ("val", data.val), ("test", data.test)):
            write_split(split, root / "data" / f"{name}.jsonl")
        self.built: dict[tuple, tuple[Path, dict]] = {}

    def build(self, chain: tuple[str, ...], params: dict | None = None, parent_params: dict | None = None):
        key = (chain, tuple(sorted((params or {}).items())), tuple(sorted((parent_params or {}).items())))
        if key not in self.built:
            parent = self.build(chain[:-1], parent_params)[0] if len(chain) > 1 else None
            out = self.root / "-".join(chain) / str(len(self.built))
            out.mkdir(parents=True)
            job = {"kind": "build", "step": chain[-1], "params": params or {}, "out_dir": str(out),
                   "parent_dir": str(parent) if parent else None, "base_model_dir": str(self.model_dir),
                   "finetune": FINETUNE.model_dump(), "train_path": str(self.root / "data" / "train.jsonl"),
                   "val_path": str(self.root / "data" / "val.jsonl"), "label_names": list(self.labels),
                   "device": "cpu", "threads": 2, "trust_remote_code": False, "eval_batch_size": 16}
            self.built[key] = (out, jobs.build(job, lambda *a: None))
        return self.built[key]

    def logits(self, chain: tuple[str, ...], params: dict | None = None) -> np.ndarray:
        path, _ = self.build(chain, params)
        runtime = {"hf": "torch", "hf-lora": "torch", "onnx": "onnxruntime"}[STEPS[chain[-1]].output_format]
        session = RUNTIMES[runtime].load(path, "cpu", 2)
        return predict_logits(session, load_tokenizer(path), self.test.texts, max_length=32, batch_size=16)

    def accuracy(self, logits) -> float:
        return float(np.mean(logits.argmax(-1) == np.asarray(self.test.labels)))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory, tiny_model_dir, tiny_csv):
    return Zoo(tmp_path_factory.mktemp("zoo"), tiny_model_dir, tiny_csv)


LORA = {"learning_rate": 5e-3}


def agreement(a, b) -> float:
    return float(np.mean(a.argmax(-1) == b.argmax(-1)))


def test_full_fine_tune_learns_the_tiny_task(zoo):
    logits = zoo.logits(("full",))
    assert zoo.accuracy(logits) >= 0.8
    _, info = zoo.build(("full",))
    assert info["train"]["steps"] > 0 and info["parameters"] > 0


def test_same_seed_gives_identical_predictions(tmp_path, tiny_model_dir, tiny_csv, zoo):
    """Determinism: the same suite and seed on the same CPU give the same fine-tuned predictions."""
    again = Zoo(tmp_path, tiny_model_dir, tiny_csv)
    np.testing.assert_array_equal(again.logits(("full",)), zoo.logits(("full",)))
    _, info = again.build(("full",))
    assert info["train"]["determinism"]["seed"] == FINETUNE.seed


def test_onnx_matches_pytorch(zoo):
    np.testing.assert_allclose(zoo.logits(("full", "onnx")), zoo.logits(("full",)), atol=1e-3)
    _, info = zoo.build(("full", "onnx"))
    assert info["ort_transformer_optimizer"] == "applied" and info["max_abs_logit_diff_vs_parent"] < 1e-3


def test_int8_agrees_top1_with_its_onnx_parent(zoo):
    assert agreement(zoo.logits(("full", "onnx", "int8")), zoo.logits(("full", "onnx"))) >= 0.9
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


def test_bf16_logits_within_relative_error(zoo):
    ref, half = zoo.logits(("full",)), zoo.logits(("full", "bf16"))
    assert np.abs(half - ref).max() <= 0.05 * np.abs(ref).max()
    assert agreement(half, ref) >= 0.95
    _, info = zoo.build(("full", "bf16"))
    assert info["dtype"] == "bfloat16" and "cpu_bf16_kernels" in info


def test_lora_trains_few_parameters_and_merge_is_exact(zoo):
    path, info = zoo.build(("lora",), LORA)
    assert read_artifact_info(path)["kind"] == "lora"
    assert info["train"]["trainable_parameters"] < 0.5 * info["base_parameters"]
    unmerged = zoo.logits(("lora",), LORA)
    merge_dir, _ = zoo.build(("lora", "merge"), None, parent_params=LORA)
    merged = predict_logits(RUNTIMES["torch"].load(merge_dir, "cpu", 2), load_tokenizer(merge_dir), zoo.test.texts,
                            max_length=32, batch_size=16)
    np.testing.assert_allclose(merged, unmerged, atol=1e-4)
    assert zoo.accuracy(unmerged) > 0.4  # above chance (1/3); the base here is random, not pretrained


def test_pruned_shrinks_the_model_and_keeps_most_predictions(zoo):
    _, parent = zoo.build(("full",))
    params = {"heads_fraction": 0.5, "ffn_fraction": 0.5, "recovery_epochs": 2.0, "recovery_learning_rate": 1e-3}
    path, info = zoo.build(("full", "pruned"), params)
    assert sum(info["pruned"]["heads_per_layer"]) == 4  # 2 layers x 4 heads, half kept
    assert info["pruned"]["ffn_per_layer"] == [32, 32]
    assert info["parameters"] < parent["parameters"]
    assert agreement(zoo.logits(("full", "pruned"), params), zoo.logits(("full",))) >= 0.7
    # the pruned artifact also exports to ONNX (heads per layer read from the graph)
    onnx_path, onnx_info = zoo.build(("full", "pruned", "onnx"))
    assert onnx_info["max_abs_logit_diff_vs_parent"] < 1e-3


def test_distilled_student_has_fewer_layers_and_follows_the_teacher(zoo):
    params = {"layers": 1, "learning_rate": 2e-3}
    path, info = zoo.build(("full", "distilled"), params)
    assert info["teacher_layers_kept"] == [0]
    student = zoo.logits(("full", "distilled"), params)
    assert agreement(student, zoo.logits(("full",))) >= 0.7
    import json

    assert json.loads((path / "config.json").read_text())["num_hidden_layers"] == 1


@pytest.mark.parametrize("step, words", [("fp16", "runs on cuda"), ("tensorrt-fp16", "runs on cuda"),
                                         ("tensorrt-int8", "runs on cuda")])
def test_gpu_only_steps_say_why_on_cpu(zoo, step, words):
    with pytest.raises(Unsupported, match=words):
        zoo.build(("full", "onnx", step) if step.startswith("tensorrt") else ("full", step))


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
@pytest.mark.tensorrt
def test_tensorrt_engine_builds_and_agrees(zoo):
    from bench.steps.tensorrt import tensorrt_unsupported_reason

    reason = tensorrt_unsupported_reason("cuda")
    if reason:
        pytest.skip(reason)
    path, info = zoo.build(("full", "onnx", "tensorrt-fp16"))
    session = RUNTIMES["tensorrt"].load(path, "cuda", 2)
    logits = predict_logits(session, load_tokenizer(path), zoo.test.texts, max_length=32, batch_size=16)
    assert agreement(logits, zoo.logits(("full", "onnx"))) >= 0.95


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
    job = {"kind": "offline", "runtime": runtime, "artifact_dir": str(path), "device": "cuda", "threads": 2,
           "test_path": str(zoo.root / "data" / "test.jsonl"), "label_names": list(zoo.labels), "seed": 0,
           "batch_size": 8, "seq_len": 32, "gpu_isolation": "warn", "price_usd_per_kwh": 0.2,
           "stop_rule": {"warmup_iterations": 5, "min_warmup_s": 0.5, "max_warmup_s": 5, "min_iterations": 30,
                         "min_duration_s": 0.5, "max_duration_s": 10}}
    r = jobs.offline(job, lambda *a: None)
    lat = r["latency"]
    host = np.asarray(lat["samples_ms"])
    assert "synchronize" in lat["clock"] and lat["end_to_end"]["includes"].startswith("host clock around: copy")
    e2e = np.asarray(lat["end_to_end"]["samples_ms"])
    assert np.median(e2e) >= np.median(host) * 0.9  # copies and the logits' trip back only add
    if runtime == "torch":
        device = np.asarray(lat["device_ms"])
        assert len(device) == len(host) and lat["device_clock"].startswith("CUDA events")
        assert np.median(device) <= np.median(host) * 1.05  # events see the device work, not the launch overhead
        assert r["memory"]["gpu_max_allocated_mib"] > 0
        assert r["memory"]["gpu_max_reserved_mib"] >= r["memory"]["gpu_max_allocated_mib"]
    assert r["isolation"]["policy"] == "warn" and "before" in r["isolation"] and "after" in r["isolation"]
    energy = r["energy"]
    assert energy["status"] == "ok" and energy["energy_per_inference_j"] > 0 or energy.get("reason")
