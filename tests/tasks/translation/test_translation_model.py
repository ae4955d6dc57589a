"""pix2pix U-Net generator, PatchGAN, fusion points and the two-optimiser training step."""
from __future__ import annotations

import pytest
import torch
from mmengine.optim import OptimWrapperDict, build_optim_wrapper
from mmengine.registry import DefaultScope

from fusionbench import registry
from fusionbench.fusion import ChannelExchange
from fusionbench.modal import ModalityNorm
from fusionbench.tasks.translation import (CEN_TRANSLATION, ENSEMBLE, MultiDomainPix2Pix,
                                           PatchDiscriminator, UNetGenerator, fusion_layers)

ADAM = dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))


def small(m, fusion=None, depth=4, ngf=4):
    torch.manual_seed(0)
    return UNetGenerator(num_modalities=m, in_channels=3, depth=depth, ngf=ngf, fusion=fusion)


@pytest.mark.parametrize('m', [1, 2, 3, 4])
def test_generator_shapes(m):
    g = small(m, CEN_TRANSLATION if m > 1 else None)
    out, losses = g(torch.randn(m * 2, 3, 32, 32))
    heads = [str(k) for k in range(m)] + ([ENSEMBLE] if m > 1 else [])
    assert list(out) == heads == list(g.heads)
    for y in out.values():
        assert y.shape == (2, 3, 32, 32) and y.abs().max() <= 1
    assert set(losses) == ({'loss_l1'} if m > 1 else set())


def test_unet256_matches_pix2pix():
    g = UNetGenerator(num_modalities=1, depth=8, ngf=64)
    assert g.widths == (64, 128, 256, 512, 512, 512, 512, 512)
    assert [b.norm is not None for b in g.down] == [False] + [True] * 6 + [False]
    assert [any(isinstance(x, torch.nn.Dropout) for x in b.body) for b in g.up] == \
        [True] * 3 + [False] * 5
    assert [b.body[1].in_channels for b in g.up] == [512] + [1024] * 3 + [1024, 512, 256, 128]
    # pix2pix's unet_256 has 54.41 M parameters (with IN instead of BN: 54.41 M)
    assert abs(sum(p.numel() for p in g.parameters()) / 1e6 - 54.41) < 0.02


@pytest.mark.parametrize('m', [1, 2, 3, 4])
def test_discriminator_shapes(m):
    d = PatchDiscriminator(in_channels=m * 3 + 3, ndf=4)
    assert d(torch.randn(2, m * 3 + 3, 64, 64)).shape == (2, 1, 6, 6)
    assert PatchDiscriminator.receptive_field(3) == 70
    model = MultiDomainPix2Pix(generator=dict(num_modalities=m, depth=4, ngf=4),
                               discriminator=dict(ndf=4))
    assert model.discriminator.in_channels == 3 * m + 3


def test_discriminator_errors():
    d = PatchDiscriminator(in_channels=6, ndf=4)
    with pytest.raises(ValueError, match=r'expects \[N, 6, H, W\]'):
        d(torch.randn(2, 5, 64, 64))
    with pytest.raises(ValueError, match='too small'):
        d(torch.randn(1, 6, 8, 8))


def test_private_instance_norms_shared_convs():
    g = small(3, CEN_TRANSLATION)
    norm = g.down[1].norm
    assert isinstance(norm, ModalityNorm) and norm.kind == 'in'
    assert norm.weight.shape == (3, g.widths[1])
    # the decoder's norms are shared (plain InstanceNorm2d with one affine set)
    assert all(isinstance(b.body[2], torch.nn.InstanceNorm2d) for b in g.up[:-1])
    # convs are shared: one weight tensor, whatever M
    assert g.down[1].conv.weight.shape == small(1).down[1].conv.weight.shape


def test_cen_settings_and_points():
    g = small(2, CEN_TRANSLATION, depth=5)
    mods = g.fusion_modules()
    assert [m.point.name for m in mods] == ['down2', 'down3', 'down4']
    assert all(isinstance(m, ChannelExchange) and m.threshold == 1e-2 and m.l1_weight == 1e-3
               for m in mods)


