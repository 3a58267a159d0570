"""The CPU runtimes users deploy (issue #21): torch.compile as a runtime, OpenVINO (fp32 IR and NNCF
int8) and ONNX Runtime static int8 as steps. Each composes in chains, follows its parent within a stated
tolerance on the tiny model (the step contracts are in tests/test_variants.py), works for every task
kind, and says `unsupported` with the reason where this machine lacks what it needs."""

import csv
import random

import numpy as np
import pytest

from bench.config import Task
from bench.registry import DEFAULT_RUNTIME_FOR_FORMAT, RUNTIMES, STEPS, expand_chain, load_all
from bench.runtimes.openvino import openvino_unsupported_reason
from tests.conftest import FILLER, NEGATIVE, NEUTRAL, POSITIVE
from tests.test_variants import FAMILY_FINETUNE, Zoo, agreement

load_all()


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory, tiny_model_dir, tiny_csv):
    return Zoo(tmp_path_factory.mktemp("zoo"), tiny_model_dir, tiny_csv)


def test_new_steps_compose_in_chains():
    assert expand_chain(["distilled", "openvino-int8"]) == ["full", "distilled", "openvino", "openvino-int8"]
    assert expand_chain(["distilled", "int8-static"]) == ["full", "distilled", "onnx", "int8-static"]
    assert expand_chain(["pruned", "openvino"]) == ["full", "pruned", "openvino"]
    assert expand_chain(["lora", "merge", "openvino-int8"]) == ["lora", "merge", "openvino", "openvino-int8"]
    assert DEFAULT_RUNTIME_FOR_FORMAT[STEPS["openvino-int8"].output_format] == "openvino"


def test_openvino_says_why_on_another_cpu_or_device(monkeypatch):
    import platform

    assert "CPU only" in openvino_unsupported_reason("cuda")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    reason = openvino_unsupported_reason("cpu")
    assert "x86 CPUs only" in reason and "aarch64" in reason
    assert STEPS["openvino-int8"].why_unsupported("cpu") == reason


def test_torch_compile_says_why_without_a_cxx_compiler(monkeypatch):
    pytest.importorskip("torch")
    from torch._inductor import cpp_builder, exc

    def no_compiler():
        raise exc.InvalidCxxCompiler()

    monkeypatch.setattr(cpp_builder, "get_cpp_compiler", no_compiler)
    assert "needs a C++ compiler and found none" in RUNTIMES["torch-compile"].unsupported_reason("cpu")


# runtime -> [(chain, max |logit difference| / max |eager logit|)] against the same artifact in eager PyTorch
RUNTIME_CONTRACTS = {"torch-compile": [(("full",), 1e-4), (("full", "bf16"), 0.02)]}


def test_every_extra_runtime_has_a_contract():
    assert set(RUNTIMES) - set(DEFAULT_RUNTIME_FOR_FORMAT.values()) == set(RUNTIME_CONTRACTS)


@pytest.mark.parametrize(("runtime", "chain", "max_rel"),
                         [(r, c, t) for r, cases in RUNTIME_CONTRACTS.items() for c, t in cases])
def test_runtime_contract(tiny_zoo, runtime, chain, max_rel):
    """The runtime on an artifact: logits within the tolerance of eager PyTorch on the same batches, the
    compile time recorded apart, and no graph compiled after warm-up (none inside the timed loop)."""
    reason = RUNTIMES[runtime].unsupported_reason("cpu")
    if reason:
        pytest.skip(f"{runtime}: {reason}")
    from bench.data import tokenize
    from bench.models import load_tokenizer

    path, _ = tiny_zoo.build(chain)
    tokenizer = load_tokenizer(path)
    texts = list(tiny_zoo.test.texts)
    encoded = [dict(tokenize(tokenizer, texts[i:i + 8], padding="max_length", truncation=True, max_length=32,
                             return_tensors="np")) for i in (0, 8)]
    outputs = {}
    for name in ("torch", runtime):
        session = RUNTIMES[name].load(path, "cpu", 2)
        prepared = [session.prepare(e) for e in encoded]  # outside the timed region: compiles each shape
        outputs[name] = np.concatenate([session.logits(session.run(p)) for p in prepared * 2])
    ref, got = outputs["torch"], outputs[runtime]
    assert np.abs(got - ref).max() <= max_rel * np.abs(ref).max() and agreement(got, ref) == 1.0
    info = session.describe()["compile"]
    assert info["compile_s"] > 0 and info["graphs_compiled"] >= 1 and info["graphs_compiled_after_warmup"] == 0
    assert list(info["first_call_s_per_shape"]) == ["8x32"]


