"""Structured surgery on transformer families: find a model's layer list (distillation keeps a subset of
it) and remove whole attention heads and FFN neurons (pruning), so the matrices really shrink (zeroed
weights would give no speed-up on dense kernels).

Each family's layer is described by a `Layout`: where its query, key, value and output projections and
its MLP are, under the family's own names. Decoders with grouped-query attention (Llama, Qwen2) lose
whole KV groups: a key/value head and the query heads that read it. Importance follows Michel et al.
2019 ("Are Sixteen Heads Really Better than One?"): the expected absolute gradient of the loss with
respect to a gate on each head (and here also on each FFN neuron), with head scores normalized per layer
by their L2 norm before global ranking; a KV group scores the sum of its query heads.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import Unsupported


@dataclass(frozen=True)
class Layout:
    """Paths (from one layer) of what pruning touches. Query/key/value rows and the output projection's
    columns are cut per head; the FFN's input projections' rows and output projection's columns per neuron."""

    q: str
    k: str
    v: str
    out: str
    ffn_in: tuple[str, ...]
    ffn_out: str
    head_size: str  # attribute path of the per-head dimension
    head_counts: tuple[str, ...] = ()  # attributes that hold the number of query heads (updated)
    all_sizes: tuple[str, ...] = ()  # attributes that hold heads x head size (updated)
    optional_qk: tuple[str, ...] = ()  # cut like q and k where present (DeBERTa's separate position projections)
    grouped: bool = False  # grouped-query attention: prune whole KV groups


BERT_LIKE = Layout(q="attention.self.query", k="attention.self.key", v="attention.self.value",
                   out="attention.output.dense", ffn_in=("intermediate.dense",), ffn_out="output.dense",
                   head_size="attention.self.attention_head_size", head_counts=("attention.self.num_attention_heads",),
                   all_sizes=("attention.self.all_head_size",))
LAYOUTS = {
    "bert": BERT_LIKE, "roberta": BERT_LIKE, "xlm-roberta": BERT_LIKE, "electra": BERT_LIKE,
    "deberta-v2": Layout(q="attention.self.query_proj", k="attention.self.key_proj", v="attention.self.value_proj",
                         out="attention.output.dense", ffn_in=("intermediate.dense",), ffn_out="output.dense",
                         head_size="attention.self.attention_head_size",
                         head_counts=("attention.self.num_attention_heads",), all_sizes=("attention.self.all_head_size",),
                         optional_qk=("attention.self.pos_key_proj", "attention.self.pos_query_proj")),
    "distilbert": Layout(q="attention.q_lin", k="attention.k_lin", v="attention.v_lin", out="attention.out_lin",
                         ffn_in=("ffn.lin1",), ffn_out="ffn.lin2", head_size="attention.attention_head_size",
                         head_counts=("attention.n_heads",)),
    **dict.fromkeys(("llama", "qwen2", "mistral", "qwen3"), Layout(
        q="self_attn.q_proj", k="self_attn.k_proj", v="self_attn.v_proj", out="self_attn.o_proj",
        ffn_in=("mlp.gate_proj", "mlp.up_proj"), ffn_out="mlp.down_proj", head_size="self_attn.head_dim",
        grouped=True)),
}
NOT_PRUNABLE = {
    "modernbert": "ModernBERT fuses query, key and value into one matrix (Wqkv) and gates its MLP through one "
                  "fused input matrix (Wi)",
    "gpt2": "GPT-2 fuses query, key and value into one Conv1D (c_attn)",
}


def layer_list(model):
    """The module that holds the model's transformer layers, the attribute name, and the layers (nn.ModuleList):
    the ModuleList of config.num_hidden_layers blocks in the backbone (encoder.layer, layers, h, transformer.layer)."""
    import torch

    n = model.config.num_hidden_layers
    for name, module in model.base_model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n and n > 0:
            owner = model.base_model.get_submodule(name.rpartition(".")[0]) if "." in name else model.base_model
            return owner, name.rpartition(".")[2], module
    return None


