"""fusionbench.baselines.concat: shapes in both settings, parameters, equivariance, gradients."""
from __future__ import annotations

import pytest
import torch

from fusionbench.baselines.concat import ConcatFusion
from fusionbench.fusion.base import FusionPoint


def point(c=8, m=2):
    return FusionPoint('stage2', 'stage', 2, c, m)


@pytest.mark.parametrize('m', [2, 3])
@pytest.mark.parametrize('keep', [False, True])
def test_shapes_in_both_settings(m, keep):
    fusion = ConcatFusion(point(8, m), keep_streams=keep)
    out, losses = fusion(torch.randn(m * 2, 8, 5, 5))
    assert tuple(out.shape) == ((m * 2) if keep else 2, 8, 5, 5)
    assert losses == {} and fusion.keeps_streams is keep


@pytest.mark.parametrize('keep', [False, True])
def test_fusion_parameters_are_one_conv_of_m_c_squared_plus_the_norm(keep):
    c, m = 16, 2
    fusion = ConcatFusion(point(c, m), keep_streams=keep)
    streams = m if keep else 1
    assert sum(p.numel() for p in fusion.fusion_parameters()) == m * c * c + 2 * c * streams


def test_same_setting_is_equivariant_to_swapping_the_modalities_at_init():
    fusion = ConcatFusion(point(8, 2), keep_streams=True).eval()
    x = torch.randn(4, 8, 3, 3)
    swapped = torch.cat([x[2:], x[:2]])
    out, _ = fusion(x)
    out_swapped, _ = fusion(swapped)
    assert torch.allclose(out_swapped, torch.cat([out[2:], out[:2]]), atol=1e-6)


def test_gradients_reach_both_modalities_and_the_weights():
    fusion = ConcatFusion(point(8, 2), keep_streams=False)
    x = torch.randn(4, 8, 3, 3, requires_grad=True)
    out, _ = fusion(x)
    out.square().sum().backward()
    assert x.grad[:2].abs().sum() > 0 and x.grad[2:].abs().sum() > 0
    assert fusion.conv.weight.grad.abs().sum() > 0