KINDS = {  # kind -> (Task fields, the label of row i, and whether rows have a second text)
    "regression": ({"kind": "regression"}, lambda pos, neg: round((pos - neg) / 2, 2), False),
    "binary": ({"kind": "binary"}, lambda pos, neg: "positive" if pos > neg else "other", False),
    "pairs": ({"text_pair_column": "pair"}, lambda pos, neg: ("positive", "negative", "neutral")[
        0 if pos > neg else 1 if neg > pos else 2], True),
}


def _kind_csv(path, kind: str, n: int = 180):
    fields, label_of, pairs = KINDS[kind]
    rng = random.Random(3)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "pair", "label"] if pairs else ["text", "label"])
        for i in range(n):
            pos, neg = rng.randint(0, 2), rng.randint(0, 2)
            words = [rng.choice(FILLER) for _ in range(3)] + rng.sample(POSITIVE, pos) + rng.sample(NEGATIVE, neg)
            rng.shuffle(words)
            text = " ".join(words) + f" {i}"
            w.writerow([text, " ".join(rng.sample(NEUTRAL, 2)), label_of(pos, neg)] if pairs else [text, label_of(pos, neg)])
    return Task(dataset=str(path), **fields)


NEW_STEP_CHAINS = {  # chain -> (the chain it follows, max |logit difference| / max |parent logit|)
    ("full", "onnx", "int8-static"): (("full", "onnx"), 0.3),
    ("full", "openvino"): (("full",), 1e-4),
    ("full", "openvino", "openvino-int8"): (("full", "openvino"), 0.3),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_new_steps_for_each_task_kind(kind, tmp_path, tiny_model_dir):
    """Regression (one output), binary and pair tasks (token_type_ids) through each new step: the right
    output shape, finite, and following the parent within the stated tolerance."""
    reason = STEPS["openvino-int8"].why_unsupported("cpu")
    task = _kind_csv(tmp_path / f"{kind}.csv", kind)
    kind_zoo = Zoo(tmp_path, tiny_model_dir, tmp_path / f"{kind}.csv", FAMILY_FINETUNE, task=task)
    width = 1 if kind == "regression" else len(kind_zoo.labels)
    for chain, (parent, max_rel) in NEW_STEP_CHAINS.items():
        if reason and "openvino" in chain:
            continue  # test_variant_contract checks the reason itself
        logits, ref = kind_zoo.logits(chain), kind_zoo.logits(parent)
        assert logits.shape == (len(kind_zoo.test.texts), width) and np.isfinite(logits).all(), chain
        assert np.abs(logits - ref).max() <= max_rel * np.abs(ref).max(), (chain, np.abs(logits - ref).max())
    if kind == "pairs" and not reason:
        from bench.runtimes.openvino import load

        assert "token_type_ids" in load(kind_zoo.build(("full", "openvino", "openvino-int8"))[0], "cpu", 1).input_names


def test_a_graph_compiled_in_the_timed_region_is_a_cell_warning():
    from types import SimpleNamespace

    from bench.cells import recompile_warnings

    clean = SimpleNamespace(runtime_info={"compile": {"graphs_compiled": 1, "graphs_compiled_after_warmup": 0}})
    late = SimpleNamespace(runtime_info={"compile": {"graphs_compiled": 2, "graphs_compiled_after_warmup": 1}})
    eager = SimpleNamespace(runtime_info={"dtype": "float32"})
    assert recompile_warnings([clean, eager]) == []
    (warning,) = recompile_warnings([clean, late])
    assert warning.startswith("process 2: torch.compile compiled 1 graph(s) after warm-up")
