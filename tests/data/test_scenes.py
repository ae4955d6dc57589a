"""Tests for the embedded procedural RGB-D dataset (fusionbench.data.scenes)."""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from fusionbench.data import scenes

C = len(scenes.CLASSES)
FLAT = [scenes.CLASSES.index(n) for n in ('picture', 'rug', 'door', 'whiteboard')]
PILLAR = scenes.CLASSES.index('pillar')
DTYPES = {'rgb': np.uint8, 'depth': np.float32, 'normal': np.float32, 'albedo': np.uint8,
          'shading': np.float32, 'label': np.uint8, 'reshading': np.float32,
          'edge_texture': np.float32}


@pytest.fixture(scope='module')
def split():
    return scenes.generate_split(40, 64, 64, seed=0)


@pytest.fixture(scope='module')
def layouts():
    """(scene, full render, no objects, no decals, shell only) for 24 scenes at 48x48."""
    out = []
    for s in range(24):
        sc = scenes.sample_scene(s)
        out.append((sc, scenes.render_layout(sc, 48, 48),
                    scenes.render_layout(sc, 48, 48, objects=False),
                    scenes.render_layout(sc, 48, 48, decals=False),
                    scenes.render_layout(sc, 48, 48, objects=False, decals=False)))
    return out


def _rays(h, w):
    f = (w / 2) / np.tan(np.radians(scenes.HFOV_DEG) / 2)
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    return np.stack([(jj - w / 2) / f, (ii - h / 2) / f, np.ones_like(jj)], axis=-1)


def test_constants():
    assert isinstance(scenes.GENERATOR_VERSION, str) and scenes.GENERATOR_VERSION
    assert C >= 10 and len(set(scenes.CLASSES)) == C
    assert len(scenes.PALETTE) == C
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in scenes.PALETTE)
    assert len(set(scenes.PALETTE)) == C
    for key in ('rgb', 'depth', 'normal', 'albedo', 'shading'):
        assert isinstance(scenes.MODALITIES[key], str) and scenes.MODALITIES[key]
    doc = scenes.__doc__
    assert 'What each modality can and cannot see' in doc
    assert all(name in doc for name in scenes.CLASSES)


def test_determinism():
    a, b, c = scenes.render_scene(7), scenes.render_scene(7), scenes.render_scene(8)
    for k in scenes.KEYS:
        np.testing.assert_array_equal(a[k], b[k])
    for k in ('rgb', 'depth', 'albedo', 'label'):
        assert not np.array_equal(a[k], c[k])


@pytest.mark.parametrize('hw', [(64, 64), (48, 80), (128, 128)])
def test_shapes_dtypes(hw):
    h, w = hw
    out = scenes.render_scene(3, h, w)
    assert set(out) == set(scenes.KEYS)
    for k, dt in DTYPES.items():
        assert out[k].dtype == dt, k
        assert out[k].shape[:2] == (h, w), k
    assert out['rgb'].shape == out['albedo'].shape == out['normal'].shape == (h, w, 3)
    assert out['depth'].shape == out['shading'].shape == out['label'].shape == (h, w)


def test_split_shapes_and_seeds(split):
    for k, dt in DTYPES.items():
        assert split[k].dtype == dt and split[k].shape[:3] == (40, 64, 64), k
    # scene k of split `seed` is render_scene(scene_seed(seed, k))
    one = scenes.render_scene(scenes.scene_seed(0, 5), 64, 64)
    for k in scenes.KEYS:
        np.testing.assert_array_equal(split[k][5], one[k])
    seeds0 = {scenes.scene_seed(0, k) for k in range(1000)}
    seeds1 = {scenes.scene_seed(1, k) for k in range(1000)}
    assert not seeds0 & seeds1
    other = scenes.generate_split(4, 64, 64, seed=1)
    for i in range(4):
        for j in range(40):
            assert not np.array_equal(other['rgb'][i], split['rgb'][j])
    with pytest.raises(ValueError):
        scenes.scene_seed(-1, 0)


def test_labels(split):
    values = set(np.unique(split['label']).tolist())
    assert values <= set(range(C)) | {255}
    assert set(range(C)) <= values, [scenes.CLASSES[c] for c in set(range(C)) - values]
    frac_ignore = (split['label'] == 255).mean()
    assert 0.0 < frac_ignore < 0.05


def test_depth(split, layouts):
    d = split['depth']
    assert np.isfinite(d).all() and (d >= 0).all()
    holes = (d == 0).mean(axis=(1, 2))
    assert 0.01 <= holes.mean() <= 0.25
    assert (holes > 0).all() and (holes < 0.5).all()
    valid = d[d > 0]
    assert valid.min() >= scenes.DEPTH_MIN * 0.95 and valid.max() <= scenes.DEPTH_MAX * 1.1
    for sc, full, *_ in layouts:
        lx, hc, lz = sc.room
        dep, clean = full['depth'], full['depth_clean']
        assert clean.min() > 0 and clean.max() <= np.sqrt(lx * lx + hc * hc + lz * lz)
        m = dep > 0
        # axial noise (sigma ~ z^2) plus disparity quantisation (step ~ z^2)
        tol = 6 * (0.0012 + 0.0019 * (clean[m] - 0.4) ** 2) + 2.85e-3 * clean[m] ** 2
        assert (np.abs(dep[m] - clean[m]) <= tol).all()
        assert not np.array_equal(dep[m], clean[m])  # noisy
        # out-of-range and projector-shadowed points are holes
        assert (dep[(clean > scenes.DEPTH_MAX) | ~full['projector_visible']] == 0).all()


