"""The translation evaluator (TranslationMetric): per-head numbers on hand-computed inputs, the
feature extractor in the record, the adapter's evaluator wiring and the preflight's weights."""
from __future__ import annotations

import hashlib
import math

import pytest
import torch

from fusionbench.experiments.preflight import find_missing
from fusionbench.paths import INCEPTION_ENV
from fusionbench.tasks.translation.evaluator import TranslationMetric, describe_extractor


def _samples(n=16, shift=0.2):
    """Head '0' equals the target; head '1' is the target + ``shift`` (no clipping);
    'ensemble' equals the target."""
    g = torch.Generator().manual_seed(0)
    target = torch.rand(n, 3, 16, 16, generator=g) - 0.5          # in [-0.5, 0.5]
    return [{'pred': {'0': t.clone(), '1': t + shift, 'ensemble': t.clone()}, 'target': t}
            for t in target]


def _metric(**kwargs):
    metric = TranslationMetric(domains=('depth', 'normal'), kid_subsets=4, **kwargs)
    metric.process({}, _samples())
    return metric, metric.compute_metrics(metric.results)


def test_hand_values_per_head(monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    metric, out = _metric()
    # heads named by domain; the ensemble is the primary (unprefixed) head
    assert {k.split('/')[0] for k in out if '/' in k} == {'depth', 'normal', 'ensemble'}
    assert out['depth/L1'] == 0.0 and math.isinf(out['depth/PSNR'])
    assert out['depth/SSIM'] == pytest.approx(1.0, abs=1e-6)
    assert abs(out['depth/FID']) < 1e-2            # identical image sets
    # +0.2 in [-1, 1] is +0.1 in [0, 1]: L1 = 0.1, MSE = 0.01 -> PSNR = 20 dB
    assert out['normal/L1'] == pytest.approx(0.1, abs=2e-3)   # uint8 rounding aside: float
    assert out['normal/PSNR'] == pytest.approx(20.0, abs=1e-3)
    assert out['normal/FID'] > out['depth/FID']
    assert out['FID'] == out['ensemble/FID'] and out['KID'] == out['ensemble/KID']
    assert metric.record_fields() == {'feature_extractor': {
        'label': 'surrogate', 'name': 'fusionbench-randconv-v1', 'weights_file': None,
        'sha256': None}}


def test_kid_subsets_seeded(monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    _, a = _metric(seed=3)
    _, b = _metric(seed=3)
    assert a['normal/KID'] == b['normal/KID']


def test_missing_target_fails(monkeypatch):
    metric = TranslationMetric()
    with pytest.raises(KeyError, match='no target RGB'):
        metric.process({}, [{'pred': {'0': torch.zeros(3, 4, 4)}, 'target': None}])


def test_describe_extractor_hashes_the_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    weights = tmp_path / 'weights-inception.pth'
    weights.write_bytes(b'not really weights')
    out = describe_extractor(str(weights))
    assert out == {'label': 'inception', 'name': 'inception-v3-compat',
                   'weights_file': 'weights-inception.pth',
                   'sha256': hashlib.sha256(b'not really weights').hexdigest()}
    monkeypatch.setenv(INCEPTION_ENV, str(weights))
    assert describe_extractor(None)['label'] == 'inception'


def test_preflight_names_missing_inception_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    cfg = {'val_evaluator': dict(type='TranslationMetric', inception_weights=None)}
    assert find_missing(cfg) == []                    # none given: the surrogate, labelled
    cfg['val_evaluator']['inception_weights'] = str(tmp_path / 'nope.pth')
    [missing] = find_missing(cfg)
    assert 'nope.pth' in str(missing) and 'config key inception_weights' in str(missing)
    cfg['val_evaluator']['inception_weights'] = None
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / 'env.pth'))
    [missing] = find_missing(cfg)
    assert 'env.pth' in str(missing) and f'${INCEPTION_ENV}' in str(missing)
