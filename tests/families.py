"""Tiny random models of every family people fine-tune, saved as a user brings them: safetensors, a
sequence-classification head and a tokenizer (a word-level tokenizer made here, with the input names
and special tokens of the family's own tokenizer). A new family is one line in FAMILIES."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HIDDEN, LAYERS, HEADS, FFN, POSITIONS = 32, 2, 4, 64, 80
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0-4
PAD, CLS, SEP = 0, 2, 3


@dataclass(frozen=True)
class Family:
    model_type: str  # transformers' name (AutoConfig.for_model)
    config: dict  # on top of the shared tiny sizes
    inputs: tuple[str, ...] = ("input_ids", "attention_mask")  # what the family's tokenizer returns
    decoder: bool = False  # no [CLS] ... [SEP] around the text


ENCODER = {"hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
           "intermediate_size": FFN, "max_position_embeddings": POSITIONS, "pad_token_id": PAD}
DECODER = ENCODER | {"num_key_value_heads": 2, "bos_token_id": CLS, "eos_token_id": SEP, "tie_word_embeddings": False}
WITH_TYPES = ("input_ids", "token_type_ids", "attention_mask")

FAMILIES = {
    "bert": Family("bert", ENCODER, WITH_TYPES),
    "roberta": Family("roberta", ENCODER),
    "xlm-roberta": Family("xlm-roberta", ENCODER),
    "electra": Family("electra", ENCODER | {"embedding_size": HIDDEN}, WITH_TYPES),
    "deberta-v2": Family("deberta-v2", ENCODER | {  # DeBERTa-v3's settings
        "relative_attention": True, "pos_att_type": ["p2c", "c2p"], "position_buckets": 16,
        "max_relative_positions": -1, "norm_rel_ebd": "layer_norm", "share_att_key": True,
        "position_biased_input": False, "type_vocab_size": 0}, WITH_TYPES),
    "distilbert": Family("distilbert", {"dim": HIDDEN, "n_layers": LAYERS, "n_heads": HEADS, "hidden_dim": FFN,
                                        "max_position_embeddings": POSITIONS, "pad_token_id": PAD}),
    "modernbert": Family("modernbert", ENCODER | {"cls_token_id": CLS, "sep_token_id": SEP, "bos_token_id": CLS,
                                                  "eos_token_id": SEP, "global_attn_every_n_layers": 2,
                                                  "local_attention": 16}),
    "qwen2": Family("qwen2", DECODER, decoder=True),
    "llama": Family("llama", DECODER, decoder=True),
    "gpt2": Family("gpt2", {"n_embd": HIDDEN, "n_layer": LAYERS, "n_head": HEADS, "n_inner": FFN,
                            "n_positions": POSITIONS, "pad_token_id": PAD, "bos_token_id": CLS,
                            "eos_token_id": SEP}, decoder=True),
}


def make_tokenizer(words: list[str], family: Family):
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate([*SPECIALS, *words])}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if not family.decoder:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_input_names=list(family.inputs))


def save_tiny_model(name: str, words: list[str], out: Path, seed: int = 0) -> Path:
    """A random `name` model with a 3-label classification head, saved with its tokenizer in `out`."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    family = FAMILIES[name]
    tokenizer = make_tokenizer(words, family)
    tokenizer.save_pretrained(out)
    config = AutoConfig.for_model(family.model_type, vocab_size=len(SPECIALS) + len(words), num_labels=3,
                                  **family.config)
    torch.manual_seed(seed)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(out, safe_serialization=True)
    return out


def support_table() -> str:
    """README's family table, from the registries that decide it: the ORT optimizer map of the onnx step,
    the layouts structured pruning knows, and the families it refuses with their reason.
    `python -m tests.families` prints it; tests/test_variants.py checks README.md holds it."""
    from bench.steps.onnx_export import ORT_OPTIMIZER_MODEL_TYPE
    from bench.surgery import LAYOUTS, NOT_PRUNABLE

    lines = ["| family | full, lora, merge, bf16 | onnx (ORT transformer optimizer) | int8 | pruned | distilled |",
             "|---|---|---|---|---|---|"]
    for name in FAMILIES:
        t = FAMILIES[name].model_type
        ort = f"yes, as `{ORT_OPTIMIZER_MODEL_TYPE[t]}`" if t in ORT_OPTIMIZER_MODEL_TYPE else "plain export"
        pruned = ("KV groups + MLP channels" if LAYOUTS[t].grouped else "heads + FFN neurons") if t in LAYOUTS \
            else f"unsupported: {NOT_PRUNABLE[t]}"
        lines.append(f"| {name} | yes | {ort} | yes | {pruned} | yes |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(support_table())
