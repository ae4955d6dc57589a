"""Conditional batch normalisation (de Vries et al., NeurIPS 2017 [45]): the depth branch's BN
modulated by RGB features (§4.1, ablation 2).

The paper: "we provide results of our implemented CBN [45] by modulating the BN of depth
conditional on RGB. The IoUs of CBN with unshared and shared convolutional parameters are 48.3
and 48.9, respectively" (Wang et al., NeurIPS 2020, §4.1).

CBN predicts a change of a BN's affine parameters from a conditioning input:
``γ̂ = γ + Δγ(e)``, ``β̂ = β + Δβ(e)``, with the predictor's last layer initialised to zero so
the network starts as the unconditioned one (de Vries et al.). Here, at every fusion point
(after the private norm of each 3×3 convolution, CEN's positions), shapes ``[M*N, C, H, W]`` in
and out, with ``y`` the norm's output viewed ``[M, N, C, H, W]`` and modality 0 the condition
(RGB: the first modality)::

    e      = mean_{H,W} y_0                                   [N, C]
    δγ, δβ = W_2 · ReLU(W_1 · e + b_1) + b_2                  [N, M-1, C] each
    y'_m   = (1 + δγ_m) ⊙ y_m + δβ_m      for m ≥ 1 (depth)   [N, C, H, W]
    y'_0   = y_0

Since ``y_m = γ_m x̂_m + β_m``, this is the BN of modality ``m`` with ``γ̂ = γ_m (1 + δγ_m)``
and ``β̂ = β_m (1 + δγ_m) + δβ_m``: CBN with its predictor reparametrised on the norm's output
(the fusion module sees the output, not ``x̂``; dividing by ``γ`` to recover ``x̂`` would be
unstable near 0).

- **Which channels**: every channel of every modality but the first (for RGB-D: all of depth's);
  RGB passes unchanged. No channel is exchanged, selected or dropped.
- **When chosen, how often**: the modulation is recomputed at every forward pass, per sample
  and per channel, from that sample's RGB features (in training and evaluation alike).

Our choices where the paper is silent: the conditioning embedding ``e`` is the RGB features at
the same point, globally average-pooled (so the condition is as local as the modulated BN);
the predictor is one MLP per point, ``C -> C -> 2(M-1)C``, hidden width ``C`` (de Vries et al.
use one hidden layer); ``W_2, b_2`` start at zero; the RGB branch is not modulated and the
gradient flows into ``e`` (nothing detached). No ℓ1, no threshold, no exchange.

Shared vs unshared convolutions (the paper's two numbers): ``cbn_shared`` runs in CEN's network
(shared convolutions, private BNs); ``cbn_unshared`` gives each modality its own convolutions
(``model.backbone.conv_sharing='private'``, :class:`~fusionbench.modal.ModalityConv`), both
starting from the same pretrained weights.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.ablations.common import ABLATIONS, SOURCE, check_multimodal
from fusionbench.fusion.base import CardRow, FusionCard, FusionModule, FusionOutput, FusionPoint
from fusionbench.modal import split_modalities

#: The override that unshares the encoder's convolutions (one copy per modality).
UNSHARED_CONVS = {'model.backbone.conv_sharing': 'private'}


@registry.FUSIONS.register_module(name='cbn')
class ConditionalBN(FusionModule):
    """Modulate every modality's norm output but the first's by the first's pooled features
    (module docstring).

    Args:
        point: a block fusion point with ``M >= 2`` and private norms.
        hidden: the predictor's hidden width (default ``C``).

    Raises ``ValueError`` for fewer than 2 modalities or shared norms.

    Shapes: ``x`` ``[M*N, C, H, W]`` -> ``[M*N, C, H, W]``; the ``norm`` argument is ignored.
    """

    card = FusionCard(
        name='cbn',
        summary="conditional BN (de Vries et al. 2017): depth's BN output scaled and shifted "
                'per channel by an MLP of the RGB features (pooled) at every 3×3 conv',
        paper=f'de Vries et al., NeurIPS 2017 [45]; {SOURCE}', position='block', stages=('all',),
        label='Conditional BN', tables=(ABLATIONS,),
        rows={ABLATIONS: (
            CardRow('cbn_unshared', 'CBN (depth BN conditioned on RGB), unshared convs',
                    {'stages': (1, 2, 3, 4)}, dict(UNSHARED_CONVS), paper_row='cbn_unshared'),
            CardRow('cbn_shared', 'CBN (depth BN conditioned on RGB), shared convs',
                    {'stages': (1, 2, 3, 4)}, paper_row='cbn_shared'))})

    def __init__(self, point: FusionPoint, hidden: int | None = None):
        super().__init__(point)
        check_multimodal('cbn', point)
        c, m = point.channels, point.num_modalities
        hidden = int(hidden or c)
        self.predictor = nn.Sequential(nn.Linear(c, hidden), nn.ReLU(inplace=True),
                                       nn.Linear(hidden, 2 * (m - 1) * c))
        nn.init.zeros_(self.predictor[-1].weight)  # start as the unconditioned BN
        nn.init.zeros_(self.predictor[-1].bias)

    def modulation(self, condition: Tensor) -> tuple[Tensor, Tensor]:
        """``[N, C, H, W]`` condition -> ``(δγ, δβ)``, each ``[M-1, N, C]``."""
        m, c = self.num_modalities, self.point.channels
        out = self.predictor(condition.mean(dim=(2, 3)))  # [N, 2(M-1)C]
        out = out.view(out.shape[0], 2, m - 1, c).permute(1, 2, 0, 3)
        return out[0], out[1]

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        y = split_modalities(x, self.num_modalities)  # [M, N, C, H, W]
        dgamma, dbeta = self.modulation(y[0])
        others = (1 + dgamma)[..., None, None] * y[1:] + dbeta[..., None, None]
        return torch.cat([y[:1], others.to(y.dtype)], dim=0).reshape(x.shape), {}
