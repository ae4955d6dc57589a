"""Modalities stacked in the batch, and the norms that keep them apart.

A multimodal batch is ONE tensor ``[M*N, C, H, W]``, modality-major: rows ``m*N … (m+1)*N - 1``
hold modality ``m``. Every shared convolution therefore runs once for all modalities. What keeps
the modalities apart are their private norms: :class:`ModalityNorm` holds ``M`` sets of affine
parameters and running statistics as ``[M, C]`` tensors and normalises each modality's slice
with its own: one ``batch_norm`` call per modality on that modality's rows ``[N, C, H, W]`` (a
contiguous slice of the stack, in either memory format), the ``M`` outputs concatenated.
``SharedNorm`` is the Table 1 ablation: one BN over the whole stacked batch.

The number of modalities is a constructor argument of every module that needs it; nothing here
keeps a global modality count.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def stack_modalities(tensors: list[Tensor]) -> Tensor:
    """``M`` tensors ``[N, C, H, W]`` -> ``[M*N, C, H, W]`` (modality-major)."""
    return torch.cat(tensors, dim=0)


def split_modalities(x: Tensor, num_modalities: int) -> Tensor:
    """``[M*N, ...]`` -> view ``[M, N, ...]``."""
    if x.shape[0] % num_modalities:
        raise ValueError(f'batch of {x.shape[0]} rows is not divisible by {num_modalities} '
                         'modalities')
    return x.view(num_modalities, x.shape[0] // num_modalities, *x.shape[1:])


class ModalityNorm(nn.Module):
    """``M`` private BatchNorms (or InstanceNorms) applied to the modality slices of a stack.

    Parameters are stored stacked: ``weight`` / ``bias`` / running stats are ``[M, C]``; γ of
    modality ``m``, channel ``c`` is ``weight[m, c]``.

    Args:
        num_features: channels ``C``.
        num_modalities: ``M``.
        kind: ``'bn'`` (batch statistics per modality) or ``'in'`` (instance norm with a private
            affine per modality; no running statistics, as pix2pix uses it).
        eps, momentum: as ``nn.BatchNorm2d``.

    Shapes: ``[M*N, C, H, W]`` -> ``[M*N, C, H, W]``.
    """

    def __init__(self, num_features: int, num_modalities: int, kind: str = 'bn',
                 eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if kind not in ('bn', 'in'):
            raise ValueError(f"ModalityNorm kind must be 'bn' or 'in', got {kind!r}")
        self.num_features = num_features
        self.num_modalities = num_modalities
        self.kind = kind
        self.eps = eps
        self.momentum = momentum
        shape = (num_modalities, num_features)
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        if kind == 'bn':
            self.register_buffer('running_mean', torch.zeros(shape))
            self.register_buffer('running_var', torch.ones(shape))
            self.register_buffer('num_batches_tracked', torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        m, c = self.num_modalities, self.num_features
        if self.kind == 'in':
            y = F.instance_norm(x, eps=self.eps)
            y = split_modalities(y, m)
            return (y * self.weight.view(m, 1, c, 1, 1) + self.bias.view(m, 1, c, 1, 1)).flatten(0, 1)
        if self.training:
            self.num_batches_tracked.add_(1)
        # One call per modality on its rows (views; the statistics' rows are views updated in
        # place): one BN over a [N, M*C, H, W] view needed transposed copies in forward and
        # backward and made channels-last stacks contiguous. On NCHW stacks the two are
        # bit-identical (same sums, same order; tests/models/test_fast_paths.py).
        parts = split_modalities(x, m).unbind(0)
        outs = [F.batch_norm(part, self.running_mean[i], self.running_var[i], self.weight[i],
                             self.bias[i], self.training, self.momentum, self.eps)
                for i, part in enumerate(parts)]
        return outs[0] if m == 1 else torch.cat(outs, dim=0)  # cat of one would only copy

    def load_single_norm(self, state: dict[str, Tensor]) -> None:
        """Initialise every modality's norm from one ``BatchNorm2d`` state dict (ImageNet init)."""
        with torch.no_grad():
            self.weight.copy_(state['weight'].expand_as(self.weight))
            self.bias.copy_(state['bias'].expand_as(self.bias))
            if self.kind == 'bn' and 'running_mean' in state:
                self.running_mean.copy_(state['running_mean'].expand_as(self.running_mean))
                self.running_var.copy_(state['running_var'].expand_as(self.running_var))

    def extra_repr(self) -> str:
        return f'{self.num_features}, modalities={self.num_modalities}, kind={self.kind!r}'


