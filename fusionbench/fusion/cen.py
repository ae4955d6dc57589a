"""Channel exchanging (CEN, Wang et al., NeurIPS 2020, Eq. 6) for any M >= 2 modalities.

Sits after the private norm of a residual block's 3×3 convolution. For modality ``m`` and
channel ``c`` with ``|γ_{m,c}| < θ`` (γ of that norm), the channel is replaced by the mean of
the other modalities' norm outputs for channel ``c``::

    y'_{m,c} = y_{m,c}                                   if |γ_{m,c}| >= θ or c not exchangeable
             = 1/(M-1) Σ_{m'≠m} y_{m',c}                 otherwise

Which channels may be replaced (``exchange``):

- ``'directed'`` (the paper's default): the channels are split into M equal sub-parts and
  modality ``m`` may only have channels of sub-part ``m`` replaced;
- ``'all'``: every channel may be replaced (Table 1's last row; the public code's exchange,
  combined there with the half-channel ℓ1);
- ``'none'``: nothing moves (Table 1's "ℓ1 without exchange" row).

The ℓ1 sparsity term ``λ Σ |γ̂|`` (Eq. 4) covers the γ's of sub-part ``m`` of modality ``m``
(``l1='half'``, the paper's "half-channel" for M = 2), every γ of the norm (``'all'``), or none
(``'none'``); it is returned as the loss term ``loss_l1``. ``l1_repeats`` counts how often
the term enters the loss: once (the paper's Eq. 4), or ``'heads'`` -- ``M + 1`` times, once per
output head (M modality heads and the ensemble): the public code adds ``λ·ℓ1`` inside its loop
over the outputs (``fidelity='official'``, :mod:`fusionbench.fidelity`).

The public code penalises each modality's own half of the γ's (``l1='half'``) and exchanges
over all channels (``exchange='all'``) at the same time; that is ``exchange='all', l1='half'``
here, not Table 1's "all" row (``exchange='all', l1='all'``).

Implementation: masks ``[M, C]`` and ``torch.where`` on the ``[M, N, C, H, W]`` view; the mean of
the others is one ``[M, M] @ [M, N*C*H*W]`` product with a zero diagonal (:func:`mean_of_others`;
for ``M = 2`` the same values as a swap of the two modalities, ``flip(0)``), so a replaced channel
gets no gradient from its own position and its gradient flows to the modalities it came from.
No boolean indexing, no host synchronisation, no loop over channels or modalities.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.base import FusionCard, FusionModule, FusionOutput, FusionPoint
from fusionbench.modal import ModalityNorm, split_modalities

EXCHANGE_MODES = ('directed', 'all', 'none')
L1_MODES = ('half', 'all', 'none')


def subpart_mask(num_modalities: int, channels: int) -> Tensor:
    """``[M, C]`` bool: channel ``c`` belongs to sub-part ``m`` (``c * M // C == m``)."""
    owner = torch.arange(channels) * num_modalities // channels
    return owner.unsqueeze(0) == torch.arange(num_modalities).unsqueeze(1)


def others_mean_matrix(num_modalities: int) -> Tensor:
    """``[M, M]``: row ``m`` averages every modality except ``m`` (zero diagonal)."""
    m = num_modalities
    return (torch.ones(m, m) - torch.eye(m)) / (m - 1)


def mean_of_others(y: Tensor, matrix: Tensor) -> Tensor:
    """``[M, N, ...]`` -> ``[M, N, ...]``: row ``m`` is the mean of the other modalities' rows.

    ``matrix`` is :func:`others_mean_matrix` ``[M, M]``. For ``M = 2`` the result is the other
    modality itself, taken by ``flip(0)`` instead of the product: the same values (the product
    adds ``0 · y_m`` to ``1 · y_{1-m}``: exact for finite values) and the same gradients,
    without the ``[M, N*C*H*W]`` reshape, which copies a channels-last stack; our choice, for
    speed. For ``M > 2``: ``matrix @ y.reshape(M, -1)``.
    """
    if y.shape[0] == 2:
        return y.flip(0)
    return (matrix.to(y.dtype) @ y.reshape(y.shape[0], -1)).view_as(y)


@registry.FUSIONS.register_module(name='cen')
class ChannelExchange(FusionModule):
    """Channel exchanging at one block (see module docstring).

    Args:
        point: the fusion point (``position='block'``, private norms, ``M >= 2``).
        threshold: θ (paper: 2e-2 segmentation, 1e-2 translation).
        exchange: ``'directed'`` | ``'all'`` | ``'none'``.
        l1: ``'half'`` | ``'all'`` | ``'none'`` -- which γ's the sparsity term covers.
        l1_weight: λ (paper: 5e-3 segmentation, 1e-3 translation; public code: 2e-4), or a
            dict ``{point name: λ}`` with a λ per exchange layer (a protocol's calibration
            after Theorem 1: :mod:`fusionbench.fusion.calibration`); a point the dict does not
            name raises ``KeyError``.
        l1_repeats: a positive int, or ``'heads'`` (``M + 1``): how many times ``λ Σ |γ̂|`` is
            added to the loss (paper: once; public code: once per output head).

    Raises ValueError for an unknown mode, fewer than 2 modalities, shared norms, or a bad
    ``l1_repeats``.

    Shapes: ``x`` ``[M*N, C, H, W]`` -> ``[M*N, C, H, W]``; ``norm.weight`` ``[M, C]``.
    """

    card = FusionCard(
        name='cen', summary='exchange channels whose private BN γ < θ for the mean of the other '
        'modalities; ℓ1 on the exchangeable γ', paper='Wang et al., NeurIPS 2020 (Eq. 6)',
        position='block', settings=('same',), parameter_free=True)

    def __init__(self, point: FusionPoint, threshold: float = 2e-2, exchange: str = 'directed',
                 l1: str = 'half', l1_weight: float | dict = 5e-3,
                 l1_repeats: int | str = 1):
        super().__init__(point)
        m, c = point.num_modalities, point.channels
        if m < 2:
            raise ValueError(f'cen exchanges channels between modalities and needs at least 2, '
                             f'got {m} at {point.name}')
        if point.norm_sharing != 'private':
            raise ValueError(f"cen reads each modality's own γ and needs private norms, got "
                             f"norm_sharing={point.norm_sharing!r} at {point.name}")
        if exchange not in EXCHANGE_MODES:
            raise ValueError(f'cen exchange must be one of {EXCHANGE_MODES}, got {exchange!r}')
        if l1 not in L1_MODES:
            raise ValueError(f'cen l1 must be one of {L1_MODES}, got {l1!r}')
        if l1_repeats == 'heads':
            l1_repeats = m + 1
        if isinstance(l1_repeats, bool) or not isinstance(l1_repeats, int) or l1_repeats < 1:
            raise ValueError(f"cen l1_repeats must be a positive int or 'heads', got "
                             f'{l1_repeats!r}')
        self.l1_repeats = l1_repeats
        self.threshold = float(threshold)
        self.exchange = exchange
        self.l1 = l1
        if isinstance(l1_weight, dict):
            if point.name not in l1_weight:
                raise KeyError(f'cen l1_weight per layer names no λ for {point.name} (it names '
                               f'{sorted(l1_weight)})')
            l1_weight = l1_weight[point.name]
        self.l1_weight = float(l1_weight)
        own = subpart_mask(m, c)
        exchangeable = {'directed': own, 'all': torch.ones(m, c, dtype=torch.bool),
                        'none': torch.zeros(m, c, dtype=torch.bool)}[exchange]
        penalised = {'half': own, 'all': torch.ones(m, c, dtype=torch.bool),
                     'none': torch.zeros(m, c, dtype=torch.bool)}[l1]
        self.register_buffer('exchangeable', exchangeable, persistent=False)
        self.register_buffer('penalised', penalised, persistent=False)
        self.register_buffer('others_mean', others_mean_matrix(m), persistent=False)

    def replace_mask(self, gamma: Tensor) -> Tensor:
        """``[M, C]`` bool: the channels replaced for γ ``[M, C]`` (no gradient)."""
        return self.exchangeable & (gamma.detach().abs() < self.threshold)

    def sparsity(self, gamma: Tensor) -> Tensor:
        """``repeats · λ Σ |γ̂|`` over the penalised γ's (scalar; differentiable in γ)."""
        return (self.l1_repeats * self.l1_weight) * (gamma.abs() * self.penalised).sum()

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        if not isinstance(norm, ModalityNorm):
            raise TypeError(f'cen at {self.point.name} needs the private ModalityNorm just '
                            f'applied, got {type(norm).__name__}')
        gamma = norm.weight
        losses = {'loss_l1': self.sparsity(gamma)} if self.l1 != 'none' else {}
        if self.exchange == 'none':
            return x, losses
        m = self.num_modalities
        y = split_modalities(x, m)  # [M, N, C, H, W]
        mixed = mean_of_others(y, self.others_mean)
        replace = self.replace_mask(gamma)[:, None, :, None, None]
        return torch.where(replace, mixed, y).reshape(x.shape), losses

    def extra_repr(self) -> str:
        return (f'θ={self.threshold}, exchange={self.exchange!r}, l1={self.l1!r}, '
                f'λ={self.l1_weight}' + (f', ×{self.l1_repeats}' if self.l1_repeats > 1 else ''))
