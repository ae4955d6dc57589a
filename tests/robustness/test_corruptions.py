"""The corruption transforms on hand-made arrays, and the declared grid."""
from __future__ import annotations

import numpy as np
import pytest

from fusionbench import registry
from fusionbench.data.errors import DataError
from fusionbench.errors import ConfigError
from fusionbench.experiments.robustness import corrupted_pipeline, merge_rows
from fusionbench.robustness.corruptions import (BY_NAME, ModalityHoles, ModalityNoise,
                                                RemoveModality, conditions, get_corruptions,
                                                rectangle_mask)

RGB_STATS = {'mean': [10.0, 20.0, 30.0], 'std': [4.0, 8.0, 16.0], 'min': [0.0] * 3,
             'max': [255.0] * 3, 'hole': None}
DEPTH_STATS = {'mean': [2.5], 'std': [2.0], 'min': [0.5], 'max': [8.0], 'hole': 0.0}


def sample(index: int = 0, size: int = 4, depth: float = 3.0) -> dict:
    rgb = np.arange(size * size * 3, dtype=np.uint8).reshape(size, size, 3)
    return {'sample_idx': index, 'sample_id': f's{index}',
            'modalities': {'rgb': rgb, 'depth': np.full((size, size, 1), depth, np.float32)}}


def test_remove_modality_fills_zeros_or_the_mean_and_leaves_the_other_alone():
    out = RemoveModality('rgb', 'zeros')(sample())
    assert out['modalities']['rgb'].dtype == np.float32
    assert out['modalities']['rgb'].shape == (4, 4, 3) and not out['modalities']['rgb'].any()
    assert np.array_equal(out['modalities']['depth'], sample()['modalities']['depth'])
    out = RemoveModality('rgb', 'mean', stats=RGB_STATS)(sample())
    assert np.array_equal(out['modalities']['rgb'][1, 2], [10.0, 20.0, 30.0])
    assert np.array_equal(out['modalities']['rgb'][..., 2], np.full((4, 4), 30.0))
    out = RemoveModality('depth', 'mean', stats=DEPTH_STATS)(sample())
    assert np.array_equal(out['modalities']['depth'], np.full((4, 4, 1), 2.5, np.float32))


def test_noise_has_the_asked_std_per_channel_and_keeps_holes():
    big = sample(size=256)
    big['modalities']['rgb'] = np.full((256, 256, 3), 128, np.uint8)  # far from the clip range
    out = ModalityNoise('rgb', sigma=0.5, stats=RGB_STATS, seed=3)(big)
    delta = out['modalities']['rgb'] - 128.0
    # σ = 0.5 × std_c = 2, 4, 8 grey levels; 65,536 draws: the sample std within 2 %
    assert delta.std(axis=(0, 1)) == pytest.approx([2.0, 4.0, 8.0], rel=0.02)
    assert np.abs(delta.mean(axis=(0, 1))).max() < 0.1
    depth = sample(size=64)
    depth['modalities']['depth'][:32] = 0.0  # the sensor's own holes
    out = ModalityNoise('depth', sigma=1.0, stats=DEPTH_STATS, seed=0)(depth)['modalities']['depth']
    assert not out[:32].any()  # holes stay holes
    assert out[32:].min() >= 0.5 and out[32:].max() <= 8.0  # clipped to the training range
    assert out[32:].std() > 1.0  # and noisy there (σ = 2 m before clipping)
    assert np.array_equal(ModalityNoise('rgb', 0.0, RGB_STATS)(sample())['modalities']['rgb'],
                          sample()['modalities']['rgb'].astype(np.float32))


def test_draws_are_determined_by_seed_and_sample():
    def noise(seed: int, index: int) -> np.ndarray:
        return ModalityNoise('depth', 0.5, DEPTH_STATS, seed=seed)(
            sample(index, size=8))['modalities']['depth']

    def holes(seed: int, index: int) -> np.ndarray:
        return ModalityHoles('depth', 0.5, seed=seed)(sample(index, size=16))['modalities']['depth']

    for draw in (noise, holes):
        assert np.array_equal(draw(0, 5), draw(0, 5))
        assert not np.array_equal(draw(0, 5), draw(1, 5))  # another seed
        assert not np.array_equal(draw(0, 5), draw(0, 6))  # another scene


