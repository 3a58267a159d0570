import os
import random
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent

POSITIVE = ["love", "great", "excellent", "thanks", "amazing", "happy", "perfect", "friendly"]
NEGATIVE = ["hate", "terrible", "awful", "broken", "late", "rude", "worst", "refund"]
NEUTRAL = ["order", "flight", "package", "today", "account", "store", "gate", "number"]
FILLER = ["the", "my", "a", "was", "is", "service", "staff", "delivery", "app", "support"]


def tiny_texts(n: int = 240, seed: int = 0) -> list[tuple[str, str]]:
    """A synthetic three-class sentiment set: the class decides the cue words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ("positive", "negative", "neutral")[i % 3]
        cues = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}[label]
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))] + [rng.choice(cues) for _ in range(2)]
        rng.shuffle(words)
        rows.append((" ".join(words) + f" {i}", label))
    return rows


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory) -> Path:
    import csv

    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(tiny_texts())
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, hidden-32 BERT built from a config (no download), saved as safetensors with a tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    d = tmp_path_factory.mktemp("tiny-bert")
    words = sorted({w for t, _ in tiny_texts() for w in t.split()} | {str(i) for i in range(10)})
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True)  # transformers 5 takes the vocab itself
    assert tokenizer.unk_token_id not in tokenizer("love the service")["input_ids"]
    tokenizer.save_pretrained(d)
    config = BertConfig(vocab_size=len(words) + 5, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(d, safe_serialization=True)
    return d


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("BENCH_CACHE_DIR", str(d))
    return d
