"""Random channel exchange, "like ShuffleNet" (§4.1, ablation 5, first half).

The paper: "we try to exchange channels randomly like ShuffleNet or directly discard unimportant
channels without channel exchanging, the IoUs of which are 46.8 and 47.5, respectively"
(Wang et al., NeurIPS 2020, §4.1).

Definition (shapes ``[M*N, C, H, W]`` in and out, ``y`` the norm's output viewed ``[M, N, C, H,
W]``)::

    y'_{m,c} = 1/(M-1) Σ_{m'≠m} y_{m',c}    if c ∈ R_m
             = y_{m,c}                       otherwise

- **Which channels** ``R_m``: ``k = round(portion · C)`` channels of sub-part ``m`` (CEN's
  directed sub-parts), drawn uniformly without replacement, independently per modality and
  per fusion point; the same draw for every sample of the batch and every pixel. The paper
  gives neither the share nor the layout; ours are those of the fixed-portion ablation
  (30 %, directed sub-parts), so the two rows differ only in the re-drawing (our choice).
  ShuffleNet's channel shuffle moves a fixed share of channels between groups; "randomly"
  makes the moved channels random.
- **When chosen, how often re-drawn**: in training, re-drawn at every forward pass (every
  iteration) from torch's global generator, which the run's seed fixes (reproducible). In
  evaluation, one fixed draw per fusion point made when the module is built, from a generator
  seeded by the point's name (CRC-32), so evaluation is deterministic and the same for every
  run (our choice: a random test-time draw would make the metric itself noisy).
- No ℓ1 term, no threshold, no γ read. Gradients as CEN's replacement (none to a replaced
  channel's own position).
"""
from __future__ import annotations

import zlib

import torch
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.ablations.common import (ABLATIONS, SOURCE, check_multimodal,
                                                 portion_mask, random_portion_mask)
from fusionbench.fusion.base import CardRow, FusionCard, FusionModule, FusionOutput, FusionPoint
from fusionbench.fusion.cen import mean_of_others, others_mean_matrix, subpart_mask
from fusionbench.modal import split_modalities


@registry.FUSIONS.register_module(name='random_exchange')
class RandomExchange(FusionModule):
    """Replace ``portion`` of each modality's channels, re-drawn every training step, by the
    others' mean (module docstring).

    Args:
        point: a block fusion point with ``M >= 2``.
        portion: the share of each modality's channels replaced; at most ``1/M``.

    Raises ``ValueError`` for fewer than 2 modalities or a portion that does not fit a
    sub-part.

    Shapes: ``x`` ``[M*N, C, H, W]`` -> ``[M*N, C, H, W]``; the ``norm`` argument is ignored.
    """

    card = FusionCard(
        name='random_exchange',
        summary='exchange a random 30 % of each modality\'s sub-part, re-drawn every training '
                'step (fixed draw at test time); no ℓ1, no threshold',
        paper=SOURCE, position='block', stages=('all',), parameter_free=True,
        label='Random exchange (ShuffleNet-like)', extra={'portion': 0.3}, tables=(ABLATIONS,),
        rows={ABLATIONS: (
            CardRow('random_exchange', 'random channel exchange (ShuffleNet-like), 30 % '
                    're-drawn every step', {'portion': 0.3, 'stages': (1, 2, 3, 4)},
                    paper_row='random_exchange'),)})

    def __init__(self, point: FusionPoint, portion: float = 0.3):
        super().__init__(point)
        check_multimodal('random_exchange', point, private=False)
        m, c = point.num_modalities, point.channels
        self.portion = float(portion)
        self.k = int(portion_mask(m, c, self.portion)[0].sum())  # validates the portion
        own = subpart_mask(m, c)
        generator = torch.Generator().manual_seed(zlib.crc32(point.name.encode()))
        self.register_buffer('own', own, persistent=False)
        self.register_buffer('eval_replaced', random_portion_mask(own, self.k, generator),
                             persistent=False)
        self.register_buffer('others_mean', others_mean_matrix(m), persistent=False)

    def replace_mask(self) -> Tensor:
        """``[M, C]`` bool: a fresh draw in training, the fixed draw in evaluation."""
        return random_portion_mask(self.own, self.k) if self.training else self.eval_replaced

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        y = split_modalities(x, self.num_modalities)  # [M, N, C, H, W]
        mixed = mean_of_others(y, self.others_mean)
        replace = self.replace_mask()[:, None, :, None, None]
        return torch.where(replace, mixed, y).reshape(x.shape), {}

    def extra_repr(self) -> str:
        return f'portion={self.portion}, channels replaced per modality={self.k}'
