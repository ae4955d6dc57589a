"""Parameter accounting: total, fusion-only and per part, from the model itself.

"Params used for fusion" (Table 2) are the parameters the fusion modules declare through
:meth:`~fusionbench.fusion.base.FusionModule.fusion_parameters`; no method needs a special case.
"""
from __future__ import annotations

from torch import nn

from fusionbench.fusion.base import FusionModule


def count(parameters) -> int:
    """Number of scalars in an iterable of parameters (each counted once)."""
    seen, total = set(), 0
    for p in parameters:
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """``{'total', 'fusion', <each top-level child>...}`` parameter counts of ``model``.

    Top-level children are e.g. ``backbone`` (the encoder, fusion modules included) and
    ``decode_head``; parameters registered directly on the model (the ensemble's α) are
    reported as ``'own'``.
    """
    model = getattr(model, 'module', model)
    fusion = count(p for m in model.modules() if isinstance(m, FusionModule)
                   for p in m.fusion_parameters())
    counts = {'total': count(model.parameters()), 'fusion': fusion}
    for name, child in model.named_children():
        n = count(child.parameters())
        if n:
            counts[name] = n
    counts['own'] = count(model.parameters(recurse=False))
    return counts


def millions(n: int) -> float:
    """Parameters in millions, rounded to 0.1 M as the paper reports them."""
    return round(n / 1e6, 1)
