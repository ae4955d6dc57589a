"""The Taskonomy-style derived domains of the procedural scenes (reshading, edge_texture)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from fusionbench.data import scenes
from fusionbench.data.scenes import domains
from fusionbench.data.synthetic import SyntheticScenes

ORIGINAL_KEYS = ('rgb', 'depth', 'normal', 'albedo', 'shading', 'label')
# sha256 over (key, dtype, shape, bytes) of the six original outputs, computed with the
# generator as it was before the derived domains were added (scenes-1.0).
ORIGINAL_HASHES = {
    (0, 32, 32): 'b96f114d47501fd3654711c69f1264d6c9c851ebc882da5bba0aa10eec167d9b',
    (7, 24, 40): '588e4358d9dd00b86634fcc130e9542a498c98c0d9b21a860c7604226fe77d24',
    (12345, 48, 48): 'e2792d82020c6d990055b1e8f6d44b0d9d78668c1f6042b9ec15785dc7dc385f',
}


def _hash(out):
    h = hashlib.sha256()
    for k in ORIGINAL_KEYS:
        a = np.ascontiguousarray(out[k])
        for part in (k.encode(), str(a.dtype).encode(), str(a.shape).encode(), a.tobytes()):
            h.update(part)
    return h.hexdigest()


@pytest.mark.parametrize('key', sorted(ORIGINAL_HASHES))
def test_original_outputs_unchanged(key):
    seed, h, w = key
    assert _hash(scenes.render_scene(seed, h, w)) == ORIGINAL_HASHES[key]


def test_new_domains_in_keys_and_modalities():
    for name in ('reshading', 'edge_texture'):
        assert name in scenes.KEYS and scenes.MODALITIES[name]
        assert 'cannot see' in scenes.MODALITIES[name]
    assert scenes.GENERATOR_VERSION != 'scenes-1.0'   # the cache layout changed


def test_deterministic_shapes_ranges():
    a, b = scenes.render_scene(3, 24, 32), scenes.render_scene(3, 24, 32)
    for k in ('reshading', 'edge_texture'):
        np.testing.assert_array_equal(a[k], b[k])
        assert a[k].dtype == np.float32 and a[k].shape == (24, 32)
        assert a[k].min() >= 0 and a[k].max() <= 1
    assert a['edge_texture'].max() > 0.1          # a room has edges
    assert a['reshading'].mean() > 0.2


def test_reshading_hand_values():
    n = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    d = np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(domains.reshading(n, d), [1.0, 1 / np.sqrt(2), 0.0, 0.0],
                               atol=1e-6)


def test_reshading_independent_of_lights_and_decals():
    sc = scenes.sample_scene(5)
    full = scenes.render_layout(sc, 24, 24)
    dark = scenes.render_layout(scenes.Scene(**{**sc.__dict__, 'power': sc.power * 0.1}), 24, 24)
    no_decals = scenes.render_layout(sc, 24, 24, decals=False)
    np.testing.assert_array_equal(full['reshading'], dark['reshading'])
    np.testing.assert_array_equal(full['reshading'], no_decals['reshading'])
    assert not np.array_equal(full['shading'], dark['shading'])


def test_edge_texture_hand_values():
    # a vertical step of luminance: edges only near the step, symmetric, none far away
    h, w = 8, 12
    alb = np.zeros((h, w, 3), np.uint8)
    alb[:, 6:] = 255
    e = domains.edge_texture(alb.reshape(-1, 3), np.ones(h * w), h, w)
    assert e.shape == (h, w) and e.dtype == np.float32
    np.testing.assert_allclose(e[:, :2], 0, atol=1e-6)
    np.testing.assert_allclose(e[:, -2:], 0, atol=1e-6)
    np.testing.assert_allclose(e[:, 5], e[:, 6], rtol=1e-6)   # symmetric about the step
    assert e[:, 5].min() > 0.3
    # flat colour: no edges
    flat = domains.edge_texture(np.full((h * w, 3), 90, np.uint8), np.ones(h * w), h, w)
    np.testing.assert_allclose(flat, 0, atol=1e-7)


def test_rgb_predictability_hand_values():
    rng = np.random.default_rng(0)
    dom = rng.random((2, 4, 4))
    rgb = np.round(np.stack([dom, 1 - dom, 0.5 * dom + 0.2], -1) * 255).astype(np.uint8)
    assert domains.rgb_predictability(rgb, dom) > 0.999
    assert domains.rgb_predictability(rgb, rng.random((2, 4, 4))) < 0.2


def test_synthetic_dataset_serves_new_domains(tmp_path):
    ds = SyntheticScenes(str(tmp_path), num_scenes=2, height=16, width=16, seed=1,
                         modalities=('reshading', 'edge_texture', 'rgb'))
    info = ds.get_data_info(1)
    assert set(info['modalities']) == {'reshading', 'edge_texture', 'rgb'}
    ref = scenes.render_scene(scenes.scene_seed(1, 1), 16, 16)
    np.testing.assert_array_equal(info['modalities']['edge_texture'], ref['edge_texture'])
    np.testing.assert_array_equal(info['modalities']['reshading'], ref['reshading'])
