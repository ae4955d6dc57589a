"""fusionbench.baselines.self_attention: the SSMA block -- shapes, parameters (η = 32), gate,
gradients."""
from __future__ import annotations

import pytest
import torch

from fusionbench.baselines.self_attention import SelfAttentionFusion
from fusionbench.fusion.base import FusionPoint


def point(c=32, m=2):
    return FusionPoint('stage4', 'stage', 4, c, m)


@pytest.mark.parametrize('m', [2, 3])
@pytest.mark.parametrize('keep', [False, True])
def test_shapes_in_both_settings(m, keep):
    fusion = SelfAttentionFusion(point(16, m), keep_streams=keep)
    out, losses = fusion(torch.randn(m * 2, 16, 6, 6))
    assert tuple(out.shape) == ((m * 2) if keep else 2, 16, 6, 6)
    assert losses == {}


def test_parameters_follow_20_25_c_squared_for_two_modalities():
    c = 64
    fusion = SelfAttentionFusion(point(c, 2), keep_streams=False)
    hidden = 2 * c // 32
    expected = (9 * 2 * c * hidden + hidden) + (9 * hidden * 2 * c + 2 * c) + 9 * 2 * c * c + 2 * c
    assert sum(p.numel() for p in fusion.fusion_parameters()) == expected
    weights_only = 9 * 2 * c * hidden * 2 + 9 * 2 * c * c
    assert weights_only == pytest.approx(20.25 * c * c)


def test_gate_is_a_sigmoid_over_the_concatenation():
    fusion = SelfAttentionFusion(point(16, 2))
    z = torch.randn(2, 32, 4, 4)
    gate = fusion.gate(z)
    assert tuple(gate.shape) == (2, 32, 4, 4)
    assert bool(((gate > 0) & (gate < 1)).all())


@pytest.mark.parametrize('keep', [False, True])
def test_gradients_reach_both_modalities_gate_and_fuse(keep):
    fusion = SelfAttentionFusion(point(16, 2), keep_streams=keep)
    x = torch.randn(4, 16, 4, 4, requires_grad=True)
    fusion(x)[0].square().sum().backward()
    assert x.grad[:2].abs().sum() > 0 and x.grad[2:].abs().sum() > 0
    assert fusion.gate[0].weight.grad.abs().sum() > 0
    assert fusion.fuse.weight.grad.abs().sum() > 0