def layout_of(model) -> Layout:
    """The family's layout, or Unsupported saying why this family cannot be pruned."""
    model_type = model.config.model_type
    if model_type in NOT_PRUNABLE:
        raise Unsupported(f"structured pruning: {NOT_PRUNABLE[model_type]}; pruning that layout is not "
                          f"implemented (the distilled step makes a smaller {model_type} by dropping layers)")
    if model_type not in LAYOUTS or layer_list(model) is None:
        raise Unsupported(f"structured pruning knows the layers of {', '.join(sorted(LAYOUTS))}; "
                          f"'{model_type}' ({type(model).__name__}) is not one of them")
    return LAYOUTS[model_type]


def transformer_layers(model):
    layout_of(model)
    return layer_list(model)[2]


def _get(layer, path: str):
    owner, _, attr = path.rpartition(".")
    return getattr(layer.get_submodule(owner) if owner else layer, attr)


def _set(layer, path: str, value) -> None:
    owner, _, attr = path.rpartition(".")
    setattr(layer.get_submodule(owner) if owner else layer, attr, value)


def _has(layer, path: str) -> bool:
    owner, _, attr = path.rpartition(".")
    try:
        return getattr(layer.get_submodule(owner) if owner else layer, attr, None) is not None
    except AttributeError:
        return False


def heads_per_unit(layer, layout: Layout) -> int:
    """Query heads in one prunable unit: 1, or the query heads that share a KV head (grouped-query attention)."""
    if not layout.grouped:
        return 1
    return _get(layer, layout.q).out_features // _get(layer, layout.k).out_features


