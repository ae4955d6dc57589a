"""Bilinear resizing as two small matrix products (the heads' upsampling to the label size).

``F.interpolate(x, size, mode='bilinear', align_corners=False)`` is separable: every output row
mixes two input rows, every output column two input columns. Written as ``A_h @ x @ A_wᵀ`` with
the ``[H_out, H_in]`` and ``[W_out, W_in]`` interpolation matrices, forward and backward are
matrix products -- on CPU 4-5× faster than the upsampling kernel's backward (which scatters,
and which on CUDA uses atomic adds, so it is not deterministic there; the products are).
Values equal ``F.interpolate``'s to float rounding (the same two products per axis, summed
in another order: ~1e-7 relative). Our choice, for speed.
"""
from __future__ import annotations

import torch
from torch import Tensor


def interpolation_matrix(size_in: int, size_out: int, *, device=None,
                         dtype: torch.dtype = torch.float32) -> Tensor:
    """``[size_out, size_in]``: PyTorch's bilinear weights along one axis (align_corners=False).

    Source coordinate of output ``i``: ``(i + 0.5) · size_in / size_out - 0.5``, clamped at 0;
    it mixes inputs ``⌊src⌋`` and ``⌊src⌋ + 1`` (clamped to the last) with weights ``1 - λ``,
    ``λ`` (``aten/src/ATen/native/UpSample.h``, ``area_pixel_compute_source_index``).
    """
    if size_in < 1 or size_out < 1:
        raise ValueError(f'sizes must be positive, got {size_in} -> {size_out}')
    # float32 arithmetic, as the kernel's (its accscalar for float inputs)
    scale = torch.tensor(size_in / size_out, dtype=torch.float32)
    src = (scale * (torch.arange(size_out, dtype=torch.float32) + 0.5) - 0.5).clamp_min(0)
    low = src.floor().long().clamp_max(size_in - 1)
    high = (low + 1).clamp_max(size_in - 1)
    frac = src - low
    rows = torch.arange(size_out)
    matrix = torch.zeros(size_out, size_in, dtype=torch.float32)
    matrix.index_put_((rows, low), 1 - frac, accumulate=True)
    matrix.index_put_((rows, high), frac, accumulate=True)
    return matrix.to(device=device, dtype=dtype)


def bilinear_resize(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """``[B, C, h, w]`` -> ``[B, C, H, W]``, bilinear, ``align_corners=False`` (as interpolate).

    Returns ``x`` itself when the size already matches.
    """
    height, width = int(size[0]), int(size[1])
    if tuple(x.shape[-2:]) == (height, width):
        return x
    rows = interpolation_matrix(x.shape[-2], height, device=x.device, dtype=x.dtype)
    cols = interpolation_matrix(x.shape[-1], width, device=x.device, dtype=x.dtype)
    return rows @ (x.contiguous() @ cols.T)