def test_normals_shading(split):
    n = split['normal']
    np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-5)
    # every visible surface faces the camera
    assert ((n * _rays(64, 64)[None]).sum(-1) < 0).all()
    s = split['shading']
    assert np.isfinite(s).all() and s.min() >= 0 and s.max() <= 1.5
    assert 0.2 < s.mean() < 1.2


def test_rgb_is_noisy_render_of_albedo(split):
    rgb = split['rgb'].astype(float)
    assert 40 < rgb.mean() < 200
    assert (split['rgb'] == 255).mean() < 0.05
    # correlates with albedo x shading, but is not equal to it
    lin = (split['albedo'] / 255.0) ** 2.2 * split['shading'][..., None]
    r = np.corrcoef(lin.ravel(), rgb.ravel())[0, 1]
    assert 0.5 < r < 0.999


def test_colour_only_classes_invisible_to_geometry(layouts):
    seen = 0
    for sc, full, _, no_decals, shell in layouts:
        m = np.isin(full['label'], FLAT)
        # decals never change geometry or shading anywhere ...
        np.testing.assert_array_equal(full['depth_clean'], no_decals['depth_clean'])
        np.testing.assert_array_equal(full['normal'], no_decals['normal'])
        np.testing.assert_array_equal(full['shading'], no_decals['shading'])
        if not m.any():
            continue
        seen += m.sum()
        # ... their pixels carry the depth/normal of the bare room plane behind them ...
        np.testing.assert_allclose(full['depth_clean'][m], shell['depth_clean'][m], rtol=1e-6)
        np.testing.assert_allclose(full['normal'][m], shell['normal'][m], atol=1e-6)
        # ... while colour reveals them
        diff = np.abs(full['albedo'][m].astype(int) - no_decals['albedo'][m].astype(int)).sum(-1)
        assert (diff > 20).mean() > 0.6
    assert seen > 500


def test_geometry_only_class_invisible_to_albedo(layouts):
    seen = 0
    for sc, full, no_objects, _, _ in layouts:
        m = full['label'] == PILLAR
        if not m.any():
            continue
        seen += m.sum()
        # albedo of a pillar pixel == albedo of the room surface behind it
        np.testing.assert_array_equal(full['albedo'][m], no_objects['albedo'][m])
        # ... but geometry reveals it
        gap = no_objects['depth_clean'][m] - full['depth_clean'][m]
        assert (gap > 0).all() and np.median(gap) > 0.05
    assert seen > 200


def test_render_prints_and_warns_nothing(capfd):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        scenes.render_scene(11, 40, 40)
        scenes.generate_split(3, 24, 24, seed=9, workers=2)
    out, err = capfd.readouterr()
    assert out == '' and err == ''


def test_workers_equal():
    a = scenes.generate_split(6, 32, 40, seed=2, workers=1)
    b = scenes.generate_split(6, 32, 40, seed=2, workers=2)
    for k in scenes.KEYS:
        np.testing.assert_array_equal(a[k], b[k])


def test_cache_round_trip(tmp_path, monkeypatch):
    first = scenes.load_or_generate(tmp_path, 3, 24, 32, seed=4, workers=1)
    path = scenes.cache_path(tmp_path, 3, 24, 32, seed=4)
    assert os.path.isfile(path) and scenes.GENERATOR_VERSION in os.path.basename(path)
    assert os.listdir(tmp_path) == [os.path.basename(path)]   # no temporary left behind
    ref = scenes.generate_split(3, 24, 32, seed=4)
    for k in scenes.KEYS:
        np.testing.assert_array_equal(first[k], ref[k])

    def boom(*args, **kwargs):
        raise AssertionError('regenerated although a valid cache exists')
    with monkeypatch.context() as mp:
        mp.setattr(scenes, 'generate_split', boom)
        second = scenes.load_or_generate(tmp_path, 3, 24, 32, seed=4, workers=1)
    for k in scenes.KEYS:
        np.testing.assert_array_equal(second[k], first[k])

    # a corrupt (truncated) file is regenerated and rewritten
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    third = scenes.load_or_generate(tmp_path, 3, 24, 32, seed=4, workers=1)
    for k in scenes.KEYS:
        np.testing.assert_array_equal(third[k], first[k])
    with open(path, 'wb') as f:
        f.write(b'not a zip file')
    fourth = scenes.load_or_generate(tmp_path, 3, 24, 32, seed=4, workers=1)
    for k in scenes.KEYS:
        np.testing.assert_array_equal(fourth[k], first[k])
    with monkeypatch.context() as mp:
        mp.setattr(scenes, 'generate_split', boom)
        scenes.load_or_generate(tmp_path, 3, 24, 32, seed=4)   # valid again
    # other keys get other files
    scenes.load_or_generate(tmp_path, 2, 24, 32, seed=4, workers=1)
    assert len(os.listdir(tmp_path)) == 2
