"""Channel exchanging on hand-computed cases: which channels move, means, gradients, ℓ1."""
from __future__ import annotations

import pytest
import torch

from fusionbench.fusion.base import FusionPoint, build_fusion
from fusionbench.fusion.cen import ChannelExchange, others_mean_matrix, subpart_mask
from fusionbench.modal import ModalityNorm
from fusionbench.registry import UnknownNameError


def make(m: int, c: int, gamma: list[list[float]], **kwargs):
    """A CEN point with a norm whose γ is ``gamma`` ``[M, C]``."""
    norm = ModalityNorm(c, m)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor(gamma))
    point = FusionPoint('layer1.0', 'block', 1, c, m)
    return ChannelExchange(point, **kwargs), norm


def constant_stack(values: list[float], n: int = 2, c: int = 4, hw: int = 3) -> torch.Tensor:
    """``[M*N, C, hw, hw]`` where modality m is filled with ``values[m] + channel / 10``."""
    per_channel = torch.arange(c, dtype=torch.float32).view(1, c, 1, 1) / 10
    return torch.cat([torch.full((n, c, hw, hw), v) + per_channel for v in values])


def test_subpart_mask_splits_channels_into_m_parts():
    assert subpart_mask(2, 4).tolist() == [[True, True, False, False], [False, False, True, True]]
    assert subpart_mask(3, 6).sum(1).tolist() == [2, 2, 2]
    assert subpart_mask(3, 7).sum(0).tolist() == [1] * 7  # every channel has exactly one owner


def test_others_mean_matrix():
    assert torch.allclose(others_mean_matrix(3), torch.tensor(
        [[0, .5, .5], [.5, 0, .5], [.5, .5, 0]]))


def test_directed_exchange_moves_only_small_gammas_in_own_subpart():
    # modality 0 owns channels 0-1, modality 1 owns 2-3; θ = 0.02.
    cen, norm = make(2, 4, [[0.01, 0.5, 0.01, 0.5],   # c0 small & own -> moves; c2 small, not own
                            [0.01, 0.5, 0.01, 0.5]],  # c2 small & own -> moves; c0 not own
                     threshold=0.02, exchange='directed')
    x = constant_stack([1.0, 2.0])
    out, _ = cen(x, norm)
    rgb, depth = out[:2], out[2:]
    assert torch.allclose(rgb[:, 0], torch.full_like(rgb[:, 0], 2.0))     # took depth's c0
    assert torch.allclose(rgb[:, 1:], x[:2, 1:])                          # rest untouched
    assert torch.allclose(depth[:, 2], torch.full_like(depth[:, 2], 1.2))  # took rgb's c2
    assert torch.allclose(depth[:, [0, 1, 3]], x[2:, [0, 1, 3]])
    assert cen.replace_mask(norm.weight).tolist() == [[True, False, False, False],
                                                      [False, False, True, False]]


def test_all_mode_moves_every_small_gamma():
    cen, norm = make(2, 4, [[0.01, 0.5, 0.01, 0.5], [0.01, 0.5, 0.5, 0.5]],
                     threshold=0.02, exchange='all', l1='all')
    assert cen.replace_mask(norm.weight).tolist() == [[True, False, True, False],
                                                      [True, False, False, False]]


def test_three_modalities_take_the_mean_of_the_two_others():
    # C = 3: modality m owns channel m.
    cen, norm = make(3, 3, [[0.0, 1, 1], [1, 1, 1], [1, 1, 0.001]], threshold=0.02)
    x = constant_stack([1.0, 2.0, 4.0], c=3)
    out, _ = cen(x, norm)
    assert torch.allclose(out[0:2, 0], torch.full_like(out[0:2, 0], 3.0))        # (2 + 4) / 2
    assert torch.allclose(out[4:6, 2], torch.full_like(out[4:6, 2], 1.7))        # (1.2 + 2.2) / 2
    assert torch.allclose(out[2:4], x[2:4])                                      # modality 1 kept


def test_nothing_moves_when_threshold_is_zero():
    cen, norm = make(2, 4, [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], threshold=0.0,
                     exchange='all')
    x = torch.randn(4, 4, 3, 3)
    out, _ = cen(x, norm)
    assert torch.equal(out, x)


def test_exchange_none_keeps_features_but_returns_l1():
    cen, norm = make(2, 4, [[0.01] * 4, [0.01] * 4], exchange='none', l1='half', l1_weight=0.5)
    x = torch.randn(4, 4, 3, 3)
    out, losses = cen(x, norm)
    assert torch.equal(out, x)
    assert losses['loss_l1'].item() == pytest.approx(0.5 * 0.01 * 4)


def test_gradients_route_to_the_source_modality():
    cen, norm = make(2, 4, [[0.01, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]], threshold=0.02)
    x = torch.randn(4, 4, 3, 3, requires_grad=True)
    out, _ = cen(x, norm)
    out.sum().backward()
    grad = x.grad
    assert torch.all(grad[:2, 0] == 0)          # replaced rgb channel: no gradient
    assert torch.allclose(grad[2:, 0], torch.full_like(grad[2:, 0], 2.0))  # own + rgb's use
    assert torch.allclose(grad[:, 1:], torch.ones_like(grad[:, 1:]))


@pytest.mark.parametrize('l1, expected_mask', [
    ('half', [[1, 1, 0, 0], [0, 0, 1, 1]]),
    ('all', [[1, 1, 1, 1], [1, 1, 1, 1]]),
])
def test_l1_covers_exactly_the_intended_gammas(l1, expected_mask):
    gamma = [[0.1, -0.2, 0.3, 0.4], [0.5, 0.6, -0.7, 0.8]]
    cen, norm = make(2, 4, gamma, l1=l1, l1_weight=2.0)
    _, losses = cen(torch.randn(4, 4, 2, 2), norm)
    mask = torch.tensor(expected_mask, dtype=torch.float32)
    assert losses['loss_l1'].item() == pytest.approx(2.0 * (torch.tensor(gamma).abs() * mask).sum().item())
    losses['loss_l1'].backward()
    assert torch.equal(norm.weight.grad != 0, mask.bool())


def test_l1_none_returns_no_loss_term():
    cen, norm = make(2, 4, [[1.0] * 4] * 2, l1='none')
    _, losses = cen(torch.randn(4, 4, 2, 2), norm)
    assert losses == {}


def test_cen_needs_two_modalities():
    with pytest.raises(ValueError, match='at least 2'):
        build_fusion(dict(type='cen'), FusionPoint('layer1.0', 'block', 1, 8, 1))


def test_cen_needs_private_norms():
    with pytest.raises(ValueError, match='private norms'):
        build_fusion(dict(type='cen'), FusionPoint('layer1.0', 'block', 1, 8, 2, 'shared'))


def test_unknown_fusion_name_fails_in_one_line_listing_names():
    with pytest.raises(UnknownNameError) as info:
        build_fusion(dict(type='chanel_exchange'), FusionPoint('layer1.0', 'block', 1, 8, 2))
    message = str(info.value)
    assert '\n' not in message
    assert "unknown fusion 'chanel_exchange'" in message and 'cen' in message
