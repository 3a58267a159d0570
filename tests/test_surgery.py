"""Removing heads and FFN neurons gives exactly the outputs of masking them in the unpruned model."""

import torch

from bench import surgery


def tiny_classifier():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, num_labels=3)
    return BertForSequenceClassification(config).eval()


def test_pruning_equals_masking():
    model = tiny_classifier()
    ids = torch.randint(5, 50, (3, 12))
    mask = torch.ones_like(ids)
    keep_heads = [[0, 2], [1, 2, 3]]
    keep_ffn = [list(range(0, 64, 2)), list(range(40))]
    head_size = 8
    hooks = []
    for layer, heads, neurons in zip(surgery.encoder_layers(model), keep_heads, keep_ffn, strict=True):
        hmask = torch.zeros(4)
        hmask[heads] = 1
        fmask = torch.zeros(64)
        fmask[neurons] = 1
        hooks.append(layer.attention.output.dense.register_forward_pre_hook(
            lambda m, a, g=hmask: (a[0] * g.repeat_interleave(head_size),)))
        hooks.append(layer.output.dense.register_forward_pre_hook(lambda m, a, g=fmask: (a[0] * g,)))
    with torch.no_grad():
        masked = model(input_ids=ids, attention_mask=mask).logits
    for h in hooks:
        h.remove()
    surgery.prune(model, keep_heads, keep_ffn)
    with torch.no_grad():
        pruned = model(input_ids=ids, attention_mask=mask).logits
    torch.testing.assert_close(pruned, masked, atol=1e-5, rtol=1e-5)
    assert surgery.shape_of(model) == {"heads_per_layer": [2, 3], "ffn_per_layer": [32, 40]}


def test_choose_keeps_a_head_in_every_layer():
    heads = [torch.tensor([0.1, 0.2, 0.3, 0.4]), torch.tensor([0.9, 0.8, 0.7, 0.95])]
    ffn = [torch.arange(10.0), torch.arange(10.0)]
    keep_heads, keep_ffn = surgery.choose(heads, ffn, heads_fraction=0.5, ffn_fraction=0.3)
    assert keep_heads == [[3], [0, 1, 3]]  # layer 0 keeps its best head even though it is globally weak
    assert keep_ffn == [[3, 4, 5, 6, 7, 8, 9]] * 2


def test_importance_scores_have_one_entry_per_head_and_neuron():
    model = tiny_classifier()
    batch = ({"input_ids": torch.randint(5, 50, (4, 10)), "attention_mask": torch.ones(4, 10, dtype=torch.long)},
             torch.tensor([0, 1, 2, 0]))
    heads, ffn = surgery.head_and_ffn_importance(model, [batch])
    assert [h.shape[0] for h in heads] == [4, 4] and [f.shape[0] for f in ffn] == [64, 64]
    assert all(torch.isclose(h.norm(), torch.tensor(1.0)) for h in heads)
    assert all(p.requires_grad for p in model.parameters())  # restored
