"""Alignment fusion by MMD (the paper's "Align" rows of Table 2; Wang et al., ECCV 2016 [46]).

Design: alignment-based fusion keeps every modality's sub-network and only adds a loss that
pulls the modalities' embeddings together (the paper's Eq. 2); features pass through unchanged.
At a fusion point the features are average-pooled to a ``p×p`` grid (``pool_size``, regions of
the image), mapped by ONE projection head shared by the modalities into a common space::

    e = conv1×1_{C→C}(ReLU(conv3×3_{C→C}(avgpool_p(x))))          (biases in both)

and the squared Maximum Mean Discrepancy between every pair of modalities' embedding sets is
estimated with the standard multi-bandwidth Gaussian kernel (Gretton et al. 2012; the
multi-kernel form of Long et al.'s DAN)::

    k(a, b)   = Σ_j exp(-‖a - b‖² / (β · μ^j)),  j = -⌊J/2⌋ … J - 1 - ⌊J/2⌋
    MMD²(X, Y) = mean k(X, X) + mean k(Y, Y) - 2 mean k(X, Y)        (biased V-statistic)

with β the mean squared distance over all distinct pairs of the pooled samples (detached), μ =
``kernel_mul`` = 2 and J = ``kernel_num`` = 5. The loss term is ``loss_mmd = loss_weight ·
mean_{m<m'} MMD²(e_m, e_m')``. All pairs come from one kernel matrix over the ``M·S`` samples
(``S = N·p·p``), reduced to ``[M, M]`` block means: no loop over modalities or channels.

Projection head size is INFERRED from the paper's counts: its fusion parameters are 2.6 / 10.5 /
41.9 / 55.7 M after stage 2 / 3 / 4 / all, i.e. 10·C² per point (C = 512 … 2048; 10·Σ C² over
the four stages = 55.71 M): a 3×3 plus a 1×1 ``C → C`` convolution, one head for both
modalities in both settings (the commonly-used totals, 2 × 118.10 + 10·C², say the same).

Where it sits: position ``'stage'``, after ResNet stages (early = 2, middle = 3, late = 4,
all = 1-4); ``keeps_streams`` is always True. In the commonly-used setting the model is two
complete networks (encoder + decoder each) plus this loss; in the same setting the streams share
convolutions. Fusion parameters: the projection head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.base import (STAGE_SETS, FusionCard, FusionModule, FusionOutput,
                                     FusionPoint)
from fusionbench.modal import split_modalities

EPS = 1e-8


def squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``[P, D]``, ``[Q, D]`` -> ``[P, Q]`` squared Euclidean distances (clamped at 0)."""
    return (a.pow(2).sum(-1)[:, None] + b.pow(2).sum(-1)[None, :] - 2 * a @ b.T).clamp_min(0)


def kernel_denominators(d2: Tensor, kernel_mul: float = 2.0, kernel_num: int = 5) -> Tensor:
    """``β · μ^j`` for the ``J`` kernels; β = mean of ``d2`` off the diagonal (detached)."""
    n = d2.shape[0]
    base = d2.detach().sum() / max(n * n - n, 1)
    powers = torch.arange(kernel_num, device=d2.device, dtype=d2.dtype) - kernel_num // 2
    return (base + EPS) * kernel_mul ** powers


def gaussian_kernel(d2: Tensor, denominators: Tensor) -> Tensor:
    """``Σ_j exp(-d2 / denominators[j])`` elementwise (``[P, Q]`` -> ``[P, Q]``)."""
    return torch.exp(-d2.unsqueeze(-1) / denominators).sum(-1)


class _DoublingKernelSum(torch.autograd.Function):
    """``Σ_j exp(-d2 / D_j)`` for ``D_j = D_max / 2^j``, ``j = 0 … J-1``, without a ``[P, Q, J]``.

    The widest kernel is one ``exp``; each narrower one is the square of the previous
    (``exp(-d2/(D/2)) = exp(-d2/D)²``). The backward needs only ``c = Σ_j k_j / D_j``
    (``∂/∂d2 Σ_j k_j = -c``), accumulated in the same pass: one ``[P, Q]`` tensor is saved
    instead of ``J``. Our choice, for speed (the values equal :func:`gaussian_kernel`'s to
    float rounding; tested within 1e-5 relative).
    """

    @staticmethod
    def forward(ctx, d2: Tensor, widest: Tensor, kernel_num: int) -> Tensor:
        scale = 1.0 / widest  # 1 / D_max, a 0-d tensor (no host sync)
        k = torch.exp(-d2 * scale)
        total = k.clone()
        coefficient = k * scale
        for _ in range(kernel_num - 1):
            k = k * k
            scale = scale * 2
            total += k
            coefficient.addcmul_(k, scale)
        ctx.save_for_backward(coefficient)
        return total

    @staticmethod
    def backward(ctx, grad: Tensor):
        (coefficient,) = ctx.saved_tensors
        return -grad * coefficient, None, None