class SharedNorm(nn.Module):
    """One norm shared by all modalities (Table 1, row 2): statistics over the whole stack.

    Shapes: ``[M*N, C, H, W]`` -> ``[M*N, C, H, W]``.
    """

    def __init__(self, num_features: int, num_modalities: int, kind: str = 'bn',
                 eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_modalities = num_modalities
        self.norm = (nn.BatchNorm2d(num_features, eps=eps, momentum=momentum) if kind == 'bn'
                     else nn.InstanceNorm2d(num_features, eps=eps, affine=True))

    @property
    def weight(self) -> Tensor:
        """γ as ``[1, C]`` (one set for all modalities)."""
        return self.norm.weight.unsqueeze(0)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x)

    def load_single_norm(self, state: dict[str, Tensor]) -> None:
        """Initialise from one ``BatchNorm2d`` state dict."""
        self.norm.load_state_dict({k: v for k, v in state.items()
                                   if k in self.norm.state_dict()}, strict=False)


class ModalityConv(nn.Module):
    """``M`` private copies of one convolution, each applied to its modality's rows of the stack
    (unshared convolutions inside a stacked network; the §4.1 CBN ablation with unshared convs).

    Args:
        conv: the template ``nn.Conv2d`` (its hyper-parameters; each copy starts from its weights).
        num_modalities: ``M``.

    Shapes: ``[M*N, C_in, H, W]`` -> ``[M*N, C_out, H', W']``; copy ``m`` is ``convs[m]``.
    """

    def __init__(self, conv: nn.Conv2d, num_modalities: int):
        super().__init__()
        self.num_modalities = num_modalities
        self.convs = nn.ModuleList(copy.deepcopy(conv) for _ in range(num_modalities))

    @property
    def out_channels(self) -> int:
        return self.convs[0].out_channels

    @property
    def in_channels(self) -> int:
        return self.convs[0].in_channels

    def forward(self, x: Tensor) -> Tensor:
        parts = split_modalities(x, self.num_modalities).unbind(0)
        return torch.cat([conv(part) for conv, part in zip(self.convs, parts)], dim=0)


NORMS = {'private': ModalityNorm, 'shared': SharedNorm}


def freeze_norm_statistics(module: nn.Module) -> int:
    """Put every batch norm under ``module`` in eval mode; return how many.

    Frozen statistics: the norms normalise with their running mean / variance (after ImageNet
    initialisation: ImageNet's, for every modality) and do not update them, while γ and β --
    private per modality in :class:`ModalityNorm` -- still receive gradients. This is what the
    CEN public code does during training (``FREEZE_BN = True``, every ``BatchNorm2d`` put in eval
    mode after ``train()``). Instance norms have no statistics and are left alone.
    """
    count = 0
    for child in module.modules():
        if (isinstance(child, ModalityNorm) and child.kind == 'bn') or isinstance(
                child, nn.modules.batchnorm._BatchNorm):
            child.eval()
            count += 1
    return count


def build_norm(sharing: str, num_features: int, num_modalities: int, kind: str = 'bn') -> nn.Module:
    """A modality norm: ``sharing`` is ``'private'`` (one per modality) or ``'shared'``."""
    if sharing not in NORMS:
        raise ValueError(f"norm sharing must be one of {sorted(NORMS)}, got {sharing!r}")
    return NORMS[sharing](num_features, num_modalities, kind=kind)
