"""Removing heads (KV groups) and FFN neurons gives exactly the outputs of masking them in the unpruned
model, in every family that can be pruned; the others say why; every family's layer list is found."""

import pytest
import torch

from bench import surgery
from bench.errors import Unsupported
from tests.families import FAMILIES, HEADS, SPECIALS


def tiny_classifier(family: str = "bert"):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    f = FAMILIES[family]
    config = AutoConfig.for_model(f.model_type, vocab_size=50, num_labels=3, **f.config)
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").eval()


def inputs():
    torch.manual_seed(1)
    ids = torch.randint(len(SPECIALS), 50, (3, 12))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


PRUNABLE = sorted(f for f in FAMILIES if FAMILIES[f].model_type in surgery.LAYOUTS)


@pytest.mark.parametrize("family", PRUNABLE)
def test_pruning_equals_masking(family):
    model = tiny_classifier(family)
    layout = surgery.layout_of(model)
    layers = surgery.transformer_layers(model)
    per_unit = surgery.heads_per_unit(layers[0], layout)
    units = HEADS // per_unit
    keep_heads = [[0], list(range(1, units))]  # the first layer keeps one unit, the second all but one
    keep_ffn = [list(range(0, 64, 2)), list(range(40))]
    hooks = []
    for layer, kept, neurons in zip(layers, keep_heads, keep_ffn, strict=True):
        d = surgery._get(layer, layout.head_size)
        hmask, fmask = torch.zeros(units), torch.zeros(64)
        hmask[kept], fmask[neurons] = 1, 1
        hooks.append(surgery._get(layer, layout.out).register_forward_pre_hook(
            lambda m, a, g=hmask, d=d: (a[0] * g.repeat_interleave(d * per_unit),)))
        hooks.append(surgery._get(layer, layout.ffn_out).register_forward_pre_hook(lambda m, a, g=fmask: (a[0] * g,)))
    with torch.no_grad():
        masked = model(**inputs()).logits
    for h in hooks:
        h.remove()
    surgery.prune(model, keep_heads, keep_ffn)
    with torch.no_grad():
        pruned = model(**inputs()).logits
    torch.testing.assert_close(pruned, masked, atol=1e-5, rtol=1e-5)
    shape = surgery.shape_of(model)
    assert shape["heads_per_layer"] == [per_unit, HEADS - per_unit] and shape["ffn_per_layer"] == [32, 40]
    assert shape.get("kv_heads_per_layer", [1, units - 1]) == [1, units - 1]


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - set(PRUNABLE)))
def test_unprunable_family_says_why_and_still_distils(family):
    model = tiny_classifier(family)
    with pytest.raises(Unsupported, match=f"structured pruning: .*{surgery.NOT_PRUNABLE[family].split()[0]}"):
        surgery.prune(model, [[0]] * 2, [[0]] * 2)
    surgery.keep_layers(model, [1])
    with torch.no_grad():
        assert model(**inputs()).logits.shape == (3, 3)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_keep_layers_follows_the_layer_list_and_config(family):
    model = tiny_classifier(family)
    owner, attr, layers = surgery.layer_list(model)
    second = layers[1]
    surgery.keep_layers(model, [1])
    assert list(getattr(owner, attr)) == [second] and model.config.num_hidden_layers == 1
    assert len(getattr(model.config, "layer_types", None) or [0]) == 1


def test_a_model_without_a_layer_list_is_refused_for_distillation():
    model = tiny_classifier()
    model.config.num_hidden_layers = 5  # no ModuleList of 5 layers exists
    with pytest.raises(Unsupported, match="distillation keeps a subset"):
        surgery.keep_layers(model, [0])


def test_choose_keeps_a_head_in_every_layer():
    heads = [torch.tensor([0.1, 0.2, 0.3, 0.4]), torch.tensor([0.9, 0.8, 0.7, 0.95])]
    ffn = [torch.arange(10.0), torch.arange(10.0)]
    keep_heads, keep_ffn = surgery.choose(heads, ffn, heads_fraction=0.5, ffn_fraction=0.3)
    assert keep_heads == [[3], [0, 1, 3]]  # layer 0 keeps its best head even though it is globally weak
    assert keep_ffn == [[3, 4, 5, 6, 7, 8, 9]] * 2


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_importance_scores_have_one_entry_per_head_unit_and_neuron(family):
    model = tiny_classifier(family)
    per_unit = surgery.heads_per_unit(surgery.transformer_layers(model)[0], surgery.layout_of(model))
    heads, ffn = surgery.head_and_ffn_importance(model, [(inputs(), torch.tensor([0, 1, 2]))])
    assert [h.shape[0] for h in heads] == [HEADS // per_unit] * 2 and [f.shape[0] for f in ffn] == [64, 64]
    assert all(torch.isclose(h.norm(), torch.tensor(1.0)) for h in heads)
    assert all(p.requires_grad for p in model.parameters())  # restored
