"""FID/KID through torch-fidelity (local Inception weights or the labelled surrogate), L1, PSNR,
SSIM, and evaluation of a translation model in eval mode without gradients."""
from __future__ import annotations

import math

import pytest
import torch

from fusionbench.tasks.translation import MultiDomainPix2Pix
from fusionbench.tasks.translation import metrics as tm


def _images(n, seed, scale=255.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 32, 32, generator=g) * scale).to(torch.uint8)


@pytest.fixture(scope='module')
def inception_weights(tmp_path_factory):
    """A random-weight InceptionV3 state dict in torch-fidelity's layout (no download)."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe
    with pytest.MonkeyPatch.context() as mp:      # build the network without loading weights
        mp.setattr(fe, 'load_state_dict_from_url', lambda *a, **k: {})
        mp.setattr(fe.FeatureExtractorInceptionV3, 'load_state_dict', lambda self, state: None)
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3('inception-v3-compat', ['2048'])
    path = tmp_path_factory.mktemp('weights') / 'inception.pth'
    torch.save(net.state_dict(), path)
    return str(path)


def test_surrogate_labelled_and_identical_inputs_give_zero(monkeypatch):
    monkeypatch.delenv(tm.INCEPTION_ENV, raising=False)
    real, fake = _images(24, 0), _images(24, 1, scale=180.0)
    same = tm.fid_kid(real, real.clone(), kid_subsets=5, cuda=False)
    assert set(same) == {'fid_surrogate', 'kid_surrogate', 'kid_std_surrogate', 'extractor'}
    assert same['extractor'] == tm.SURROGATE_NAME
    diff = tm.fid_kid(fake, real, kid_subsets=5, cuda=False)
    assert abs(same['fid_surrogate']) < 1e-6 * max(1.0, diff['fid_surrogate'])
    assert diff['fid_surrogate'] > 0.1
    assert abs(same['kid_surrogate']) < 0.1 * diff['kid_surrogate']


def test_kid_subsets_are_seeded(monkeypatch):
    monkeypatch.delenv(tm.INCEPTION_ENV, raising=False)
    real, fake = _images(30, 0), _images(30, 1, scale=200.0)
    a = tm.fid_kid(fake, real, kid_subsets=4, kid_subset_size=10, seed=3, cuda=False)
    b = tm.fid_kid(fake, real, kid_subsets=4, kid_subset_size=10, seed=3, cuda=False)
    c = tm.fid_kid(fake, real, kid_subsets=4, kid_subset_size=10, seed=4, cuda=False)
    assert a == b and a['kid_surrogate'] != c['kid_surrogate']
    assert a['fid_surrogate'] == c['fid_surrogate']        # FID uses every image


def test_surrogate_is_deterministic():
    a, b = tm.SurrogateFeatures(), tm.SurrogateFeatures()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb) and not pa.requires_grad
    x = _images(3, 2)
    assert tm.SurrogateFeatures().embed(x).shape == (3, 128)


def test_inception_from_local_weights(inception_weights, monkeypatch, tmp_path):
    """InceptionV3 costs seconds per image on a loaded CPU: two images per side, one call."""
    monkeypatch.setenv(tm.INCEPTION_ENV, inception_weights)
    real = _images(2, 0)
    same = tm.fid_kid(real, real.clone(), kid_subsets=2, cuda=False)
    assert same['extractor'] == 'inception-v3-compat'
    assert set(same) == {'fid_inception', 'kid_inception', 'kid_std_inception', 'extractor'}
    assert abs(same['fid_inception']) < 1e-3
    # the config key wins over the environment variable
    monkeypatch.setenv(tm.INCEPTION_ENV, str(tmp_path / 'missing.pth'))
    assert tm.resolve_extractor(inception_weights) == dict(
        label='inception', name='inception-v3-compat', weights=inception_weights)


def test_missing_weights_fail_in_one_line(monkeypatch, tmp_path):
    missing = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError, match='inception_weights=.*nope.pth.*surrogate'):
        tm.resolve_extractor(missing)
    monkeypatch.setenv(tm.INCEPTION_ENV, missing)
    with pytest.raises(FileNotFoundError, match=r'\$FUSIONBENCH_INCEPTION'):
        tm.resolve_extractor()
    monkeypatch.setenv(tm.INCEPTION_ENV, '')
    assert tm.resolve_extractor() == dict(label='surrogate', name=tm.SURROGATE_NAME, weights=None)


def test_fid_kid_bad_input():
    with pytest.raises(ValueError, match='uint8'):
        tm.fid_kid(torch.zeros(4, 3, 8, 8), _images(4, 0))
    with pytest.raises(ValueError, match='at least 2'):
        tm.fid_kid(_images(1, 0), _images(4, 0))


def test_pixel_metrics_hand_values():
    real = torch.zeros(2, 3, 16, 16)                # 0.5 in [0, 1]
    fake = torch.full((2, 3, 16, 16), 0.2)         # 0.6 in [0, 1]: |d| = 0.1, mse = 0.01
    out = tm.pixel_metrics(fake, real)
    assert out['l1'] == pytest.approx(0.1, abs=1e-6)
    assert out['psnr'] == pytest.approx(20.0, abs=1e-4)
    # constant images: SSIM = (2 μx μy + c1) / (μx² + μy² + c1) (variances are 0)
    c1 = 1e-4
    assert out['ssim'] == pytest.approx((2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1), abs=1e-5)
    same = tm.pixel_metrics(real, real)
    assert same['l1'] == 0 and math.isinf(same['psnr']) and same['ssim'] == pytest.approx(1.0)
    with pytest.raises(ValueError, match='differ in shape'):
        tm.pixel_metrics(fake, real[:1])
    with pytest.raises(ValueError, match='smaller than the 11x11'):
        tm.ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_to_uint8():
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 1.5]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    assert tm.to_uint8(x)[0, 0, 0].tolist() == [0, 0, 128, 255, 255]


def test_evaluate_translation_eval_mode_no_grad(monkeypatch):
    monkeypatch.delenv(tm.INCEPTION_ENV, raising=False)
    torch.manual_seed(0)
    model = MultiDomainPix2Pix(generator=dict(num_modalities=2, depth=4, ngf=4),
                               discriminator=dict(ndf=4, num_layers=2))
    model.train()
    seen = []
    original = model.generator.forward

    def spy(x):
        seen.append((model.generator.training, torch.is_grad_enabled()))
        return original(x)
    monkeypatch.setattr(model.generator, 'forward', spy)
    g = torch.Generator().manual_seed(0)
    batches = [dict(inputs=[torch.rand(3, 3, 16, 16, generator=g) * 2 - 1 for _ in range(2)],
                    target=torch.rand(3, 3, 16, 16, generator=g) * 2 - 1) for _ in range(2)]
    out = tm.evaluate_translation(model, batches, kid_subsets=3)
    assert seen == [(False, False), (False, False)] and model.training
    assert out['head'] == 'ensemble' and out['num_images'] == 6
    assert {'fid_surrogate', 'kid_surrogate', 'extractor', 'l1', 'psnr', 'ssim'} <= set(out)
    # dropout is off in eval mode: the same inputs give the same images
    a, _ = tm.generate(model, batches)
    b, _ = tm.generate(model, batches)
    assert torch.equal(a, b)


def test_ranking_agreement():
    inception = {'cen': 60.0, 'concat': 80.0, 'average': 90.0}
    same = tm.ranking_agreement(inception, {'cen': 1.0, 'concat': 2.0, 'average': 3.0,
                                            'extra': 0.5})
    assert same['same_order'] and same['kendall_tau'] == pytest.approx(1.0)
    assert same['methods'] == ['average', 'cen', 'concat']
    flipped = tm.ranking_agreement(inception, {'cen': 3.0, 'concat': 2.0, 'average': 1.0})
    assert not flipped['same_order'] and flipped['kendall_tau'] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match='>= 2 methods'):
        tm.ranking_agreement({'cen': 1.0}, {'cen': 2.0})
