"""Discarding unimportant channels without exchanging (§4.1, ablation 5, second half).

The paper: "we try to exchange channels randomly like ShuffleNet or directly discard unimportant
channels without channel exchanging, the IoUs of which are 46.8 and 47.5, respectively"
(Wang et al., NeurIPS 2020, §4.1).

Definition (shapes ``[M*N, C, H, W]`` in and out, ``y`` the norm's output viewed ``[M, N, C, H,
W]``)::

    y'_{m,c} = 0          if c ∈ U_m
             = y_{m,c}    otherwise

- **Which channels** ``U_m``: CEN's unimportant channels -- sub-part ``m`` of modality ``m``
  with ``|γ_{m,c}| < θ`` (γ of the private norm just applied), chosen anew at every forward
  pass from the current γ; CEN's half-channel ℓ1 term is kept. So the only change from CEN is
  that a channel CEN would replace by the others' mean is zeroed (pruned, as in network
  slimming [32]) instead. "Discard" = set to zero, including its offset β (our reading).
- Gradients: a discarded channel passes no gradient (its γ still gets the ℓ1 gradient);
  nothing flows between modalities.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.ablations.common import ABLATIONS, SOURCE, GammaRuleFusion
from fusionbench.fusion.ablations.summation import CEN_RULE
from fusionbench.fusion.base import CardRow, FusionCard, FusionOutput
from fusionbench.modal import split_modalities


@registry.FUSIONS.register_module(name='discard_channels')
class DiscardChannels(GammaRuleFusion):
    """Zero CEN's unimportant channels instead of exchanging them (module docstring).

    Args: as :class:`~fusionbench.fusion.ablations.common.GammaRuleFusion` (θ, ℓ1, λ).

    Raises ``ValueError`` for fewer than 2 modalities, shared norms or an unknown ``l1``;
    ``TypeError`` in forward without the private norm.

    Shapes: ``x`` ``[M*N, C, H, W]`` -> ``[M*N, C, H, W]``; ``norm.weight`` ``[M, C]``.
    """

    card = FusionCard(
        name='discard_channels',
        summary="zero CEN's unimportant channels (|γ| < θ in the own sub-part) instead of "
                'exchanging them; half-channel ℓ1 kept',
        paper=SOURCE, position='block', stages=('all',), parameter_free=True,
        label='Discard, no exchange',
        tables=(ABLATIONS,),
        rows={ABLATIONS: (
            CardRow('discard', 'discarding unimportant channels without exchanging',
                    dict(CEN_RULE), paper_row='discard'),)})

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        gamma, losses = self.gamma_and_losses(norm)
        y = split_modalities(x, self.num_modalities)  # [M, N, C, H, W]
        drop = self.unimportant(gamma)[:, None, :, None, None]
        return torch.where(drop, torch.zeros((), dtype=y.dtype, device=y.device),
                           y).reshape(x.shape), losses
