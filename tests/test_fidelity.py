"""The fidelity switch: 'paper' (the paper's text) vs 'official' (the authors' public code)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import nn

from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import build_model, resolve_config
from fusionbench.fidelity import apply_fidelity
from fusionbench.fusion.base import FusionPoint
from fusionbench.fusion.cen import ChannelExchange
from fusionbench.hooks import LRStagesHook
from fusionbench.modal import ModalityNorm
from fusionbench.models.refinenet import RefineNetDecoder
from fusionbench.models.resnet import MultiModalResNet, UnsharedResNet
from fusionbench.models.separate_streams import SeparateStreamsResNet

CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'


def with_fidelity(config: str, mode: str | None) -> Config:
    cfg = Config.fromfile(f'configs/{config}')
    if mode is not None:
        cfg.fidelity = mode
    return cfg


# ----------------------------------------------------------------------------- frozen BN
def norm_state(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()
            if 'running' in k or k.endswith(('.weight', '.bias')) and 'bn' in k}


@pytest.mark.parametrize('norm_eval', [True, False])
def test_frozen_statistics_stay_fixed_while_gamma_beta_move(norm_eval):
    torch.manual_seed(0)
    net = MultiModalResNet(depth=18, num_modalities=2, width=0.125, norm_eval=norm_eval,
                           fusion=dict(type='cen', stages=(1, 2, 3, 4)))
    with torch.no_grad():  # ImageNet-like statistics, different per modality
        for norm in (m for m in net.modules() if isinstance(m, ModalityNorm)):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    net.train()
    assert net.training
    norms = [m for m in net.modules() if isinstance(m, ModalityNorm)]
    assert all(n.training is not norm_eval for n in norms)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    features, losses = net(torch.randn(4, 3, 32, 32))
    (sum(f.square().mean() for f in features) + losses['loss_l1']).backward()
    optimizer.step()
    after = net.state_dict()
    stats = [k for k in before if k.endswith(('running_mean', 'running_var'))]
    gammas = [k for k in before if k.endswith('bn1.weight') or k.endswith('bn2.bias')]
    assert stats and gammas
    moved = [k for k in stats if not torch.equal(before[k], after[k])]
    assert (moved == []) if norm_eval else (len(moved) == len(stats))
    # γ / β are trained either way, each modality's own row
    assert all(not torch.equal(before[k], after[k]) for k in gammas)
    gamma = after['layer1.0.bn1.weight']
    assert gamma.shape[0] == 2 and not torch.equal(gamma[0], gamma[1])


def test_frozen_statistics_normalise_with_the_running_statistics():
    norm = ModalityNorm(3, 2)
    with torch.no_grad():
        norm.running_mean.copy_(torch.tensor([[1., 2, 3], [4, 5, 6]]))
        norm.running_var.copy_(torch.tensor([[4., 4, 4], [1, 1, 1]]))
    wrapper = nn.Sequential(norm)
    x = torch.randn(4, 3, 2, 2)
    from fusionbench.modal import freeze_norm_statistics
    wrapper.train()
    assert freeze_norm_statistics(wrapper) == 1
    y = wrapper(x)
    expected = torch.cat([(x[:2] - torch.tensor([1., 2, 3]).view(1, 3, 1, 1)) / 2,
                          x[2:] - torch.tensor([4., 5, 6]).view(1, 3, 1, 1)])
    torch.testing.assert_close(y, expected, atol=1e-4, rtol=1e-4)


def test_every_backbone_takes_norm_eval():
    for net in (UnsharedResNet(num_modalities=2, depth=18, width=0.125, norm_eval=True),
                SeparateStreamsResNet(num_modalities=2, depth=18, width=0.125, norm_eval=True)):
        net.train()
        norms = [m for m in net.modules() if isinstance(m, ModalityNorm)]
        assert norms and not any(n.training for n in norms)


# ----------------------------------------------------------------------------- decoder
def public_code_decoder(decoder: RefineNetDecoder, features: list[torch.Tensor],
                        inplace: bool, align_corners: bool) -> torch.Tensor:
    """The public code's RefineNet forward (models/model.py), written out with its ReLU.

    ``inplace`` reproduces ``nn.ReLU(inplace=True)`` inside ``ModuleParallel`` on the tensor
    the residual list also holds; with False it is an ordinary ReLU. Dropout is off (eval).
    """
    relu = nn.ReLU(inplace=inplace)

    def rcu(unit, x):
        for convs in unit.blocks:
            residual = x
            for conv in convs:
                x = relu(x)
                x = conv(x)
            x = x + residual
        return x

    def crp(pool, x):
        top = x
        for conv in pool.convs:
            top = conv(F.max_pool2d(top, 5, 1, 2))
            x = x + top
        return x

    def up(x, like):
        return F.interpolate(x, size=like.shape[-2:], mode='bilinear', align_corners=align_corners)

    l1, l2, l3, l4 = features
    s = decoder.stage4
    x4 = rcu(s.adapt, s.dimred(l4.clone()))
    x4 = s.out(rcu(s.refine, crp(s.crp, relu(x4))))
    x4 = up(x4, l3)
    out = x4
    for stage, level in ((decoder.stage3, l3), (decoder.stage2, l2), (decoder.stage1, l1)):
        x = stage.joint(rcu(stage.adapt, stage.dimred(level.clone())))
        x = relu(x + out)
        x = rcu(stage.refine, crp(stage.crp, x))
        out = up(stage.out(x), levels_below(features, level)) if stage.out is not None else x
    return decoder.classifier(out)


def levels_below(features, level):
    index = next(i for i, f in enumerate(features) if f is level)
    return features[index - 1]


def decoder_inputs():
    torch.manual_seed(0)
    return [torch.randn(2, c, s, s) for c, s in ((8, 16), (16, 8), (32, 4), (64, 2))]


@pytest.mark.parametrize('official', [True, False])
def test_decoder_variant_equals_hand_written_reference(official):
    torch.manual_seed(1)
    variant = dict(residual='relu', align_corners=True) if official else {}
    decoder = RefineNetDecoder((8, 16, 32, 64), num_classes=5, width=0.0625, **variant).eval()
    features = decoder_inputs()
    with torch.no_grad():
        got = decoder(features)
        want = public_code_decoder(decoder, features, inplace=official, align_corners=official)
    assert got.shape == (2, 5, 16, 16)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


def test_decoder_variants_differ_with_the_same_weights():
    torch.manual_seed(1)
    paper = RefineNetDecoder((8, 16, 32, 64), num_classes=5, width=0.0625).eval()
    official = RefineNetDecoder((8, 16, 32, 64), num_classes=5, width=0.0625, residual='relu',
                                align_corners=True).eval()
    official.load_state_dict(paper.state_dict())
    features = decoder_inputs()
    with torch.no_grad():
        assert (paper(features) - official(features)).abs().max() > 1e-3


def test_decoder_rejects_unknown_residual():
    with pytest.raises(ValueError, match="residual must be one of"):
        RefineNetDecoder((8, 16, 32, 64), num_classes=5, width=0.0625, residual='raw')


# ----------------------------------------------------------------------------- ℓ1
def cen_module(**kwargs) -> ChannelExchange:
    return ChannelExchange(FusionPoint('layer1.0', 'block', 1, 4, 2, 'private'), **kwargs)


GAMMA = torch.tensor([[1., -2, 3, 4], [5, 6, -7, 8]])  # own halves: 1, -2 | -7, 8 -> Σ|γ̂| = 18


@pytest.mark.parametrize('kwargs, expected', [
    (dict(l1_weight=5e-3), 5e-3 * 18),                                    # paper: once
    (dict(l1_weight=2e-4, l1_repeats='heads'), 3 * 2e-4 * 18),            # public: M + 1 times
    (dict(l1_weight=2e-4, l1_repeats=2), 2 * 2e-4 * 18),
    (dict(l1_weight=2e-4, l1='all', l1_repeats='heads'), 3 * 2e-4 * 36),
])
def test_l1_term_per_mode(kwargs, expected):
    assert cen_module(**kwargs).sparsity(GAMMA).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize('bad', [0, -1, 1.5, 'twice', True])
def test_l1_repeats_rejects_bad_values(bad):
    with pytest.raises(ValueError, match='l1_repeats'):
        cen_module(l1_repeats=bad)


@pytest.mark.parametrize('mode, weight, repeats', [(None, 5e-3, 1), ('paper', 5e-3, 1),
                                                   ('official', 2e-4, 3)])
def test_l1_term_of_a_resolved_config_per_mode(mode, weight, repeats):
    cfg = resolve_config(with_fidelity(CEN, mode), get_protocol('paper'), seed=0)
    cfg.model.backbone.update(depth=18, width=0.125, pretrained=None)
    cfg.model.decode_head.width = 0.0625
    model = build_model(cfg)
    fusions = model.fusion_modules()
    assert fusions and all(f.l1_weight == weight and f.l1_repeats == repeats for f in fusions)
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, ModalityNorm)):
            norm.weight.fill_(0.5)
    _, losses = model.backbone(torch.randn(4, 3, 32, 32))
    half = sum(f.penalised.sum().item() * 0.5 for f in fusions)
    assert losses['loss_l1'].item() == pytest.approx(repeats * weight * half, rel=1e-5)


# ----------------------------------------------------------------------------- the switch
def test_paper_mode_changes_nothing():
    plain = resolve_config(with_fidelity(CEN, None), get_protocol('paper'), seed=0)
    paper = resolve_config(with_fidelity(CEN, 'paper'), get_protocol('paper'), seed=0)
    paper.pop('fidelity')
    assert plain.to_dict() == paper.to_dict()
    assert plain.model.backbone.pretrained == 'checkpoints/resnet101-63fe2227.pth'


def test_official_mode_rewrites_the_config():
    cfg = resolve_config(with_fidelity(CEN, 'official'), get_protocol('paper'), seed=0)
    assert cfg.model.backbone.norm_eval is True
    assert cfg.model.decode_head.residual == 'relu' and cfg.model.decode_head.align_corners
    assert cfg.model.fusion.l1_weight == 2e-4 and cfg.model.fusion.l1_repeats == 'heads'
    assert cfg.param_scheduler is None
    hook = cfg.custom_hooks[-1]
    assert hook['type'] == 'LRStagesHook' and hook['ends'] == (100, 200) and hook['by_epoch']
    lr_dec, mult = cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.paramwise_cfg.custom_keys[
        'backbone']['lr_mult']
    # the public code's rates: LR_ENC = [5e-4, 2.5e-4, 1e-4], LR_DEC = [3e-3, 1.5e-3, 7e-4]
    assert [lr_dec * mult * f for f in hook['encoder_factors']] == pytest.approx(
        [5e-4, 2.5e-4, 1e-4])
    assert [lr_dec * f for f in hook['decoder_factors']] == pytest.approx([3e-3, 1.5e-3, 7e-4])


def test_official_mode_on_a_small_protocol_keeps_its_calibration_and_budget():
    cfg = resolve_config(with_fidelity(CEN, 'official'), get_protocol('mini'), seed=0)
    # λ per layer comes from the protocol's calibration at run time (pretrain.apply_pretraining)
    assert cfg.pretraining['protocol'] == 'mini' and cfg.model.fusion.l1_repeats == 'heads'
    assert cfg.model.backbone.pretrained is None  # the pretrained encoder, at run time
    hook = cfg.custom_hooks[-1]
    assert hook['ends'] == (200, 400) and hook['by_epoch'] is False


def test_official_configs_resolve():
    cfg = resolve_config('official/cen_refinenet-r152_450e_nyudv2-40.py', get_protocol('paper'),
                         seed=0)
    assert cfg.custom_hooks[-1]['ends'] == (150, 300)
    assert cfg.model.fusion.exchange == 'all' and cfg.model.fusion.l1 == 'half'


def test_unknown_fidelity_fails_in_one_line():
    with pytest.raises(ValueError, match="config key 'fidelity' must be one of"):
        apply_fidelity(Config(dict(fidelity='authors', model=dict())))


# ----------------------------------------------------------------------------- LR stages
class TwoPart(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 2)
        self.head = nn.Linear(2, 1)


def fake_runner(model: nn.Module, optimizer, epoch: int = 0):
    return SimpleNamespace(model=model, optim_wrapper=SimpleNamespace(optimizer=optimizer),
                           epoch=epoch, iter=epoch * 10)


def make_optimizer(model):
    return torch.optim.SGD([{'params': [p], 'lr': 5e-4 if n.startswith('backbone') else 3e-3}
                            for n, p in model.named_parameters()], lr=3e-3, momentum=0.9)


def step(model, optimizer):
    optimizer.zero_grad()
    model.head(model.backbone(torch.ones(1, 2))).sum().backward()
    optimizer.step()


def lrs(model, optimizer):
    names = [n for n, _ in model.named_parameters()]
    return {n.split('.')[0]: g['lr'] for n, g in zip(names, optimizer.param_groups)}


def test_lr_stages_set_the_public_rates_and_reset_momentum():
    torch.manual_seed(0)
    model = TwoPart()
    optimizer = make_optimizer(model)
    hook = LRStagesHook(ends=(100, 200), encoder_factors=(1, 0.5, 0.2),
                        decoder_factors=(1, 0.5, 7 / 30))
    runner = fake_runner(model, optimizer)
    hook.before_train(runner)
    step(model, optimizer)
    assert optimizer.state  # momentum buffers exist
    runner.epoch = 99
    hook.before_train_epoch(runner)
    assert lrs(model, optimizer) == pytest.approx({'backbone': 5e-4, 'head': 3e-3})
    assert optimizer.state
    runner.epoch = 100
    hook.before_train_epoch(runner)
    assert lrs(model, optimizer) == pytest.approx({'backbone': 2.5e-4, 'head': 1.5e-3})
    assert not optimizer.state  # re-created: no momentum
    step(model, optimizer)
    saved = optimizer.state_dict()
    runner.epoch = 200
    hook.before_train_epoch(runner)
    assert lrs(model, optimizer) == pytest.approx({'backbone': 1e-4, 'head': 7e-4})
    # resumed in stage 2 from a checkpoint of stage 1: same base rates, stage-2 values
    fresh = make_optimizer(model)
    fresh.load_state_dict(saved)
    resumed = fake_runner(model, fresh, epoch=250)
    LRStagesHook(ends=(100, 200), encoder_factors=(1, 0.5, 0.2),
                 decoder_factors=(1, 0.5, 7 / 30)).before_train(resumed)
    assert lrs(model, fresh) == pytest.approx({'backbone': 1e-4, 'head': 7e-4})


def test_lr_stages_reject_bad_settings():
    with pytest.raises(ValueError, match='one per stage'):
        LRStagesHook(ends=(100, 200), encoder_factors=(1, 0.5), decoder_factors=(1, 0.5, 0.2))
    with pytest.raises(ValueError, match='increasing'):
        LRStagesHook(ends=(200, 100), encoder_factors=(1, 1, 1), decoder_factors=(1, 1, 1))
    model = TwoPart()
    mixed = torch.optim.SGD(model.parameters(), lr=0.1)
    hook = LRStagesHook(ends=(1,), encoder_factors=(1, 1), decoder_factors=(1, 1))
    with pytest.raises(ValueError, match='separate parameter groups'):
        hook.before_train(fake_runner(model, mixed))


@pytest.mark.slow
def test_official_mode_trains_end_to_end(tmp_path):
    from fusionbench.experiments.run import train_and_evaluate
    cfg = resolve_config(with_fidelity(CEN, 'official'), get_protocol('smoke'), seed=0,
                         work_dir=str(tmp_path / 'work'))
    result = train_and_evaluate(cfg)
    assert set(result['metrics']) >= {'rgb', 'depth', 'ensemble', 'primary'}
