"""Multi-scale (+flip) testing of MultiModalSegmentor via ``test_cfg``."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from mmseg.structures import SegDataSample

from fusionbench import registry

K = 5
SCALES = (0.75, 1.0, 1.25)


def segmentor(test_cfg=None, modalities=('rgb', 'depth'), seed=0):
    torch.manual_seed(seed)
    model = registry.build(registry.MODELS, dict(
        type='MultiModalSegmentor', modalities=modalities, num_classes=K, test_cfg=test_cfg,
        backbone=dict(type='MultiModalResNet', depth=18, width=0.125),
        decode_head=dict(type='RefineNetDecoder', width=0.0625),
        fusion=dict(type='cen', exchange='directed', l1='half', threshold=2e-2)
        if len(modalities) > 1 else None))
    return model.eval()


def samples(n, size):
    out = []
    for _ in range(n):
        s = SegDataSample()
        s.set_metainfo({'img_shape': size})
        out.append(s)
    return out


def inputs(n=2, size=(40, 48), modalities=2):
    torch.manual_seed(1)
    return torch.randn(modalities * n, 3, *size)


def test_defaults_are_single_scale_without_flip():
    assert segmentor().test_cfg == {'mode': 'whole', 'scales': (1.0,), 'flip': False}


def test_single_scale_no_flip_is_the_plain_path():
    model, x = segmentor(dict(mode='whole', scales=(1.0,), flip=False)), inputs()
    plain, _ = model.head_logits(x)
    tested = model.test_logits(x, (1.0,), False)
    assert set(tested) == {'rgb', 'depth', 'ensemble'}
    for head in plain:
        assert torch.equal(tested[head], plain[head])
    preds = model.predict(x, samples(2, (40, 48)))
    for head in plain:
        full = F.interpolate(plain[head], size=(40, 48), mode='bilinear', align_corners=False)
        want = full.argmax(1, keepdim=True)
        got = torch.stack([s.get(f'pred_{head}').data for s in preds])
        assert torch.equal(got, want)
    assert torch.equal(preds[0].pred_sem_seg.data, preds[0].pred_ensemble.data)


def test_multi_scale_flip_shapes_and_average():
    model, x = segmentor(dict(scales=SCALES, flip=True)), inputs()
    tested = model.test_logits(x, SCALES, True)
    for head, value in tested.items():
        assert tuple(value.shape) == (2, K, 40, 48), head
    # the average, by hand, of the six passes resized to the input size
    total = 0
    for scale in SCALES:
        size = [round(40 * scale), round(48 * scale)]
        scaled = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        for flip in (False, True):
            logits, _ = model.head_logits(scaled.flip(-1) if flip else scaled)
            ens = logits['ensemble'].flip(-1) if flip else logits['ensemble']
            total = total + F.interpolate(ens, size=(40, 48), mode='bilinear',
                                          align_corners=False)
    torch.testing.assert_close(tested['ensemble'], total / 6)
    preds = model.predict(x, samples(2, (37, 45)))  # padding cropped away
    for sample in preds:
        for head in ('rgb', 'depth', 'ensemble'):
            assert tuple(sample.get(f'pred_{head}').data.shape) == (1, 37, 45)
            assert int(sample.get(f'pred_{head}').data.max()) < K


def test_flip_argument_overrides_test_cfg():
    x = inputs()
    flipped = segmentor(dict(flip=True)).predict(x, samples(2, (40, 48)))
    override = segmentor().predict(x, samples(2, (40, 48)), flip=True)
    for a, b in zip(flipped, override):
        assert torch.equal(a.pred_sem_seg.data, b.pred_sem_seg.data)


def test_unimodal_model_multi_scale():
    model = segmentor(dict(scales=SCALES, flip=True), modalities=('rgb',))
    preds = model.predict(inputs(modalities=1), samples(2, (40, 48)))
    assert set(k for k in preds[0].keys() if k.startswith('pred_')) == {'pred_rgb', 'pred_sem_seg'}


@pytest.mark.parametrize('bad', [dict(mode='slide'), dict(scales=()), dict(scales=(0.0, 1.0)),
                                 dict(crop_size=(10, 10))])
def test_bad_test_cfg_fails_at_build(bad):
    with pytest.raises(ValueError):
        segmentor(bad)


def test_multiscale_override_sets_scales_and_flip():
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.run import build_model, resolve_config
    from fusionbench.experiments.tables import MULTISCALE_TEST

    cfg = resolve_config('paper/cen_refinenet-r101_300e_nyudv2-40.py', get_protocol('smoke'),
                         seed=0, overrides=MULTISCALE_TEST)
    model = build_model(cfg)
    assert model.test_cfg == {'mode': 'whole', 'scales': SCALES, 'flip': True}
    single = build_model(resolve_config('paper/cen_refinenet-r101_300e_nyudv2-40.py',
                                        get_protocol('smoke'), seed=0))
    assert single.test_cfg == {'mode': 'whole', 'scales': (1.0,), 'flip': False}
