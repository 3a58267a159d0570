"""LoRA adapts the layers of each family under its own names, and a suite's target_modules that match
no layer of the base model are refused before anything is written."""

import subprocess
import sys

import pytest

from bench.errors import BenchError
from bench.steps import lora
from tests.conftest import REPO


def test_matching_follows_peft():
    assert lora.matches("bert.encoder.layer.0.attention.self.query", "query")
    assert lora.matches("query", "query")
    assert not lora.matches("bert.encoder.layer.0.attention.self.query_proj", "query")


def test_each_unmatched_target_is_named_with_the_model_layers(tiny_model_dir):
    names = lora.weight_module_names(tiny_model_dir)
    assert any(n.endswith("attention.self.query") for n in names)
    assert lora.unmatched_targets_message(["query", "value"], names, "s.toml", tiny_model_dir) is None
    msg = lora.unmatched_targets_message(["query", "vaule"], names, "s.toml", tiny_model_dir)
    assert msg.startswith("s.toml: steps.lora.target_modules: 'vaule' match no module")
    assert "key, position_embeddings, query, token_type_embeddings, value" in msg and "'query'" not in msg
    with pytest.raises(BenchError, match="q_proj"):
        lora.check_suite_targets(["q_proj"], tiny_model_dir, "s.toml")


def test_cli_refuses_targets_the_model_lacks_with_exit_2(tiny_model_dir, tiny_csv, tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", "smoke", "--out", str(out), "--profile", "local", "--only", "lora",
         "--set", f"model.base={tiny_model_dir}", "--set", f"task.dataset={tiny_csv}",
         "--set", 'steps.lora.target_modules=["q_proj", "query"]'],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
                                                                   "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "'q_proj' match no module" in done.stderr and "key, position_embeddings, query" in done.stderr
    assert not out.exists() or not any(out.rglob("*"))
