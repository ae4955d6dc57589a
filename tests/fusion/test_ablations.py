"""The §4.1 ablation variants: interface over every registered variant, and each variant's
defining property with hand-computed values."""
from __future__ import annotations

import pytest
import torch

from fusionbench import registry
from fusionbench.fusion.ablations.common import portion_mask, random_portion_mask
from fusionbench.fusion.base import FusionPoint, build_fusion, fusion_cards
from fusionbench.fusion.cen import subpart_mask
from fusionbench.modal import ModalityNorm

ABLATION_CARDS = fusion_cards('ablations')
#: Every (method, row) an ablation card declares: the variants the table runs.
VARIANTS = [(card.name, row) for card in ABLATION_CARDS for row in card.rows['ablations']]
PLACEMENT = ('stages', 'blocks', 'after_norms')


def point(channels: int = 10, m: int = 2, name: str = 'layer1.0.bn1') -> FusionPoint:
    return FusionPoint(name, 'block', 1, channels, m)


def build(cfg: dict, channels: int = 10, m: int = 2, name: str = 'layer1.0.bn1'):
    norm = ModalityNorm(channels, m)
    module = build_fusion(cfg, point(channels, m, name), norm)
    return module, norm


def test_every_paper_variant_is_registered():
    rows = {row.id for _, row in VARIANTS}
    assert rows == {'fixed30', 'fixed30_downsampling', 'cbn_unshared', 'cbn_shared', 'sum',
                    'sum_gated', 'random_exchange', 'discard'}


@pytest.mark.parametrize('name,row', VARIANTS, ids=[row.id for _, row in VARIANTS])
def test_variant_keeps_shapes_and_passes_gradients(name, row):
    """``[M*N, C, H, W]`` -> ``[M*N, C, H, W]`` in training, gradients reach the input (every
    modality) and every parameter the module has."""
    torch.manual_seed(0)
    m, n, c = 2, 3, 10
    cfg = dict(type=name, **{k: v for k, v in row.fusion.items() if k not in PLACEMENT})
    module, norm = build(cfg, c, m)
    with torch.no_grad():  # half of each sub-part under θ, for the γ-rule variants
        norm.weight[:, ::2] = 1e-3
    module.train()
    x = torch.randn(m * n, c, 4, 5, requires_grad=True)
    out, losses = module(norm(x), norm)
    assert out.shape == (m * n, c, 4, 5)
    (out.square().sum() + sum(losses.values(), torch.zeros(()))).backward()
    grad = x.grad.view(m, n, c, 4, 5)
    assert torch.isfinite(grad).all()
    assert all(grad[i].abs().sum() > 0 for i in range(m))
    for pname, param in module.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname
    import sys
    doc = ' '.join(sys.modules[type(module).__module__].__doc__.split())  # quotes §4.1
    assert '(Wang et al., NeurIPS 2020, §4.1)' in doc and '[M*N, C, H, W]' in doc


def test_portion_mask_by_hand():
    # C = 10, M = 2: sub-parts 0-4 and 5-9; round(0.3 * 10) = 3 channels each.
    mask = portion_mask(2, 10, 0.3)
    assert mask[0].nonzero().flatten().tolist() == [0, 1, 2]
    assert mask[1].nonzero().flatten().tolist() == [5, 6, 7]
    with pytest.raises(ValueError, match='sub-part size 5'):
        portion_mask(2, 10, 0.6)
    with pytest.raises(ValueError, match='between 1 and'):
        portion_mask(2, 10, 0.01)
    with pytest.raises(ValueError, match=r'\(0, 1\]'):
        portion_mask(2, 10, 0.0)


def test_fixed_exchange_replaces_exactly_30_percent_by_hand():
    module, _ = build(dict(type='fixed_exchange', portion=0.3))
    module.eval()
    rgb = torch.arange(10.).view(1, 10, 1, 1)
    depth = 100 + torch.arange(10.).view(1, 10, 1, 1)
    out, losses = module(torch.cat([rgb, depth]))
    assert losses == {}
    assert out[0].flatten().tolist() == [100, 101, 102, 3, 4, 5, 6, 7, 8, 9]
    assert out[1].flatten().tolist() == [100, 101, 102, 103, 104, 5, 6, 7, 108, 109]
    # the same channels in training, every call (a fixed portion)
    module.train()
    assert torch.equal(module(torch.cat([rgb, depth]))[0], out)


