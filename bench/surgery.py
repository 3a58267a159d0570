"""Structured pruning for BERT-family encoders: remove whole attention heads and FFN neurons, so the
matrices really shrink (zeroed weights would give no speed-up on dense kernels).

Importance follows Michel et al. 2019 ("Are Sixteen Heads Really Better than One?"): the expected
absolute gradient of the loss with respect to a gate on each head (and here also on each FFN neuron),
with head scores normalized per layer by their L2 norm before global ranking.
"""

from __future__ import annotations

from bench.errors import Unsupported


def encoder_layers(model):
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not hasattr(layers[0], "attention") or not hasattr(layers[0].attention, "self"):
        raise Unsupported(f"structured pruning is implemented for BERT-family encoders; "
                          f"{type(model).__name__} has another layout")
    return layers


def head_and_ffn_importance(model, batches) -> tuple[list, list]:
    """Accumulate |d loss / d gate| over `batches` of (encoded inputs, labels) for every head and FFN neuron."""
    import torch

    layers = encoder_layers(model)
    head_size = layers[0].attention.self.attention_head_size
    head_gates = [torch.ones(layer.attention.self.num_attention_heads, requires_grad=True) for layer in layers]
    ffn_gates = [torch.ones(layer.intermediate.dense.out_features, requires_grad=True) for layer in layers]
    hooks = []
    for layer, hg, fg in zip(layers, head_gates, ffn_gates, strict=True):
        hooks.append(layer.attention.output.dense.register_forward_pre_hook(
            lambda mod, args, g=hg: (args[0] * g.repeat_interleave(head_size),)))
        hooks.append(layer.output.dense.register_forward_pre_hook(lambda mod, args, g=fg: (args[0] * g,)))
    requires = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    head_scores = [torch.zeros_like(g) for g in head_gates]
    ffn_scores = [torch.zeros_like(g) for g in ffn_gates]
    model.eval()  # no dropout: the gradient of the deterministic loss
    try:
        for enc, labels in batches:
            loss = model(**enc, labels=labels).loss
            grads = torch.autograd.grad(loss, head_gates + ffn_gates)
            for acc, g in zip(head_scores + ffn_scores, grads, strict=True):
                acc += g.abs()
    finally:
        for h in hooks:
            h.remove()
        for p, r in requires.items():
            p.requires_grad_(r)
    return [s / (s.norm() + 1e-12) for s in head_scores], ffn_scores


def choose(head_scores, ffn_scores, heads_fraction: float, ffn_fraction: float) -> tuple[list, list]:
    """Heads to keep per layer (global ranking, at least one per layer) and FFN neurons to keep per layer."""
    import torch

    flat = torch.cat(head_scores)
    n_prune = round(heads_fraction * flat.numel())
    order = torch.argsort(flat)  # least important first
    sizes = [len(s) for s in head_scores]
    owner = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    remaining = list(sizes)
    pruned = torch.zeros(flat.numel(), dtype=torch.bool)
    for idx in order.tolist():
        if n_prune == 0:
            break
        layer = int(owner[idx])
        if remaining[layer] > 1:
            pruned[idx] = True
            remaining[layer] -= 1
            n_prune -= 1
    keep_heads, start = [], 0
    for size in sizes:
        keep_heads.append([h for h in range(size) if not pruned[start + h]])
        start += size
    keep_ffn = []
    for s in ffn_scores:
        k = max(1, round((1 - ffn_fraction) * s.numel()))
        keep_ffn.append(sorted(torch.topk(s, k).indices.tolist()))
    return keep_heads, keep_ffn


def prune(model, keep_heads: list[list[int]], keep_ffn: list[list[int]]) -> None:
    """Remove every head and FFN neuron not listed, in place (transformers.pytorch_utils.prune_linear_layer)."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    for layer, heads, neurons in zip(encoder_layers(model), keep_heads, keep_ffn, strict=True):
        att = layer.attention.self
        d = att.attention_head_size
        index = torch.cat([torch.arange(h * d, (h + 1) * d) for h in heads]).long()
        att.query = prune_linear_layer(att.query, index, dim=0)
        att.key = prune_linear_layer(att.key, index, dim=0)
        att.value = prune_linear_layer(att.value, index, dim=0)
        layer.attention.output.dense = prune_linear_layer(layer.attention.output.dense, index, dim=1)
        att.num_attention_heads = len(heads)
        att.all_head_size = len(heads) * d
        ffn_index = torch.tensor(neurons, dtype=torch.long)
        layer.intermediate.dense = prune_linear_layer(layer.intermediate.dense, ffn_index, dim=0)
        layer.output.dense = prune_linear_layer(layer.output.dense, ffn_index, dim=1)


def resize_to(model, heads_per_layer: list[int], ffn_per_layer: list[int]) -> None:
    """Give a freshly built model the pruned shapes (which heads is irrelevant: weights are loaded next)."""
    prune(model, [list(range(h)) for h in heads_per_layer], [list(range(n)) for n in ffn_per_layer])


def shape_of(model) -> dict:
    layers = encoder_layers(model)
    return {"heads_per_layer": [layer.attention.self.num_attention_heads for layer in layers],
            "ffn_per_layer": [layer.intermediate.dense.out_features for layer in layers]}
