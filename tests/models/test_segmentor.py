"""The segmentor: stacking, per-head losses, the α-ensemble over detached logits, predictions."""
from __future__ import annotations

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from fusionbench import registry

K = 5


def tiny_segmentor(fusion=None, modalities=('rgb', 'depth')):
    return registry.build(registry.MODELS, dict(
        type='MultiModalSegmentor', modalities=modalities, num_classes=K,
        backbone=dict(type='MultiModalResNet', depth=18, width=0.125),
        decode_head=dict(type='RefineNetDecoder', width=0.0625), fusion=fusion))


def batch(n=2, size=32):
    inputs = [{'rgb': torch.rand(3, size, size) * 255, 'depth': torch.rand(1, size, size)}
              for _ in range(n)]
    samples = []
    for _ in range(n):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, K, (1, size, size)))
        sample.set_metainfo({'img_shape': (size, size)})
        samples.append(sample)
    return {'inputs': inputs, 'data_samples': samples}


def test_preprocessor_stacks_modality_major_and_broadens_depth():
    model = tiny_segmentor()
    data = batch()
    out = model.data_preprocessor(data, training=True)
    stacked = out['inputs']
    assert tuple(stacked.shape) == (4, 3, 32, 32)
    assert torch.equal(stacked[1], data['inputs'][1]['rgb'])
    assert torch.equal(stacked[2], data['inputs'][0]['depth'].repeat(3, 1, 1))


def test_preprocessor_pads_labels_with_ignore():
    model = tiny_segmentor()
    data = batch(n=1, size=30)
    model.data_preprocessor.size_divisor = 32
    out = model.data_preprocessor(data, training=True)
    label = out['data_samples'][0].gt_sem_seg.data
    assert tuple(label.shape[-2:]) == (32, 32) and (label[..., 30:, :] == 255).all()


def test_loss_terms_per_head_plus_fusion_terms():
    model = tiny_segmentor(fusion=dict(type='cen', l1='half', l1_weight=5e-3))
    data = model.data_preprocessor(batch(), training=True)
    losses = model(**data, mode='loss')
    assert {'loss_ce_rgb', 'loss_ce_depth', 'loss_ce_ensemble'} <= set(losses)
    assert any(k.startswith('loss_l1') for k in losses)
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())


def test_ensemble_loss_trains_alpha_only():
    model = tiny_segmentor()
    data = model.data_preprocessor(batch(), training=True)
    losses = model(**data, mode='loss')
    losses['loss_ce_ensemble'].backward()
    assert model.alpha.grad is not None and model.alpha.grad.abs().sum() > 0
    assert all(p.grad is None or p.grad.abs().sum() == 0
               for name, p in model.named_parameters() if name != 'alpha')
    model.zero_grad()
    losses = model(**data, mode='loss')
    (losses['loss_ce_rgb'] + losses['loss_ce_depth']).backward()
    assert model.alpha.grad is None or model.alpha.grad.abs().sum() == 0


def test_ensemble_is_softmax_alpha_weighted_logits():
    model = tiny_segmentor().eval()
    with torch.no_grad():
        model.alpha.copy_(torch.tensor([0.0, 1.0]))
    inputs = model.data_preprocessor(batch(), training=False)['inputs']
    logits = model(inputs, mode='tensor')
    w = torch.softmax(torch.tensor([0.0, 1.0]), 0)
    assert torch.allclose(logits['ensemble'], w[0] * logits['rgb'] + w[1] * logits['depth'],
                          atol=1e-6)


def test_predict_sets_every_head_and_the_ensemble_as_primary():
    model = tiny_segmentor().eval()
    data = model.data_preprocessor(batch(), training=False)
    samples = model(**data, mode='predict')
    for sample in samples:
        for head in ('rgb', 'depth', 'ensemble'):
            assert tuple(sample.get(f'pred_{head}').data.shape) == (1, 32, 32)
        assert torch.equal(sample.pred_sem_seg.data, sample.pred_ensemble.data)


def test_unimodal_segmentor_has_no_ensemble():
    model = tiny_segmentor(modalities=('rgb',))
    assert model.heads == ('rgb',) and not hasattr(model, 'alpha')
