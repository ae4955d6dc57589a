"""Model parts of the §4.1 ablations: down-sampling placement, private convolutions, the
concat-fusion ensemble."""
from __future__ import annotations

import pytest
import torch
import torchvision

from fusionbench import registry
from fusionbench.models.resnet import MultiModalResNet

K = 5
DOWNSAMPLING = dict(stages=(1, 2, 3, 4), blocks=(0,), after_norms='first')


def _points(net):
    return [f.point.name for f in net.fusion_modules()]


def test_downsampling_placement_is_one_point_per_stage():
    """The strided 3×3 conv of each stage's first block: bn1 of a basic block, bn2 of a
    bottleneck (stage 1: the first block after the stem)."""
    net = MultiModalResNet(depth=18, num_modalities=2, width=0.125,
                           fusion=dict(type='fixed_exchange', **DOWNSAMPLING))
    assert _points(net) == [f'layer{s}.0.bn1' for s in range(1, 5)]
    assert [net.stages[s][0].conv1.stride for s in range(1, 4)] == [(2, 2)] * 3
    net = MultiModalResNet(depth=50, num_modalities=2, width=0.125,
                           fusion=dict(type='fixed_exchange', **DOWNSAMPLING))
    assert _points(net) == [f'layer{s}.0.bn2' for s in range(1, 5)]
    with pytest.raises(ValueError, match=r'stage 1 has blocks 0..1'):
        MultiModalResNet(depth=18, num_modalities=2, width=0.125,
                         fusion=dict(type='fixed_exchange', blocks=(2,)))


def test_cen_placement_is_unchanged_without_the_new_keys():
    net = MultiModalResNet(depth=18, num_modalities=2, width=0.125, fusion=dict(type='cen'))
    assert len(_points(net)) == 16


def test_private_convs_run_one_copy_per_modality():
    torch.manual_seed(0)
    net = MultiModalResNet(depth=18, num_modalities=2, width=0.125, conv_sharing='private')
    assert len(net.layer1[0].conv1.convs) == 2 and net.layer1[0].conv1.out_channels == 8
    shared = MultiModalResNet(depth=18, num_modalities=2, width=0.125)
    count = lambda m: sum(p.numel() for p in m.parameters())
    convs = sum(p.numel() for n, p in shared.named_parameters()
                if 'conv' in n or 'downsample.0' in n)
    assert count(net) == count(shared) + convs  # every convolution twice
    assert torch.equal(net.conv1.convs[0].weight, net.conv1.convs[1].weight)  # copies ...
    net.init_weights()  # ... each initialised under its own name
    assert not torch.equal(net.conv1.convs[0].weight, net.conv1.convs[1].weight)
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    rgb_only = net(x[:1].repeat(2, 1, 1, 1))[0][-1]
    assert not torch.allclose(rgb_only[0], rgb_only[1])  # the modalities' convs differ
    with pytest.raises(ValueError, match="conv_sharing must be 'shared' or 'private'"):
        MultiModalResNet(depth=18, conv_sharing='separate')


def test_torchvision_weights_load_into_every_private_copy(tmp_path):
    reference = torchvision.models.resnet18()
    path = tmp_path / 'resnet18.pth'
    torch.save(reference.state_dict(), path)
    net = MultiModalResNet(depth=18, num_modalities=2, pretrained=str(path),
                           conv_sharing='private', fusion=dict(type='cbn'))
    net.init_weights()
    for m in range(2):
        assert torch.equal(net.conv1.convs[m].weight, reference.conv1.weight)
        assert torch.equal(net.layer2[0].downsample[0].convs[m].weight,
                           reference.layer2[0].downsample[0].weight)
    shared = MultiModalResNet(depth=18, num_modalities=2, pretrained=str(path))
    shared.init_weights()
    net.eval()
    shared.eval()
    x = torch.randn(4, 3, 32, 32)
    # the same start: identical copies and a zero-initialised CBN give the shared network
    assert torch.allclose(net(x)[0][-1], shared(x)[0][-1], atol=1e-5)


def _segmentor(kind):
    return registry.build(registry.MODELS, dict(
        type=kind, modalities=('rgb', 'depth'), num_classes=K,
        backbone=dict(type='MultiModalResNet', depth=18, width=0.125),
        decode_head=dict(type='RefineNetDecoder', width=0.0625), fusion=dict(type='cen')))


def test_concat_ensemble_starts_as_the_ensemble_of_experts():
    torch.manual_seed(0)
    ensemble = _segmentor('MultiModalSegmentor')
    concat = _segmentor('ConcatEnsembleSegmentor')
    concat.load_state_dict(ensemble.state_dict(), strict=False)
    concat.reset_concat_fusion()
    assert not hasattr(concat, 'alpha')
    assert concat.concat_fusion.weight.shape == (K, 2 * K, 1, 1)
    x = torch.randn(4, 3, 32, 32)
    ensemble.eval()
    concat.eval()
    a, b = ensemble(x), concat(x)
    assert set(a) == set(b) == {'rgb', 'depth', 'ensemble'}
    assert b['ensemble'].shape == (2, K, 8, 8)
    assert torch.allclose(a['ensemble'], b['ensemble'], atol=1e-6)  # softmax(1, 1) = mean
    assert torch.allclose(b['ensemble'], (b['rgb'] + b['depth']) / 2, atol=1e-6)


def test_concat_ensemble_learns_only_from_the_ensemble_loss():
    concat = _segmentor('ConcatEnsembleSegmentor')
    logits = concat(torch.randn(4, 3, 32, 32))
    logits['ensemble'].sum().backward()
    assert concat.concat_fusion.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in concat.decode_head.parameters())  # detached inputs


def test_concat_ensemble_needs_two_modalities():
    with pytest.raises(ValueError, match='at least 2 modalities'):
        registry.build(registry.MODELS, dict(
            type='ConcatEnsembleSegmentor', modalities=('rgb',), num_classes=K,
            backbone=dict(type='MultiModalResNet', depth=18, width=0.125),
            decode_head=dict(type='RefineNetDecoder', width=0.0625)))
