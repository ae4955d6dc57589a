"""What the §4.1 ablation variants share with CEN: its channel rule, and fixed channel subsets.

- :class:`GammaRuleFusion`: CEN's choice of the *unimportant* channels -- channel ``c`` of
  modality ``m`` lies in sub-part ``m`` (the directed exchange of §3.3) and ``|γ_{m,c}| < θ``
  (γ of the private norm just applied) -- with CEN's ℓ1 term on the sub-part's γ's (Eq. 4,
  ``λ`` a number or ``{point name: λ}``, as :class:`~fusionbench.fusion.cen.ChannelExchange`).
  A variant subclasses it and changes only what happens to those channels (summed with, rather
  than replaced by, the others' mean; discarded).
- :func:`portion_mask`: a fixed share of each modality's sub-part (the "fixed portion" variants).

The variants are separate classes (not CEN modes) so that CEN's γ-dynamics recording
(:func:`fusionbench.fusion.gamma_dynamics.exchange_layers`, which picks CEN modules) and CEN's
rows stay exactly as they are.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionbench.fusion.base import FusionModule, FusionPoint
from fusionbench.fusion.cen import L1_MODES, others_mean_matrix, subpart_mask
from fusionbench.modal import ModalityNorm

#: The variants' tables (their cards opt in to this one only).
ABLATIONS = 'ablations'
#: The paper's §4.1 sentences, quoted in the variants' docstrings and cards.
SOURCE = 'Wang et al., NeurIPS 2020, §4.1 "Additional ablation studies"'


def check_multimodal(name: str, point: FusionPoint, private: bool = True) -> None:
    """Raise ``ValueError`` naming the method unless ``M >= 2`` (and, with ``private``, the
    point's norms are private: the variant reads each modality's own γ)."""
    if point.num_modalities < 2:
        raise ValueError(f'{name} fuses modalities and needs at least 2, got '
                         f'{point.num_modalities} at {point.name}')
    if private and point.norm_sharing != 'private':
        raise ValueError(f"{name} reads each modality's own γ and needs private norms, got "
                         f'norm_sharing={point.norm_sharing!r} at {point.name}')


def portion_mask(num_modalities: int, channels: int, portion: float) -> Tensor:
    """``[M, C]`` bool: the first ``k = round(portion · C)`` channels of sub-part ``m`` for
    modality ``m`` (sub-parts as CEN's :func:`~fusionbench.fusion.cen.subpart_mask`).

    Each modality thus has ``k`` of its ``C`` channels marked, and no channel is marked for two
    modalities (a marked channel is replaced by channels that are not). Raises ``ValueError``
    when ``portion`` is not in (0, 1] or ``k`` exceeds the smallest sub-part (``portion`` must
    not exceed ``1/M``), or when ``k`` rounds to 0.
    """
    if not 0 < portion <= 1:
        raise ValueError(f'portion must lie in (0, 1], got {portion}')
    own = subpart_mask(num_modalities, channels)
    k = int(round(portion * channels))
    smallest = int(own.sum(1).min())
    if k < 1 or k > smallest:
        raise ValueError(f'portion {portion} of {channels} channels is {k} channels; it must be '
                         f'between 1 and the sub-part size {smallest} (portion <= 1/M = '
                         f'{1 / num_modalities:.3g})')
    rank = own.cumsum(1)  # 1..size inside the sub-part, in channel order
    return own & (rank <= k)


def random_portion_mask(own: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """``[M, C]`` bool: ``k`` channels of sub-part ``m`` for modality ``m``, drawn uniformly
    without replacement (independently per modality) from ``generator`` (None: the global RNG).

    ``own``: :func:`~fusionbench.fusion.cen.subpart_mask` ``[M, C]`` (on the device to draw on).
    """
    scores = torch.rand(own.shape, generator=generator, device=own.device)
    scores = scores.masked_fill(~own, 2.0)  # outside the sub-part: never among the k smallest
    chosen = scores.argsort(dim=1)[:, :k]
    return torch.zeros_like(own).scatter_(1, chosen, True)


class GammaRuleFusion(FusionModule):
    """CEN's unimportant channels and ℓ1 term, for variants that treat them differently.

    Args:
        point: a block fusion point (private norms, ``M >= 2``).
        threshold: θ (paper: 2e-2).
        l1: ``'half'`` (the paper's: the γ's of sub-part ``m`` of modality ``m``), ``'all'`` or
            ``'none'``.
        l1_weight: λ, or ``{point name: λ}`` (a protocol's per-layer calibration; a point the
            dict does not name raises ``KeyError``).
        l1_repeats: a positive int, or ``'heads'`` (``M + 1``): how many times the ℓ1 term
            enters the loss, as CEN's (the public code's fidelity mode sets ``'heads'``).

    Raises ``ValueError`` for fewer than 2 modalities, shared norms, an unknown ``l1`` or a bad
    ``l1_repeats``.
    """

    def __init__(self, point: FusionPoint, threshold: float = 2e-2, l1: str = 'half',
                 l1_weight: float | dict = 5e-3, l1_repeats: int | str = 1):
        super().__init__(point)
        name = self.card.name
        check_multimodal(name, point)
        if l1 not in L1_MODES:
            raise ValueError(f'{name} l1 must be one of {L1_MODES}, got {l1!r}')
        if l1_repeats == 'heads':
            l1_repeats = point.num_modalities + 1
        if isinstance(l1_repeats, bool) or not isinstance(l1_repeats, int) or l1_repeats < 1:
            raise ValueError(f"{name} l1_repeats must be a positive int or 'heads', got "
                             f'{l1_repeats!r}')
        self.l1_repeats = l1_repeats
        if isinstance(l1_weight, dict):
            if point.name not in l1_weight:
                raise KeyError(f'{name} l1_weight per layer names no λ for {point.name} (it '
                               f'names {sorted(l1_weight)})')
            l1_weight = l1_weight[point.name]
        self.threshold = float(threshold)
        self.l1 = l1
        self.l1_weight = float(l1_weight)
        m, c = point.num_modalities, point.channels
        own = subpart_mask(m, c)
        penalised = {'half': own, 'all': torch.ones(m, c, dtype=torch.bool),
                     'none': torch.zeros(m, c, dtype=torch.bool)}[l1]
        self.register_buffer('exchangeable', own, persistent=False)
        self.register_buffer('penalised', penalised, persistent=False)
        self.register_buffer('others_mean', others_mean_matrix(m), persistent=False)

    def unimportant(self, gamma: Tensor) -> Tensor:
        """``[M, C]`` bool: sub-part ``m`` of modality ``m`` with ``|γ| < θ`` (no gradient) --
        the channels CEN would replace."""
        return self.exchangeable & (gamma.detach().abs() < self.threshold)

    def gamma_and_losses(self, norm: nn.Module | None) -> tuple[Tensor, dict[str, Tensor]]:
        """The norm's γ ``[M, C]`` and the loss dict (``loss_l1`` unless ``l1='none'``).

        Raises ``TypeError`` when ``norm`` is not the private norm just applied."""
        if not isinstance(norm, ModalityNorm):
            raise TypeError(f'{self.card.name} at {self.point.name} needs the private '
                            f'ModalityNorm just applied, got {type(norm).__name__}')
        gamma = norm.weight
        if self.l1 == 'none':
            return gamma, {}
        weight = self.l1_repeats * self.l1_weight
        return gamma, {'loss_l1': weight * (gamma.abs() * self.penalised).sum()}

    def extra_repr(self) -> str:
        return f'θ={self.threshold}, l1={self.l1!r}, λ={self.l1_weight}'
