"""fusionbench.baselines.align_mmd: MMD numerics against hand-computed cases, the loss term,
gradients."""
from __future__ import annotations

import math

import pytest
import torch

from fusionbench.baselines.align_mmd import (AlignMMD, kernel_denominators, mmd2,
                                             pairwise_mmd2, squared_distances)
from fusionbench.fusion.base import FusionPoint


def test_identical_sample_sets_have_zero_mmd():
    x = torch.randn(32, 5)
    assert float(mmd2(x, x.clone())) == pytest.approx(0.0, abs=1e-6)


def test_one_point_each_single_kernel_by_hand():
    # k(a, b) = exp(-|a - b|² / 1): K_xx = K_yy = 1, K_xy = e^-1
    value = mmd2(torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.tensor([1.0]))
    assert float(value) == pytest.approx(2 - 2 * math.exp(-1), rel=1e-6)


def test_two_points_each_two_kernels_by_hand():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [3.0]])
    den = torch.tensor([2.0, 8.0])

    def k(d2):
        return math.exp(-d2 / 2) + math.exp(-d2 / 8)
    kxx = (2 * k(0) + 2 * k(1)) / 4
    kyy = (2 * k(0) + 2 * k(4)) / 4
    kxy = (k(1) + k(9) + k(0) + k(4)) / 4
    assert float(mmd2(x, y, den)) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-6)


def test_default_bandwidths_are_the_mean_distance_times_powers_of_two():
    samples = torch.tensor([[0.0], [1.0], [3.0]])
    d2 = squared_distances(samples, samples)
    mean_off_diagonal = (1 + 9 + 4) * 2 / 6
    den = kernel_denominators(d2, kernel_mul=2.0, kernel_num=5)
    assert den.tolist() == pytest.approx([mean_off_diagonal * 2.0 ** j for j in range(-2, 3)])


def test_same_distribution_scores_lower_than_a_shifted_one():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, 4, generator=gen), torch.randn(200, 4, generator=gen)
    shifted = torch.randn(200, 4, generator=gen) + 1.0
    same, different = float(mmd2(a, b)), float(mmd2(a, shifted))
    assert 0 <= same < 0.05 < different


def test_pairwise_matrix_is_symmetric_with_zero_diagonal_and_matches_pairs():
    samples = torch.randn(3, 10, 4)
    den = torch.tensor([1.0, 4.0])
    matrix = pairwise_mmd2(samples, den)
    assert torch.allclose(matrix, matrix.T) and torch.allclose(matrix.diagonal(), torch.zeros(3),
                                                               atol=1e-6)
    assert float(matrix[0, 2]) == pytest.approx(float(mmd2(samples[0], samples[2], den)), rel=1e-5)


def test_fusion_keeps_features_and_returns_a_weighted_loss():
    fusion = AlignMMD(FusionPoint('stage3', 'stage', 3, 8, 2), loss_weight=0.5)
    assert fusion.keeps_streams
    x = torch.randn(4, 8, 12, 12)
    with torch.no_grad():
        out, losses = fusion(x)
        unweighted = pairwise_mmd2(fusion.embeddings(x))[0, 1]
    assert out is x and set(losses) == {'loss_mmd'} and losses['loss_mmd'].ndim == 0
    assert float(losses['loss_mmd']) == pytest.approx(0.5 * float(unweighted), rel=1e-5)
    assert tuple(fusion.embeddings(x).shape) == (2, 2 * 8 * 8, 8)


def test_projection_head_has_ten_c_squared_weights():
    c = 32
    fusion = AlignMMD(FusionPoint('stage4', 'stage', 4, c, 2))
    assert sum(p.numel() for p in fusion.fusion_parameters()) == 10 * c * c + 2 * c


def test_gradients_reach_both_modalities_and_the_projection():
    fusion = AlignMMD(FusionPoint('stage2', 'stage', 2, 8, 2))
    x = torch.randn(4, 8, 8, 8, requires_grad=True)
    fusion(x)[1]['loss_mmd'].backward()
    assert x.grad[:2].abs().sum() > 0 and x.grad[2:].abs().sum() > 0
    assert fusion.project[0].weight.grad.abs().sum() > 0


def test_tiny_feature_maps_pool_to_their_own_size():
    fusion = AlignMMD(FusionPoint('stage4', 'stage', 4, 8, 3))
    out, losses = fusion(torch.randn(6, 8, 1, 1))
    assert tuple(fusion.embeddings(torch.randn(6, 8, 1, 1)).shape) == (3, 2, 8)
    assert torch.isfinite(losses['loss_mmd'])


def _mmd_with_kernel_tensor(samples, kernel_mul=2.0, kernel_num=5):
    """The ``[P, P, J]`` form (the kernel as first written), the reference for the fast one."""
    from fusionbench.baselines.align_mmd import gaussian_kernel
    m, s, d = samples.shape
    flat = samples.reshape(m * s, d)
    d2 = squared_distances(flat, flat)
    den = kernel_denominators(d2, kernel_mul, kernel_num)
    blocks = gaussian_kernel(d2, den).view(m, s, m, s).mean(dim=(1, 3))
    within = blocks.diagonal()
    return within[:, None] + within[None, :] - 2 * blocks


@pytest.mark.parametrize('m,s,d,kernel_num,shift', [(2, 64, 8, 5, 0.3), (3, 40, 16, 5, 1.0),
                                                    (2, 50, 4, 3, 0.0), (2, 30, 6, 1, 0.5)])
def test_doubling_kernel_equals_the_kernel_tensor_in_value_and_gradient(m, s, d, kernel_num,
                                                                         shift):
    gen = torch.Generator().manual_seed(m * 100 + s)
    base = torch.randn(m, s, d, generator=gen) + shift * torch.arange(m).view(m, 1, 1)
    weights = torch.rand(m, m, generator=gen)
    fast_in, ref_in = base.clone().requires_grad_(), base.clone().requires_grad_()
    fast = pairwise_mmd2(fast_in, kernel_num=kernel_num)
    ref = _mmd_with_kernel_tensor(ref_in, kernel_num=kernel_num)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-7)
    (fast * weights).sum().backward()
    (ref * weights).sum().backward()
    scale = ref_in.grad.abs().max()
    assert float((fast_in.grad - ref_in.grad).abs().max() / scale) < 1e-5


def test_doubling_kernel_gradient_is_the_analytic_one():
    from fusionbench.baselines.align_mmd import doubling_kernel_sum, gaussian_kernel
    d2 = (torch.rand(6, 5, dtype=torch.float64) * 4).requires_grad_()
    widest = torch.tensor(3.0, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda d: doubling_kernel_sum(d, widest, 4), (d2,))
    # by hand: Σ_j exp(-d2 · 2^j / 3) for j < 4
    den = torch.tensor([3.0, 1.5, 0.75, 0.375], dtype=torch.float64)
    torch.testing.assert_close(doubling_kernel_sum(d2, widest, 4), gaussian_kernel(d2, den))
