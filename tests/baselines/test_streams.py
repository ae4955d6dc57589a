"""fusionbench.baselines.streams: the stacked-batch views the aggregation baselines fuse."""
from __future__ import annotations

import torch

from fusionbench.baselines.streams import concat_modalities, self_first


def stacked(m=3, n=2, c=2, h=1, w=1):
    """``[M*N, C, H, W]`` whose value encodes (modality, sample, channel): 100·m + 10·n + c."""
    idx = torch.arange(m)[:, None, None] * 100 + torch.arange(n)[None, :, None] * 10 \
        + torch.arange(c)[None, None, :]
    return idx.float().reshape(m * n, c, 1, 1).expand(m * n, c, h, w).contiguous()


def test_concat_modalities_is_modality_major_along_channels():
    z = concat_modalities(stacked(), 3)
    assert tuple(z.shape) == (2, 6, 1, 1)
    assert z[1, :, 0, 0].tolist() == [10, 11, 110, 111, 210, 211]


def test_self_first_puts_each_rows_own_modality_first_then_the_others_cyclically():
    z = self_first(stacked(), 3)
    assert tuple(z.shape) == (6, 6, 1, 1)
    # row of modality 1, sample 0: [x_1, x_2, x_0]
    assert z[2, :, 0, 0].tolist() == [100, 101, 200, 201, 0, 1]
    # row of modality 2, sample 1: [x_2, x_0, x_1]
    assert z[5, :, 0, 0].tolist() == [210, 211, 10, 11, 110, 111]


def test_self_first_of_one_modality_is_the_identity():
    x = torch.randn(2, 4, 3, 3)
    assert torch.equal(self_first(x, 1), x)
