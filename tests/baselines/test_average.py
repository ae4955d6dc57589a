"""fusionbench.baselines.average: the mean of the modalities, parameter-free, both settings."""
from __future__ import annotations

import pytest
import torch

from fusionbench.baselines.average import AverageFusion
from fusionbench.fusion.base import FusionPoint


@pytest.mark.parametrize('m', [2, 3])
def test_merge_is_the_mean_and_keep_gives_every_stream_the_mean(m):
    x = torch.randn(m * 2, 4, 3, 3)
    mean = x.view(m, 2, 4, 3, 3).mean(0)
    merged, _ = AverageFusion(FusionPoint('stage3', 'stage', 3, 4, m))(x)
    kept, _ = AverageFusion(FusionPoint('stage3', 'stage', 3, 4, m), keep_streams=True)(x)
    assert torch.allclose(merged, mean)
    assert torch.allclose(kept, mean.repeat(m, 1, 1, 1))


def test_parameter_free_and_gradients_reach_every_modality():
    fusion = AverageFusion(FusionPoint('stage3', 'stage', 3, 4, 2))
    assert sum(p.numel() for p in fusion.fusion_parameters()) == 0
    assert fusion.card.parameter_free
    x = torch.randn(4, 4, 2, 2, requires_grad=True)
    fusion(x)[0].sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, 0.5))
