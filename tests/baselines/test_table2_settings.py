"""Both settings of Table 2 for every baseline: topology, heads, losses, gradients, weights.

Same setting: :class:`MultiModalSegmentor` (shared convs, private BNs) with a stream-keeping
fusion. Commonly-used setting: :class:`SeparateStreamsSegmentor` -- separate networks, merged
into one stream after the last fusion point (aggregation) or kept whole (alignment).
"""
from __future__ import annotations

import pytest
import torch
import torchvision

from fusionbench import registry
from fusionbench.evaluation.params import parameter_counts
from fusionbench.fusion.base import STAGE_SETS
from fusionbench.models.resnet import MultiModalResNet
from fusionbench.models.separate_streams import SeparateStreamsResNet

K = 5
TINY = dict(depth=18, width=0.125)
AGGREGATION = ('concat', 'average', 'self_attention')
STAGES = STAGE_SETS


def segmentor(setting, fusion, modalities=('rgb', 'depth')):
    common = setting == 'common'
    return registry.build(registry.MODELS, dict(
        type='SeparateStreamsSegmentor' if common else 'MultiModalSegmentor',
        modalities=modalities, num_classes=K,
        backbone=dict(type='SeparateStreamsResNet' if common else 'MultiModalResNet', **TINY),
        decode_head=dict(type='RefineNetDecoder', width=0.0625), fusion=fusion))


def fusion_cfg(method, stages, setting):
    """The fusion config of Table 2's cell, from the method's card (the grid's own source)."""
    stage = next(name for name, ids in STAGES.items() if ids == stages)
    return registry.FUSIONS.get(method).card.fusion_cfg(stage, setting)


@pytest.mark.parametrize('stage', ['early', 'all'])  # middle / late: the split test below
@pytest.mark.parametrize('method', [*AGGREGATION, 'align_mmd'])
@pytest.mark.parametrize('setting', ['common', 'same'])
def test_heads_shapes_and_losses(setting, method, stage):
    model = segmentor(setting, fusion_cfg(method, STAGES[stage], setting))
    merges = setting == 'common' and method != 'align_mmd'
    assert model.heads == (('fused',) if merges else ('rgb', 'depth', 'ensemble'))
    x = torch.randn(4, 3, 32, 32)
    logits, losses = model.head_logits(x)
    assert set(logits) == set(model.heads)
    assert all(tuple(v.shape) == (2, K, 8, 8) for v in logits.values())
    assert set(losses) == ({'loss_mmd'} if method == 'align_mmd' else set())
    total = sum(v.float().mean() for v in logits.values()) + sum(losses.values(), torch.zeros(()))
    total.backward()
    fusion_grads = [p.grad for f in model.fusion_modules() for p in f.parameters()]
    assert all(g is not None for g in fusion_grads)


def test_merging_fusion_is_refused_by_the_same_setting_backbone():
    with pytest.raises(ValueError, match='SeparateStreamsResNet'):
        segmentor('same', dict(type='concat', keep_streams=False, stages=(2,)))


@pytest.mark.parametrize('stage,split_until', [('early', 2), ('middle', 3), ('late', 4),
                                               ('all', 4)])
def test_commonly_used_aggregation_splits_until_the_last_fusion_stage(stage, split_until):
    net = SeparateStreamsResNet(num_modalities=2, fusion=dict(type='average', stages=STAGES[stage]),
                                **TINY)
    assert net.num_streams == 1 and net.split_until == split_until
    assert all(len(s.layer4) == (2 if split_until == 4 else 0) for s in net.streams)
    assert (net.trunk is None) == (split_until == 4)
    one = MultiModalResNet(num_modalities=1, **TINY)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    per_stage = [count(one.layer1) + count(one.conv1) + count(one.bn1), count(one.layer2),
                 count(one.layer3), count(one.layer4)]
    expected = 2 * sum(per_stage[:split_until]) + sum(per_stage[split_until:])
    assert count(net) == expected  # average: no fusion parameters


def test_levels_without_fusion_are_the_modality_mean_and_fused_levels_the_fusion():
    net = SeparateStreamsResNet(num_modalities=2, fusion=dict(type='concat', stages=(3,)),
                                **TINY).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        levels, _ = net(x)
        own = [net.streams[m](x[2 * m:2 * m + 2])[0] for m in range(2)]
        fused3, _ = net.fusions['3'](torch.cat([own[0][2], own[1][2]]))
        l4, _ = net.trunk.forward_stage(4, fused3)
    assert torch.allclose(levels[0], (own[0][0] + own[1][0]) / 2, atol=1e-6)
    assert torch.allclose(levels[1], (own[0][1] + own[1][1]) / 2, atol=1e-6)
    assert torch.allclose(levels[2], fused3, atol=1e-6)
    assert torch.allclose(levels[3], l4, atol=1e-5)


def test_commonly_used_alignment_is_two_full_networks_plus_the_projection():
    aligned = segmentor('common', dict(type='align_mmd', stages=(4,)))
    unimodal = segmentor('same', None, modalities=('rgb',))
    counts, uni = parameter_counts(aligned), parameter_counts(unimodal)
    assert len(aligned.decode_head) == 2
    assert counts['total'] == 2 * uni['total'] + counts['fusion'] + 2  # + α of the ensemble


def test_stream_keeping_fusion_in_separate_networks_changes_the_streams():
    model = segmentor('common', dict(type='average', keep_streams=True, stages=(2,)))
    assert model.heads == ('rgb', 'depth', 'ensemble')
    levels, _ = model.backbone(torch.randn(4, 3, 32, 32))
    assert torch.allclose(levels[1][:2], levels[1][2:])  # both streams continue from the mean


def test_predict_sets_the_fused_head_as_the_prediction():
    model = segmentor('common', dict(type='concat', stages=(2,))).eval()
    samples = model.predict(torch.randn(4, 3, 32, 32))
    assert len(samples) == 2
    assert torch.equal(samples[0].pred_sem_seg.data, samples[0].pred_fused.data)


def test_block_position_fusion_is_refused_by_separate_networks():
    with pytest.raises(ValueError, match="position 'block'"):
        SeparateStreamsResNet(num_modalities=2, fusion=dict(type='cen'), **TINY)


def test_split_resnet_parts_load_their_share_of_torchvision_weights(tmp_path):
    path = tmp_path / 'resnet18.pth'
    reference = torchvision.models.resnet18()
    torch.save(reference.state_dict(), path)
    head = MultiModalResNet(depth=18, num_modalities=1, last_stage=2, pretrained=str(path))
    trunk = MultiModalResNet(depth=18, num_modalities=1, first_stage=3, pretrained=str(path))
    head.init_weights()
    trunk.init_weights()
    assert not hasattr(trunk, 'conv1') and len(head.layer3) == 0
    assert torch.equal(head.layer2[0].conv1.weight, reference.layer2[0].conv1.weight)
    assert torch.equal(trunk.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    features, _ = trunk(torch.randn(2, 128, 4, 4))
    assert [tuple(f.shape) for f in features] == [(2, 256, 2, 2), (2, 512, 1, 1)]