def test_fixed_exchange_replaced_channel_gets_no_own_gradient():
    module, _ = build(dict(type='fixed_exchange', portion=0.3))
    x = torch.randn(2, 10, 2, 2, requires_grad=True)
    out, _ = module(x)
    out[0, 0].sum().backward()  # rgb's channel 0 is depth's channel 0
    assert x.grad[0].abs().sum() == 0 and x.grad[1, 0].abs().sum() > 0


def test_random_exchange_is_redrawn_every_training_step_and_fixed_in_eval():
    module, _ = build(dict(type='random_exchange', portion=0.3))
    own = subpart_mask(2, 10)
    module.train()
    torch.manual_seed(3)
    draws = [module.replace_mask() for _ in range(20)]
    for mask in draws:  # exactly 3 channels of each modality's own sub-part
        assert mask.sum(1).tolist() == [3, 3] and not (mask & ~own).any()
    assert len({tuple(d.flatten().tolist()) for d in draws}) > 1
    torch.manual_seed(3)  # the run's seed fixes the draws
    assert all(torch.equal(a, module.replace_mask()) for a in draws)
    module.eval()
    assert torch.equal(module.replace_mask(), module.eval_replaced)
    again, _ = build(dict(type='random_exchange', portion=0.3))
    assert torch.equal(again.eval_replaced, module.eval_replaced)  # seeded by the point name
    # forward uses the mask: replaced channels hold the other modality
    x = torch.cat([torch.zeros(1, 10, 1, 1), torch.ones(1, 10, 1, 1)])
    out, _ = module(x)
    assert torch.equal(out[0].flatten().bool(), module.eval_replaced[0])