def head_and_ffn_importance(model, batches) -> tuple[list, list]:
    """Accumulate |d loss / d gate| over `batches` of (encoded inputs, labels) for every prunable head unit
    (a head, or a KV group) and FFN neuron; per-layer lists of 1-D tensors, head units L2-normalized per layer."""
    import torch

    layout = layout_of(model)
    layers = transformer_layers(model)
    head_gates, ffn_gates, hooks = [], [], []
    for layer in layers:
        d = _get(layer, layout.head_size)
        hg = torch.ones(_get(layer, layout.out).in_features // d, requires_grad=True)
        fg = torch.ones(_get(layer, layout.ffn_out).in_features, requires_grad=True)
        hooks.append(_get(layer, layout.out).register_forward_pre_hook(
            lambda mod, args, g=hg, d=d: (args[0] * g.repeat_interleave(d),)))
        hooks.append(_get(layer, layout.ffn_out).register_forward_pre_hook(lambda mod, args, g=fg: (args[0] * g,)))
        head_gates.append(hg)
        ffn_gates.append(fg)
    head_scores, ffn_scores = _accumulate(model, batches, head_gates, ffn_gates, hooks)
    units = [s.view(-1, heads_per_unit(layer, layout)).sum(-1) for s, layer in zip(head_scores, layers, strict=True)]
    return [s / (s.norm() + 1e-12) for s in units], ffn_scores


def _accumulate(model, batches, head_gates, ffn_gates, hooks) -> tuple[list, list]:
    import torch

    requires = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    scores = [torch.zeros_like(g) for g in head_gates + ffn_gates]
    model.eval()  # no dropout: the gradient of the deterministic loss
    try:
        for enc, labels in batches:
            loss = model(**enc, labels=labels).loss
            for acc, g in zip(scores, torch.autograd.grad(loss, head_gates + ffn_gates), strict=True):
                acc += g.abs()
    finally:
        for h in hooks:
            h.remove()
        for p, r in requires.items():
            p.requires_grad_(r)
    return scores[:len(head_gates)], scores[len(head_gates):]


def choose(head_scores, ffn_scores, heads_fraction: float, ffn_fraction: float) -> tuple[list, list]:
    """Head units to keep per layer (global ranking, at least one per layer) and FFN neurons to keep per layer."""
    import torch

    flat = torch.cat(head_scores)
    n_prune = round(heads_fraction * flat.numel())
    sizes = [len(s) for s in head_scores]
    owner = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    remaining = list(sizes)
    pruned = torch.zeros(flat.numel(), dtype=torch.bool)
    for idx in torch.argsort(flat).tolist():  # least important first
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
    keep_ffn = [sorted(torch.topk(s, max(1, round((1 - ffn_fraction) * s.numel()))).indices.tolist())
                for s in ffn_scores]
    return keep_heads, keep_ffn


def _rows(units: list[int], width: int):
    import torch

    return torch.cat([torch.arange(u * width, (u + 1) * width) for u in units]).long()


def prune_layer(layer, layout: Layout, units: list[int], neurons: list[int]) -> None:
    """Keep only the listed head units and FFN neurons of one layer (transformers' prune_linear_layer)."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    d = _get(layer, layout.head_size)
    per_unit = heads_per_unit(layer, layout)
    q_index = _rows(units, d * per_unit)  # the query heads of the kept units
    kv_index = _rows(units, d) if layout.grouped else q_index
    for path in (layout.q, *(p for p in layout.optional_qk if _has(layer, p))):
        _set(layer, path, prune_linear_layer(_get(layer, path), q_index, dim=0))
    for path in (layout.k, layout.v):
        _set(layer, path, prune_linear_layer(_get(layer, path), kv_index, dim=0))
    _set(layer, layout.out, prune_linear_layer(_get(layer, layout.out), q_index, dim=1))
    for path in layout.head_counts:
        _set(layer, path, len(units) * per_unit)
    for path in layout.all_sizes:
        _set(layer, path, len(units) * per_unit * d)
    ffn_index = torch.tensor(neurons, dtype=torch.long)
    for path in layout.ffn_in:
        _set(layer, path, prune_linear_layer(_get(layer, path), ffn_index, dim=0))
    _set(layer, layout.ffn_out, prune_linear_layer(_get(layer, layout.ffn_out), ffn_index, dim=1))


def prune(model, keep_heads: list[list[int]], keep_ffn: list[list[int]]) -> None:
    """Remove every head unit and FFN neuron not listed, in place; raises Unsupported for other layouts."""
    layout = layout_of(model)
    for layer, units, neurons in zip(transformer_layers(model), keep_heads, keep_ffn, strict=True):
        prune_layer(layer, layout, units, neurons)


def shape_of(model) -> dict:
    """Per layer: query heads, FFN neurons, and (grouped-query attention) KV heads; what a reload needs."""
    layout = layout_of(model)
    layers = transformer_layers(model)
    shape = {"heads_per_layer": [_get(x, layout.out).in_features // _get(x, layout.head_size) for x in layers],
             "ffn_per_layer": [_get(x, layout.ffn_out).in_features for x in layers]}
    if layout.grouped:
        shape["kv_heads_per_layer"] = [_get(x, layout.k).out_features // _get(x, layout.head_size) for x in layers]
    return shape


def resize_to(model, shape: dict) -> None:
    """Give a freshly built model the pruned shapes (which heads is irrelevant: weights are loaded next)."""
    units = shape.get("kv_heads_per_layer") or shape["heads_per_layer"]
    prune(model, [list(range(n)) for n in units], [list(range(n)) for n in shape["ffn_per_layer"]])


def keep_layers(model, keep: list[int]) -> None:
    """Keep only the listed transformer layers, in place (the distillation student): the layer list, the
    per-layer config lists (layer_types) and each layer's own index (decoders' cache slots) follow."""
    found = layer_list(model)
    if found is None:
        raise Unsupported(f"distillation keeps a subset of the teacher's layers, and no list of "
                          f"config.num_hidden_layers={model.config.num_hidden_layers} layers was found in "
                          f"{type(model).__name__} ({model.config.model_type})")
    import torch

    owner, attr, layers = found
    n = len(layers)
    setattr(owner, attr, torch.nn.ModuleList([layers[i] for i in keep]))
    for key, value in list(model.config.to_dict().items()):
        if isinstance(value, list) and len(value) == n and key != "architectures":
            setattr(model.config, key, [value[i] for i in keep])
    model.config.num_hidden_layers = len(keep)
    for new_idx, layer in enumerate(getattr(owner, attr)):
        for module in layer.modules():
            for name in ("layer_idx", "layer_id"):
                if isinstance(getattr(module, name, None), int):
                    setattr(module, name, new_idx)
