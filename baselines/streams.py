"""Stacked-batch helpers shared by the aggregation baselines (tensor ops, no Python loops).

An aggregation method runs in two settings (Table 2):

- **merge** (``keep_streams=False``, the commonly-used setting): the M modalities are
  concatenated along channels, ``[M*N, C, H, W]`` -> ``[N, M*C, H, W]`` (:func:`concat_modalities`,
  modality order), and the method returns one stream ``[N, C, H, W]``.
- **keep** (``keep_streams=True``, the same setting as CEN): every modality's stream continues.
  Its row sees the concatenation with ITS OWN features first, then the others in cyclic order,
  ``[M*N, C, H, W]`` -> ``[M*N, M*C, H, W]`` (:func:`self_first`), so one set of shared weights
  (the same setting shares convolutions) tells "own" from "other" features; the norm after it is
  private per modality (:func:`stream_norm`).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionbench.fusion.base import FusionPoint
from fusionbench.modal import build_norm, split_modalities


def concat_modalities(x: Tensor, num_modalities: int) -> Tensor:
    """``[M*N, C, H, W]`` -> ``[N, M*C, H, W]``: modality ``m`` in channels ``m*C .. (m+1)*C``."""
    y = split_modalities(x, num_modalities)  # [M, N, C, H, W]
    m, n, c = y.shape[:3]
    return y.transpose(0, 1).reshape(n, m * c, *y.shape[3:])


def self_first(x: Tensor, num_modalities: int) -> Tensor:
    """``[M*N, C, H, W]`` -> ``[M*N, M*C, H, W]``: row of modality ``m`` holds
    ``[x_m, x_{m+1}, …, x_{m-1}]`` (indices mod M) along channels."""
    y = split_modalities(x, num_modalities)  # [M, N, C, H, W]
    m, n, c = y.shape[:3]
    order = (torch.arange(m, device=x.device)[:, None] + torch.arange(m, device=x.device)) % m
    rotated = y[order]  # [M (row's modality), M (position), N, C, H, W]
    return rotated.transpose(1, 2).reshape(m * n, m * c, *y.shape[3:])


def stream_norm(point: FusionPoint, keep_streams: bool, channels: int | None = None) -> nn.Module:
    """The norm after a fusion conv: per modality (the point's sharing) when streams are kept,
    one norm for the single fused stream otherwise; of the point's ``norm_kind`` (BN or IN; an
    identity for ``'none'``)."""
    channels = channels or point.channels
    if point.norm_kind == 'none':
        return nn.Identity()
    if keep_streams:
        return build_norm(point.norm_sharing, channels, point.num_modalities, point.norm_kind)
    return build_norm('private', channels, 1, point.norm_kind)


def fusion_input(x: Tensor, num_modalities: int, keep_streams: bool) -> Tensor:
    """:func:`self_first` when streams are kept, else :func:`concat_modalities`."""
    return (self_first if keep_streams else concat_modalities)(x, num_modalities)