def test_random_portion_mask_uses_the_generator():
    own = subpart_mask(2, 10)
    a = random_portion_mask(own, 2, torch.Generator().manual_seed(1))
    b = random_portion_mask(own, 2, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.sum() == 4


def _gamma_rule_input(norm: ModalityNorm) -> torch.Tensor:
    """γ: rgb channels 1 and 7 under θ, depth channels 3 and 6 (only rgb 1 and depth 6 lie in
    their own sub-part); the norm is bypassed: the fusion sees ``x`` as the norm's output."""
    with torch.no_grad():
        norm.weight.fill_(1.0)
        norm.weight[0, 1] = norm.weight[0, 7] = 1e-3
        norm.weight[1, 3] = norm.weight[1, 6] = -1e-3
    rgb = torch.arange(10.).view(1, 10, 1, 1)
    depth = 100 + torch.arange(10.).view(1, 10, 1, 1)
    return torch.cat([rgb, depth])


def test_sum_adds_where_cen_replaces_by_hand():
    module, norm = build(dict(type='sum_exchange', gate=False, l1_weight=0.5))
    cen, _ = build(dict(type='cen', l1_weight=0.5))
    x = _gamma_rule_input(norm)
    out, losses = module(x, norm)
    replaced, _ = cen(x, norm)
    expected = x.clone()
    expected[0, 1] = 1 + 101  # own + other instead of other
    expected[1, 6] = 106 + 6
    assert torch.equal(out, expected)
    assert replaced[0, 1].item() == 101 and replaced[1, 6].item() == 6
    assert torch.equal(out - replaced, torch.where(replaced != x, x, torch.zeros(())))
    # the ℓ1 term is CEN's: λ Σ |γ| over each modality's own sub-part
    own_sum = (norm.weight.abs() * subpart_mask(2, 10)).sum()
    assert losses['loss_l1'].item() == pytest.approx(0.5 * own_sum.item())


def test_gated_sum_starts_at_half_and_learns_the_gate():
    module, norm = build(dict(type='sum_exchange', gate=True))
    x = _gamma_rule_input(norm)
    out, _ = module(x, norm)
    assert out[0, 1].item() == pytest.approx(1 + 0.5 * 101)
    assert out[1, 6].item() == pytest.approx(106 + 0.5 * 6)
    assert torch.equal(out[0, 7], x[0, 7])  # under θ but outside rgb's sub-part: kept
    out[0, 1].sum().backward()
    grad = module.gate_logit.grad
    assert grad[0, 1].item() == pytest.approx(0.25 * 101)  # σ'(0) · other
    assert grad.abs().sum().item() == pytest.approx(grad[0, 1].abs().item())


def test_discard_zeroes_cen_channels_by_hand():
    module, norm = build(dict(type='discard_channels'))
    x = _gamma_rule_input(norm).requires_grad_()
    out, losses = module(x, norm)
    expected = x.detach().clone()
    expected[0, 1] = 0
    expected[1, 6] = 0
    assert torch.equal(out, expected) and 'loss_l1' in losses
    out.sum().backward()
    assert x.grad[0, 1].item() == 0 and x.grad[1, 6].item() == 0 and x.grad[0, 0].item() == 1


def test_gamma_rule_variants_need_the_private_norm():
    module, _ = build(dict(type='discard_channels'))
    with pytest.raises(TypeError, match='discard_channels at layer1.0.bn1 needs the private'):
        module(torch.zeros(2, 10, 1, 1), None)
    with pytest.raises(KeyError, match='names no λ for layer1.0.bn1'):
        build(dict(type='sum_exchange', l1_weight={'layer2.0.bn1': 1e-3}))
    with pytest.raises(ValueError, match='at least 2'):
        build(dict(type='fixed_exchange'), m=1)


def test_cbn_starts_as_the_plain_bn_and_modulates_depth_by_rgb():
    torch.manual_seed(0)
    module, norm = build(dict(type='cbn'), channels=4)
    x = torch.randn(4, 4, 3, 3)  # M = 2, N = 2
    out, losses = module(x, norm)
    assert torch.equal(out, x) and losses == {}  # zero-initialised predictor
    last = module.predictor[-1]
    with torch.no_grad():  # δγ = 1 and δβ = 0.5 for every sample and channel
        last.bias[:4] = 1.0
        last.bias[4:] = 0.5
    out, _ = module(x, norm)
    assert torch.equal(out[:2], x[:2])  # RGB unchanged
    assert torch.allclose(out[2:], 2 * x[2:] + 0.5)
    # the modulation depends on RGB: a gradient reaches RGB through depth's output
    with torch.no_grad():
        last.weight.fill_(0.1)
    x.requires_grad_()
    out, _ = module(x, norm)
    out[2:].sum().backward()
    assert x.grad[:2].abs().sum() > 0


def test_cbn_rejects_shared_norms():
    shared = FusionPoint('p', 'block', 1, 4, 2, norm_sharing='shared')
    with pytest.raises(ValueError, match='private norms'):
        build_fusion(dict(type='cbn'), shared, None)


def test_cards_point_to_the_paper_rows():
    from fusionbench.analysis.paper import load_paper_table

    paper = set(load_paper_table('ablations')['row'])
    for card in ABLATION_CARDS:
        assert card.tables == ('ablations',)
        for row in card.rows['ablations']:
            assert row.paper_row in paper, row
            assert registry.FUSIONS.get(card.name) is not None


def test_gamma_rule_variants_follow_cens_l1_under_the_official_fidelity():
    from mmengine.config import Config

    from fusionbench.fidelity import OFFICIAL

    for name in ('sum_exchange', 'discard_channels'):
        cfg = Config(dict(model=dict(type='MultiModalSegmentor', fusion=dict(
            type=name, l1_weight=5e-3)), train_cfg=dict(type='IterBasedTrainLoop', max_iters=30),
            custom_hooks=[]))
        OFFICIAL.apply(cfg)
        assert (cfg.model.fusion.l1_weight, cfg.model.fusion.l1_repeats) == (2e-4, 'heads')
        module, norm = build(dict(type=name, l1_weight=0.5, l1_repeats='heads'))
        _, losses = module(_gamma_rule_input(norm), norm)
        assert losses['loss_l1'].item() == pytest.approx(
            3 * 0.5 * (norm.weight.abs() * subpart_mask(2, 10)).sum().item())  # M + 1 heads
    with pytest.raises(ValueError, match="l1_repeats must be a positive int or 'heads'"):
        build(dict(type='discard_channels', l1_repeats=0))