def test_exchange_with_instance_norm():
    """A channel whose private IN γ is below θ is replaced by the other domain's channel."""
    g = small(2, dict(CEN_TRANSLATION, layers=(2,)), depth=3)
    block = g.down[1]
    with torch.no_grad():
        block.norm.weight.fill_(1.0)
        block.norm.weight[0, 0] = 0.0      # domain 0, channel 0 (its own sub-part): exchanged
        block.norm.weight[1, 0] = 0.0      # channel 0 belongs to domain 0's sub-part: kept
    x = torch.randn(4, g.widths[0], 8, 8)
    normed = block.norm(block.conv(block.act(x)))
    y, losses = block(x)
    n = 2
    torch.testing.assert_close(y[:n, 0], normed[n:, 0])       # replaced by domain 1
    torch.testing.assert_close(y[n:, 0], normed[n:, 0])       # domain 1 keeps its own
    torch.testing.assert_close(y[:, 1:], normed[:, 1:])
    # λ Σ|γ| over each domain's own half of the channels: domain 0 has one γ at 0
    c = g.widths[1]
    own = c // 2
    expected = 1e-3 * ((own - 1) + (c - own))
    torch.testing.assert_close(losses['loss_l1'], torch.tensor(expected))


def test_fusion_layer_mapping():
    assert fusion_layers('early', 8, 'stage') == (1,)
    assert fusion_layers('middle', 8, 'stage') == (4,)
    assert fusion_layers('late', 8, 'stage') == (8,)
    assert fusion_layers('all', 8, 'stage') == tuple(range(1, 9))
    assert fusion_layers('all', 8, 'block') == tuple(range(2, 8))
    assert fusion_layers('early', 5, 'block') == (2,)
    assert fusion_layers('middle', 5, 'stage') == (2,)
    assert fusion_layers('late', 5, 'block') == (4,)
    assert fusion_layers('middle', 3, 'block') == (2,)      # the only normalised block
    with pytest.raises(ValueError, match='no norm'):
        fusion_layers((1,), 6, 'block')
    with pytest.raises(ValueError, match='one of'):
        fusion_layers('first', 6, 'stage')
    with pytest.raises(ValueError, match='within 1..6'):
        fusion_layers((7,), 6, 'stage')


def test_stage_baseline_keeps_streams():
    g = small(2, dict(type='concat', keep_streams=True, layers='late'), depth=4)
    assert [m.point.name for m in g.fusion_modules()] == ['down4']
    out, _ = g(torch.randn(4, 3, 16, 16))
    assert out['0'].shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match='keep_streams=True'):
        small(2, dict(type='concat', layers='early'), depth=4)


@pytest.mark.parametrize('method', [dict(type='concat', keep_streams=True),
                                    dict(type='average', keep_streams=True),
                                    dict(type='self_attention', keep_streams=True, reduction=2),
                                    dict(type='align_mmd')])
def test_baselines_plug_in_with_instance_norms(method):
    """Every baseline at every layer, batch of 1 (pix2pix), 1 x 1 bottleneck."""
    g = small(2, dict(method, layers='all'), depth=4)
    assert [m.point.name for m in g.fusion_modules()] == ['down1', 'down2', 'down3', 'down4']
    assert [m.point.norm_kind for m in g.fusion_modules()] == ['none', 'in', 'in', 'none']
    assert all(n.kind == 'in' for f in g.fusion_modules() for n in f.modules()
               if isinstance(n, ModalityNorm))
    out, losses = g(torch.randn(2, 3, 16, 16))
    assert out['ensemble'].shape == (1, 3, 16, 16)
    assert set(losses) == ({'loss_mmd'} if method['type'] == 'align_mmd' else set())


def test_generator_input_errors():
    g = small(2, depth=4)
    with pytest.raises(ValueError, match='divisible by 16'):
        g(torch.randn(4, 3, 24, 24))
    with pytest.raises(ValueError, match='not divisible by 2 modalities'):
        g(torch.randn(3, 3, 16, 16))
    with pytest.raises(ValueError, match=r'\[M\*N, 3, H, W\]'):
        g(torch.randn(4, 1, 16, 16))
    with pytest.raises(ValueError, match='depth must be >= 3'):
        UNetGenerator(depth=2)
    with pytest.raises(ValueError, match='gan_mode'):
        MultiDomainPix2Pix(generator=dict(num_modalities=1, depth=3, ngf=4), gan_mode='wgan')


def _model(m=2, gan_mode='vanilla'):
    torch.manual_seed(0)
    return registry.build(registry.MODELS, dict(
        type='MultiDomainPix2Pix', gan_mode=gan_mode,
        generator=dict(num_modalities=m, depth=4, ngf=4, fusion=CEN_TRANSLATION if m > 1 else None),
        discriminator=dict(ndf=4, num_layers=2)))