def doubling_kernel_sum(d2: Tensor, widest: Tensor, kernel_num: int) -> Tensor:
    """``Σ_{j<J} exp(-d2 · 2^j / widest)``: the multi-bandwidth kernel for ``kernel_mul = 2``.

    ``d2`` ``[P, Q]`` (differentiable), ``widest`` the largest denominator (0-d, no gradient)
    -> ``[P, Q]``. Equals :func:`gaussian_kernel` with denominators ``widest / 2^j``.
    """
    return _DoublingKernelSum.apply(d2, widest.detach().to(d2), int(kernel_num))


def pairwise_mmd2(samples: Tensor, denominators: Tensor | None = None, kernel_mul: float = 2.0,
                  kernel_num: int = 5) -> Tensor:
    """Biased MMD² between every pair of sample sets: ``[M, S, D]`` -> ``[M, M]`` (zero diagonal).

    ``denominators``: the kernels' ``2σ²`` values; default: the multi-bandwidth set of
    :func:`kernel_denominators` computed on all ``M·S`` samples. With the default set and
    ``kernel_mul = 2`` (the DAN default) the kernel is one ``exp`` and repeated squaring
    (:func:`doubling_kernel_sum`); otherwise the ``[P, P, J]`` form of :func:`gaussian_kernel`.
    """
    m, s, d = samples.shape
    flat = samples.reshape(m * s, d)
    d2 = squared_distances(flat, flat)
    if denominators is None and kernel_mul == 2.0 and kernel_num >= 1:
        widest = kernel_denominators(d2, kernel_mul, kernel_num)[-1]
        kernel = doubling_kernel_sum(d2, widest, kernel_num)
    else:
        if denominators is None:
            denominators = kernel_denominators(d2, kernel_mul, kernel_num)
        kernel = gaussian_kernel(d2, denominators.to(d2))
    blocks = kernel.view(m, s, m, s).mean(dim=(1, 3))
    within = blocks.diagonal()
    return within[:, None] + within[None, :] - 2 * blocks


def mmd2(x: Tensor, y: Tensor, denominators: Tensor | None = None, kernel_mul: float = 2.0,
         kernel_num: int = 5) -> Tensor:
    """Biased MMD² between two equally sized sample sets ``[S, D]`` (see :func:`pairwise_mmd2`)."""
    return pairwise_mmd2(torch.stack([x, y]), denominators, kernel_mul, kernel_num)[0, 1]


@registry.FUSIONS.register_module(name='align_mmd')
class AlignMMD(FusionModule):
    """MMD alignment loss on a shared projection of every modality (see module docstring).

    Args:
        point: the stage fusion point (``C``, ``M``).
        loss_weight: weight of ``loss_mmd`` (the paper does not state it; 1.0 as DAN).
        pool_size: the ``p×p`` grid the features are pooled to (at most the feature size).
        kernel_mul, kernel_num: μ and J of the multi-bandwidth kernel.

    Shapes: ``[M*N, C, H, W]`` -> the same tensor, ``{'loss_mmd': scalar}``; embeddings
    ``[M, N·p·p, C]``.
    """

    card = FusionCard(
        name='align_mmd',
        summary='keep every stream; multi-kernel MMD between projected modality features as a loss',
        paper='Wang et al., ECCV 2016 [46]; Table 2 of Wang et al., NeurIPS 2020',
        position='stage', settings=('common', 'same'),
        label='Align (MMD)', stages=tuple(STAGE_SETS), tables=('table2', 'table4'),
        paper_rows={'table2': 'align', 'table4': 'align'}, inferred_design=True)
    keeps_streams = True

    def __init__(self, point: FusionPoint, loss_weight: float = 1.0, pool_size: int = 8,
                 kernel_mul: float = 2.0, kernel_num: int = 5):
        super().__init__(point)
        c = point.channels
        self.loss_weight = float(loss_weight)
        self.pool_size = int(pool_size)
        self.kernel_mul = float(kernel_mul)
        self.kernel_num = int(kernel_num)
        self.project = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=True),
                                     nn.ReLU(inplace=True), nn.Conv2d(c, c, 1, bias=True))

    def embeddings(self, x: Tensor) -> Tensor:
        """``[M*N, C, H, W]`` -> ``[M, N·p·p, C]`` projected region embeddings."""
        size = (min(self.pool_size, x.shape[-2]), min(self.pool_size, x.shape[-1]))
        e = self.project(F.adaptive_avg_pool2d(x, size))
        e = split_modalities(e, self.num_modalities)  # [M, N, C, p, p]
        m, n, c = e.shape[:3]
        return e.permute(0, 1, 3, 4, 2).reshape(m, -1, c)

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        m = self.num_modalities
        if m < 2:
            return x, {'loss_mmd': x.new_zeros(())}
        pairs = pairwise_mmd2(self.embeddings(x).float(), kernel_mul=self.kernel_mul,
                              kernel_num=self.kernel_num)
        upper = torch.triu(torch.ones(m, m, device=x.device), diagonal=1)  # pairs m < m'
        loss = (pairs * upper).sum() / (m * (m - 1) // 2)  # no boolean indexing: no host sync
        return x, {'loss_mmd': self.loss_weight * loss}

    def extra_repr(self) -> str:
        return (f'loss_weight={self.loss_weight}, pool={self.pool_size}, '
                f'μ={self.kernel_mul}, J={self.kernel_num}')