@pytest.mark.parametrize('coverage', [0.0, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_blob_holes_cover_exactly_the_asked_fraction(coverage):
    out = ModalityHoles('depth', coverage, seed=1)(sample(size=64))['modalities']['depth']
    assert (out == 0).mean() == pytest.approx(round(coverage * 4096) / 4096)
    assert np.all(out[out != 0] == 3.0)  # the rest untouched


def test_blob_holes_are_blobs_not_salt_and_pepper():
    out = ModalityHoles('depth', 0.25, seed=2)(sample(size=64))['modalities']['depth'][..., 0]
    holes = out == 0
    # neighbours of a hole pixel are mostly holes too (random pixels: 25 %)
    same = (holes[1:, :] == holes[:-1, :])[holes[1:, :]].mean()
    assert same > 0.8


@pytest.mark.parametrize('coverage', [0.1, 0.5, 0.75])
def test_rectangle_holes_cover_at_least_the_fraction_within_one_rectangle(coverage):
    mask = rectangle_mask(np.random.default_rng(0), (64, 64), coverage)
    assert coverage <= mask.mean() <= coverage + 0.3 ** 2
    out = ModalityHoles('depth', coverage, shape='rectangles', seed=0)(sample(size=64))
    assert coverage <= (out['modalities']['depth'] == 0).mean() <= coverage + 0.09


def test_bad_arguments_fail_at_build_time_in_one_line():
    for build, match in ((lambda: RemoveModality('rgb', 'median'), "unknown fill 'median'"),
                         (lambda: RemoveModality('rgb', 'mean'), 'needs stats'),
                         (lambda: ModalityNoise('rgb', -1, RGB_STATS), 'sigma must be >= 0'),
                         (lambda: ModalityNoise('rgb', 1), 'needs stats'),
                         (lambda: ModalityHoles('depth', 1.5), r'coverage must be in \[0, 1\]'),
                         (lambda: ModalityHoles('depth', 0.5, shape='stars'), "unknown shape")):
        with pytest.raises(ValueError, match=match):
            build()
    with pytest.raises(DataError, match=r"RemoveModality: sample s0 has no modality 'hha'; it has "
                                        r"\['rgb', 'depth'\]"):
        RemoveModality('hha')(sample())


def test_declared_grid_builds_from_the_registry():
    grid = conditions(get_corruptions(), ('rgb', 'depth'))
    assert grid[0] == (None, '', 0.0)
    assert len(grid) == 1 + 2 + 2 + 2 * 4 + 4  # clean, zeros, mean, noise, holes (depth only)
    assert len(conditions(get_corruptions(), ('rgb',))) == 1 + 1 + 1 + 4  # no depth: no holes
    stats = {'rgb': RGB_STATS, 'depth': DEPTH_STATS}
    for corruption, modality, severity in grid[1:]:
        cfg = corruption.transform_cfg(modality, severity, stats[modality], seed=0)
        transform = registry.build(registry.TRANSFORMS, cfg)
        out = transform(sample(size=8))
        assert out['modalities'][modality].shape == sample(size=8)['modalities'][modality].shape
    assert BY_NAME['holes'].severities == tuple(sorted(BY_NAME['holes'].severities))


def test_unknown_corruption_is_one_line():
    with pytest.raises(ConfigError, match=r"unknown corruption\(s\) \['fog'\]; known: zeros, "
                                          r'mean, noise, holes'):
        get_corruptions(['noise', 'fog'])
    assert [c.name for c in get_corruptions(['holes', 'zeros'])] == ['zeros', 'holes']


def test_corruption_goes_before_the_normalisation():
    pipeline = [dict(type='MultiModalResize', scale=(8, 8)), dict(type='NormalizeModalities'),
                dict(type='PackMultiModalInputs')]
    out = corrupted_pipeline(pipeline, dict(type='RemoveModality', modality='rgb'))
    assert [t['type'] for t in out] == ['MultiModalResize', 'RemoveModality',
                                        'NormalizeModalities', 'PackMultiModalInputs']
    assert corrupted_pipeline(pipeline, None) == pipeline
    with pytest.raises(ConfigError, match='has none of'):
        corrupted_pipeline([dict(type='Other')], dict(type='RemoveModality', modality='rgb'))


def test_merging_keeps_other_cells_and_conditions_and_replaces_reevaluated_ones():
    import pandas as pd
    old = pd.DataFrame({'row': ['a', 'a', 'a', 'b'], 'seed': [0, 0, 1, 0],
                        'corruption': ['clean', 'noise', 'clean', 'clean'],
                        'run_id': ['x', 'x', 'y', 'z'], 'mIoU': [1.0, 2.0, 3.0, 4.0]})
    new = pd.DataFrame({'row': ['a', 'a'], 'seed': [0, 0], 'corruption': ['clean', 'holes'],
                        'run_id': ['x', 'x'], 'mIoU': [9.0, 8.0]})
    merged = merge_rows(old, new)
    assert sorted(zip(merged['row'], merged['seed'], merged['corruption'], merged['mIoU'])) == [
        ('a', 0, 'clean', 9.0), ('a', 0, 'holes', 8.0), ('a', 0, 'noise', 2.0),
        ('a', 1, 'clean', 3.0), ('b', 0, 'clean', 4.0)]
    retrained = new.assign(run_id='w')  # other weights: the cell's old conditions all go
    assert sorted(merge_rows(old, retrained)['mIoU']) == [3.0, 4.0, 8.0, 9.0]
