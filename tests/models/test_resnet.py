"""Multimodal ResNet: shapes, parameter counts of the paper, torchvision weights."""
from __future__ import annotations

import pytest
import torch
import torchvision

from fusionbench import registry
from fusionbench.evaluation.params import millions, parameter_counts
from fusionbench.models.resnet import MultiModalResNet, UnsharedResNet


def segmentor(modalities, fusion=None, depth=101, width=1.0, num_classes=40):
    return registry.build(registry.MODELS, dict(
        type='MultiModalSegmentor', modalities=modalities, num_classes=num_classes,
        backbone=dict(type='MultiModalResNet', depth=depth, width=width),
        decode_head=dict(type='RefineNetDecoder', width=width), fusion=fusion))


def test_refinenet_r101_parameter_counts_match_table2():
    uni = parameter_counts(segmentor(('rgb',)))
    cen = parameter_counts(segmentor(('rgb', 'depth'), dict(type='cen')))
    assert uni['backbone'] == 42_500_160          # ResNet-101 without fc
    assert uni['decode_head'] == 75_596_072
    assert millions(uni['total']) == 118.1
    assert millions(cen['total']) == 118.2
    assert cen['fusion'] == 0


@pytest.mark.parametrize('depth', [18, 34, 50, 101, 152])
def test_every_depth_builds_and_runs(depth):
    width = 0.125 if depth >= 50 else 0.25
    net = MultiModalResNet(depth=depth, num_modalities=2, width=width,
                           fusion=dict(type='cen', stages=(3, 4)))
    features, losses = net(torch.randn(4, 3, 32, 32))
    assert [f.shape[0] for f in features] == [4] * 4
    assert [f.shape[1] for f in features] == net.out_channels
    assert [f.shape[-1] for f in features] == [8, 4, 2, 1]
    assert set(losses) == {'loss_l1'}
    points = [f.point.name for f in net.fusion_modules()]
    assert points and all(p.startswith(('layer3', 'layer4')) for p in points)


def test_unshared_resnet_keeps_separate_weights():
    net = UnsharedResNet(num_modalities=2, depth=18, width=0.25)
    assert len(net.streams) == 2
    features, _ = net(torch.randn(4, 3, 32, 32))
    assert features[-1].shape[0] == 4
    shared = MultiModalResNet(depth=18, num_modalities=2, width=0.25)
    n_params = lambda m: sum(p.numel() for p in m.parameters())
    assert n_params(net) > 1.9 * n_params(shared) - n_params(shared.bn1)


def test_torchvision_weights_load_into_every_modality(tmp_path):
    reference = torchvision.models.resnet18()
    with torch.no_grad():
        reference.bn1.weight.uniform_(0.2, 0.4)
    path = tmp_path / 'resnet18.pth'
    torch.save(reference.state_dict(), path)
    net = MultiModalResNet(depth=18, num_modalities=2, pretrained=str(path))
    net.init_weights()
    assert torch.equal(net.conv1.weight, reference.conv1.weight)
    assert torch.equal(net.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    for m in range(2):
        assert torch.equal(net.bn1.weight[m], reference.bn1.weight)
        assert torch.equal(net.layer2[0].downsample[1].running_var[m],
                           reference.layer2[0].downsample[1].running_var)


def test_missing_weights_name_the_path(tmp_path):
    net = MultiModalResNet(depth=18, num_modalities=2, pretrained=str(tmp_path / 'nope.pth'))
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        net.init_weights()


def test_weights_of_another_width_fail_clearly(tmp_path):
    path = tmp_path / 'resnet18.pth'
    torch.save(torchvision.models.resnet18().state_dict(), path)
    net = MultiModalResNet(depth=18, num_modalities=2, width=0.5, pretrained=str(path))
    with pytest.raises(ValueError, match='width 0.5'):
        net.init_weights()


def _points(net):
    return [f.point.name for f in net.fusion_modules()]


def test_basic_blocks_exchange_after_both_3x3_norms():
    """§4.1: exchange after every 3×3 convolution -- both of a basic block's, before the sum."""
    net = MultiModalResNet(depth=18, num_modalities=2, width=0.125, fusion=dict(type='cen'))
    assert _points(net) == [f'layer{s}.{b}.{n}' for s in range(1, 5) for b in range(2)
                            for n in ('bn1', 'bn2')]
    block = net.layer2[0]
    assert set(block.fusions) == {'bn1', 'bn2'}
    assert [f.point.channels for f in block.fusions.values()] == [16, 16]
    seen = []
    for name, fusion in block.fusions.items():
        fusion.register_forward_hook(lambda m, args, out, name=name: seen.append(
            (name, args[1] is getattr(block, name))))
    _, losses = net(torch.randn(4, 3, 32, 32))
    assert seen == [('bn1', True), ('bn2', True)]  # each point reads its own norm's γ
    # ℓ1 over both norms' penalised γ's: 16 points × λ Σ|γ| with γ = 1 → λ · C per point
    assert float(losses['loss_l1'].detach()) == pytest.approx(
        5e-3 * sum(f.point.channels for f in net.fusion_modules()))


def test_bottleneck_blocks_exchange_after_their_one_3x3_norm():
    net = MultiModalResNet(depth=50, num_modalities=2, width=0.125,
                           fusion=dict(type='cen', stages=(1, 2)))
    assert _points(net) == [f'layer1.{b}.bn2' for b in range(3)] + \
        [f'layer2.{b}.bn2' for b in range(4)]
    assert net.layer1[0].fusions['bn2'].point.channels == net.layer1[0].conv2.out_channels


def test_exchange_positions_are_configurable():
    net = MultiModalResNet(depth=18, num_modalities=2, width=0.125,
                           fusion=dict(type='cen', stages=(4,), after_norms=('bn1',)))
    assert _points(net) == ['layer4.0.bn1', 'layer4.1.bn1']
    net = MultiModalResNet(depth=18, num_modalities=2, width=0.125,
                           fusion=dict(type='cen', stages=(4,), after_norms='bn2'))
    assert _points(net) == ['layer4.0.bn2', 'layer4.1.bn2']
    with pytest.raises(ValueError, match=r"BasicBlock has 3×3 convolution norms \('bn1', 'bn2'\)"):
        MultiModalResNet(depth=18, num_modalities=2, width=0.125,
                         fusion=dict(type='cen', after_norms=('bn3',)))
    with pytest.raises(ValueError, match=r"Bottleneck has 3×3 convolution norms \('bn2',\)"):
        MultiModalResNet(depth=50, num_modalities=2, width=0.125,
                         fusion=dict(type='cen', after_norms=('bn1',)))
