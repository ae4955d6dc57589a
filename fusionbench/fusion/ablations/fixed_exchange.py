"""Exchanging a fixed portion of channels, without ℓ1 and threshold (§4.1, ablation 1).

The paper: "naively exchanging channels with a fixed portion (without using ℓ_1 and threshold)
could not reach good performance. For example, exchanging a fixed portion of 30% channels only
gets IoU 47.2. We also find by only exchanging 30% channels at each down-sampling stage of the
encoder, instead of every 3×3 convolutional layer throughout the encoder (like our CEN), the
result becomes 48.6" (Wang et al., NeurIPS 2020, §4.1).

Definition (shapes ``[M*N, C, H, W]`` in and out, ``y`` the norm's output viewed ``[M, N, C, H,
W]``)::

    y'_{m,c} = 1/(M-1) Σ_{m'≠m} y_{m',c}    if c ∈ F_m
             = y_{m,c}                       otherwise

- **Which channels** ``F_m``: the first ``k = round(portion · C)`` channels of sub-part ``m``
  (CEN's directed sub-parts: channel ``c`` is in sub-part ``c·M // C``), so every modality has
  30 % of its channels replaced and a replaced channel always comes from channels that are
  kept. Which 30 % the paper does not say; ours keep CEN's directed layout so the variant
  differs from CEN only in how the channels are chosen (our choice).
- **When chosen, how often re-drawn**: once, when the module is built; never re-drawn (a
  *fixed* portion). No ℓ1 term, no threshold, no γ read.
- **Where**: like CEN, after the norm of every 3×3 convolution of every block of stages 1-4
  (row ``fixed30``); or only at each down-sampling stage (row ``fixed30_downsampling``): once
  per stage, after the norm of the first 3×3 convolution of the stage's first block -- the
  strided convolution in stages 2-4; in stage 1, the first after the stem's down-sampling
  (placement keys ``blocks=(0,)``, ``after_norms='first'``; our reading of "at each
  down-sampling stage of the encoder").
- Gradients: a replaced channel passes no gradient to its own position; it flows to the
  channels it came from (as CEN's replacement, Eq. 6's "gradients are detached from the
  replaced channel").
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.ablations.common import (ABLATIONS, SOURCE, check_multimodal,
                                                 portion_mask)
from fusionbench.fusion.base import CardRow, FusionCard, FusionModule, FusionOutput, FusionPoint
from fusionbench.fusion.cen import mean_of_others, others_mean_matrix
from fusionbench.modal import split_modalities

#: Every stage, as CEN (Table 1's configs fuse in stages 1-4).
ALL_STAGES = (1, 2, 3, 4)
#: Once per stage: the first 3×3 convolution of the stage's first block.
DOWNSAMPLING = {'blocks': (0,), 'after_norms': 'first'}


@registry.FUSIONS.register_module(name='fixed_exchange')
class FixedExchange(FusionModule):
    """Replace a fixed ``portion`` of each modality's channels by the others' mean (module
    docstring).

    Args:
        point: a block fusion point with ``M >= 2``.
        portion: the share of each modality's channels replaced (paper: 0.3); at most ``1/M``.

    Raises ``ValueError`` for fewer than 2 modalities or a portion that does not fit a
    sub-part.

    Shapes: ``x`` ``[M*N, C, H, W]`` -> ``[M*N, C, H, W]``; the ``norm`` argument is ignored.
    """

    card = FusionCard(
        name='fixed_exchange',
        summary='exchange a fixed portion of each modality\'s channels (first 30 % of its '
                'sub-part) at every 3×3 conv; no ℓ1, no threshold',
        paper=SOURCE, position='block', stages=('all',), parameter_free=True,
        label='Fixed 30 % exchange',
        extra={'portion': 0.3}, tables=(ABLATIONS,),
        rows={ABLATIONS: (
            CardRow('fixed30', 'fixed 30 % of channels exchanged after every 3×3 conv '
                    '(no ℓ1, no threshold)', {'portion': 0.3, 'stages': ALL_STAGES},
                    paper_row='fixed30'),
            CardRow('fixed30_downsampling', 'fixed 30 % exchanged only at each down-sampling '
                    'stage', {'portion': 0.3, 'stages': ALL_STAGES, **DOWNSAMPLING},
                    paper_row='fixed30_downsampling'))})

    def __init__(self, point: FusionPoint, portion: float = 0.3):
        super().__init__(point)
        check_multimodal('fixed_exchange', point, private=False)
        self.portion = float(portion)
        m, c = point.num_modalities, point.channels
        self.register_buffer('replaced', portion_mask(m, c, self.portion), persistent=False)
        self.register_buffer('others_mean', others_mean_matrix(m), persistent=False)

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        y = split_modalities(x, self.num_modalities)  # [M, N, C, H, W]
        mixed = mean_of_others(y, self.others_mean)
        replace = self.replaced[:, None, :, None, None]
        return torch.where(replace, mixed, y).reshape(x.shape), {}

    def extra_repr(self) -> str:
        return f'portion={self.portion}, replaced per modality={int(self.replaced[0].sum())}'
