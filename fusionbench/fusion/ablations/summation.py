"""Summing instead of replacing: Eq. 6 without its first term, plain or gated (§4.1, ablation 3).

The paper: "Directly summing activations (discarding the 1st term in Equation 6) results in IoU
48.1, which could reach 48.4 when summing with a learnt soft gate" (Wang et al., NeurIPS 2020,
§4.1).

Eq. 6 selects per channel: the channel's own BN output when ``γ > θ`` (its first term), the
others' mean otherwise. Read as ``y' = 1[|γ| ≥ θ] · y_m + 1[|γ| < θ] · mean_{m'≠m} y_{m'}``,
discarding the indicator of the first term keeps the own channel everywhere and *adds* the
others' mean where CEN would replace (our reading; the paper gives no formula). Shapes ``[M*N,
C, H, W]`` in and out, ``y`` the norm's output viewed ``[M, N, C, H, W]``::

    y'_{m,c} = y_{m,c} + g_{m,c} · 1/(M-1) Σ_{m'≠m} y_{m',c}    if c ∈ U_m
             = y_{m,c}                                           otherwise

- **Which channels** ``U_m``: CEN's -- sub-part ``m`` of modality ``m`` with ``|γ_{m,c}| < θ``
  (γ of the private norm just applied), chosen anew at every forward pass from the current γ;
  CEN's ℓ1 term (half-channel, λ per layer under the protocols) is kept, so the only change
  from CEN is summing instead of replacing.
- ``g``: 1 (row ``sum``); or a learnt soft gate (row ``sum_gated``) ``g_{m,c} = σ(a_{m,c})``,
  one logit per modality and channel ``[M, C]``, initialised to 0 (``g = 0.5``; our choice:
  the paper gives neither its form nor its initialisation).
- Gradients: the own channel keeps its gradient (nothing is detached); the others' mean
  passes gradients to the channels it came from, and to ``a`` through the gate.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.ablations.common import ABLATIONS, SOURCE, GammaRuleFusion
from fusionbench.fusion.base import CardRow, FusionCard, FusionOutput, FusionPoint
from fusionbench.fusion.cen import mean_of_others
from fusionbench.modal import split_modalities

#: CEN's settings (Table 1's config): directed sub-parts, half-channel ℓ1, θ = 2e-2,
#: λ = 5e-3 (replaced by the per-layer λ under the small protocols).
CEN_RULE = {'threshold': 2e-2, 'l1': 'half', 'l1_weight': 5e-3, 'stages': (1, 2, 3, 4)}


@registry.FUSIONS.register_module(name='sum_exchange')
class SumExchange(GammaRuleFusion):
    """Add the others' mean (optionally gated) to CEN's unimportant channels instead of
    replacing them (module docstring).

    Args:
        point, threshold, l1, l1_weight, l1_repeats: as :class:`~fusionbench.fusion.
            ablations.common.GammaRuleFusion` (CEN's rule and ℓ1).
        gate: learn a soft gate ``σ(a)`` ``[M, C]`` on the added term (False: plain sum).

    Raises ``ValueError`` for fewer than 2 modalities, shared norms or an unknown ``l1``;
    ``TypeError`` in forward without the private norm.

    Shapes: ``x`` ``[M*N, C, H, W]`` -> ``[M*N, C, H, W]``; ``norm.weight`` ``[M, C]``.
    """

    card = FusionCard(
        name='sum_exchange',
        summary="add the others' mean to CEN's unimportant channels (|γ| < θ in the own "
                'sub-part) instead of replacing them; optional learnt soft gate',
        paper=SOURCE, position='block', stages=('all',), label='Sum instead of replace',
        tables=(ABLATIONS,),
        rows={ABLATIONS: (
            CardRow('sum', 'summing instead of replacing (Eq. 6 without its first term)',
                    {**CEN_RULE, 'gate': False}, paper_row='sum'),
            CardRow('sum_gated', 'summing with a learnt soft gate',
                    {**CEN_RULE, 'gate': True}, paper_row='sum_gated'))})

    def __init__(self, point: FusionPoint, threshold: float = 2e-2, l1: str = 'half',
                 l1_weight: float | dict = 5e-3, l1_repeats: int | str = 1, gate: bool = False):
        super().__init__(point, threshold, l1, l1_weight, l1_repeats)
        self.gated = bool(gate)
        if self.gated:
            self.gate_logit = nn.Parameter(torch.zeros(point.num_modalities, point.channels))

    def gate(self) -> Tensor:
        """``[M, C]``: the weight of the added term (ones without a gate)."""
        if self.gated:
            return torch.sigmoid(self.gate_logit)
        return torch.ones_like(self.exchangeable, dtype=torch.float32)

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        gamma, losses = self.gamma_and_losses(norm)
        y = split_modalities(x, self.num_modalities)  # [M, N, C, H, W]
        weight = self.gate() * self.unimportant(gamma)  # [M, C]; 0 outside U_m
        added = mean_of_others(y, self.others_mean) * weight.to(y.dtype)[:, None, :, None, None]
        return (y + added).reshape(x.shape), losses

    def extra_repr(self) -> str:
        return super().extra_repr() + f', gate={self.gated}'