def _wrappers(model, lr=2e-4):
    adam = dict(optimizer=dict(type='Adam', lr=lr, betas=(0.5, 0.999)))
    with DefaultScope.overwrite_default_scope('fusionbench'):
        return build_optim_wrapper(model, dict(constructor='PerNetworkOptimWrapperConstructor',
                                               generator=adam, discriminator=adam))


def _data(m=2, n=2, hw=32):
    g = torch.Generator().manual_seed(1)
    return dict(inputs=[torch.rand(n, 3, hw, hw, generator=g) * 2 - 1 for _ in range(m)],
                target=torch.rand(n, 3, hw, hw, generator=g) * 2 - 1)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before, module):
    return {k for k, v in module.named_parameters() if not torch.equal(before[k], v)}


@pytest.mark.parametrize('gan_mode', ['vanilla', 'lsgan'])
def test_train_step_updates_each_network_in_its_step(gan_mode, monkeypatch):
    model = _model(gan_mode=gan_mode)
    wrappers = _wrappers(model)
    assert isinstance(wrappers, OptimWrapperDict) and set(wrappers.keys()) == {
        'generator', 'discriminator'}
    g0, d0 = _snapshot(model.generator), _snapshot(model.discriminator)
    seen = {}

    # record which parameters changed at each optimiser's update
    def spy(name):
        wrapper = wrappers[name]
        original = wrapper.update_params

        def update(loss, **kwargs):
            gb, db = _snapshot(model.generator), _snapshot(model.discriminator)
            original(loss, **kwargs)
            seen[name] = (_changed(gb, model.generator), _changed(db, model.discriminator))
        monkeypatch.setattr(wrapper, 'update_params', update)
    spy('generator')
    spy('discriminator')
    logs = model.train_step(_data(), wrappers)
    g_changed, d_changed = seen['discriminator']
    assert not g_changed and d_changed == set(d0)          # D step: only D
    g_changed, d_changed = seen['generator']
    assert not d_changed and g_changed == set(g0) and 'alpha' in g_changed   # G step: only G
    assert all(p.requires_grad for p in model.discriminator.parameters())   # restored
    assert {'loss_d', 'loss_g', 'loss_d_real', 'loss_d_fake', 'loss_gan_0', 'loss_gan_1',
            'loss_rec_0', 'loss_rec_1', 'loss_rec_ensemble', 'loss_l1', 'loss'} == set(logs)
    assert all(torch.isfinite(v) and not v.requires_grad for v in logs.values())
    torch.testing.assert_close(logs['loss_d'], logs['loss_d_real'] + logs['loss_d_fake'])
    # 'loss' (read by FiniteLossHook): both networks' losses
    torch.testing.assert_close(logs['loss'], logs['loss_d'] + logs['loss_g'])


def test_train_step_reduces_l1_on_a_fixed_batch():
    model = _model(m=2)
    wrappers = _wrappers(model, lr=2e-3)
    data = _data()
    data['target'] = torch.full_like(data['target'], 0.6)     # learnable within a few steps
    first = model.train_step(data, wrappers)['loss_rec_ensemble']
    for _ in range(15):
        last = model.train_step(data, wrappers)['loss_rec_ensemble']
    assert last < 0.7 * first


def test_val_step_no_grad_and_errors():
    model = _model(m=2).eval()
    data = _data()
    out = model.val_step(data)
    assert len(out) == 2 and set(out[0]['pred']) == {'0', '1', ENSEMBLE}
    assert not out[0]['pred'][ENSEMBLE].requires_grad
    assert out[0]['pred'][ENSEMBLE].shape == (3, 32, 32)
    assert torch.equal(out[1]['target'], data['target'][1])
    assert model.primary_head() == ENSEMBLE
    with pytest.raises(ValueError, match='got 3 input domains'):
        model.val_step(_data(m=3))
    with pytest.raises(KeyError, match="needs data\\['target'\\]"):
        model.train_step(dict(inputs=_data()['inputs']), _wrappers(model))


def test_constructor_errors():
    from fusionbench.tasks.translation import PerNetworkOptimWrapperConstructor as C
    with pytest.raises(ValueError, match='no sub-network'):
        C(dict(critic=ADAM))(_model(m=1))
    with pytest.raises(ValueError, match='no network configs'):
        C(dict(constructor='x'))
