"""One geometric decision for every modality and the label; loading and label mapping."""
from __future__ import annotations

import numpy as np
import pytest

from fusionbench.data.errors import DataError
from fusionbench.data.fileio import encode_sunrgbd_depth, write_png
from fusionbench.data.transforms import (LoadMultiModalFromFiles, LoadSegLabel, MultiModalPad,
                                         MultiModalRandomCrop, MultiModalRandomFlip,
                                         MultiModalRandomResize, MultiModalResize,
                                         resize_array)
from fusionbench.registry import TRANSFORMS

from .fixtures import label_of_depth, ramp_results


def assert_corresponds(results: dict) -> None:
    """Label and depth still describe the same source pixel everywhere."""
    label, depth = results['gt_seg_map'], results['modalities']['depth']
    assert label.shape == depth.shape[:2] == results['modalities']['rgb'].shape[:2]
    valid = label != 255
    np.testing.assert_array_equal(label[valid], label_of_depth(depth)[valid])


def test_flip_mirrors_everything_once():
    results = MultiModalRandomFlip(prob=1.0)(ramp_results())
    original = ramp_results()
    assert results['flip'] is True
    for name, array in results['modalities'].items():
        np.testing.assert_array_equal(array, original['modalities'][name][:, ::-1])
    np.testing.assert_array_equal(results['gt_seg_map'], original['gt_seg_map'][:, ::-1])
    assert_corresponds(results)
    unflipped = MultiModalRandomFlip(prob=0.0)(ramp_results())
    assert unflipped['flip'] is False
    np.testing.assert_array_equal(unflipped['gt_seg_map'], original['gt_seg_map'])


def test_flip_negates_normal_x():
    results = ramp_results()
    normal = np.random.uniform(-1, 1, (12, 16, 3)).astype(np.float32)
    results['modalities']['normal'] = normal.copy()
    results['modalities']['normal8'] = (normal * 127.5 + 127.5).astype(np.uint8)
    out = MultiModalRandomFlip(prob=1.0, normal_modalities=('normal', 'normal8'))(results)
    np.testing.assert_array_equal(out['modalities']['normal'][..., 0], -normal[:, ::-1, 0])
    np.testing.assert_array_equal(out['modalities']['normal'][..., 1:], normal[:, ::-1, 1:])
    expected8 = 255 - (normal * 127.5 + 127.5).astype(np.uint8)[:, ::-1, 0]
    np.testing.assert_array_equal(out['modalities']['normal8'][..., 0], expected8)


@pytest.mark.parametrize('seed', range(4))
def test_random_resize_same_geometry_nearest_labels(seed):
    np.random.seed(seed)
    results = MultiModalRandomResize(ratio_range=(0.5, 2.0))(ramp_results())
    h, w = results['img_shape']
    assert (h, w) != (12, 16)
    assert results['modalities']['rgb'].dtype == np.uint8
    assert results['modalities']['depth'].shape == (h, w, 1)
    assert set(np.unique(results['gt_seg_map'])) <= set(np.unique(ramp_results()['gt_seg_map']))
    assert set(np.unique(results['modalities']['depth'])) <= set(
        np.unique(ramp_results()['modalities']['depth']))       # depth is nearest too
    assert_corresponds(results)
    assert results['scale_factor'] == pytest.approx((w / 16, h / 12))


def test_resize_deterministic_scale_and_factor():
    out = MultiModalResize(scale=(24, 48))(ramp_results())       # fits 48 x 24 bounds
    assert out['img_shape'] == (24, 32)
    assert out['modalities']['rgb'].shape == (24, 32, 3)
    assert_corresponds(out)
    out = MultiModalResize(scale_factor=0.5)(ramp_results())
    assert out['gt_seg_map'].shape == (6, 8)
    out = MultiModalResize(scale=(10, 10), keep_ratio=False)(ramp_results())
    assert out['modalities']['depth'].shape == (10, 10, 1)
    # bilinear on images: a constant image stays constant, a ramp stays monotone
    assert np.all(out['modalities']['rgb'][..., 2] == 7)
    assert np.all(np.diff(out['modalities']['rgb'][..., 1].astype(int), axis=1) >= 0)
    with pytest.raises(ValueError):
        MultiModalResize()


def test_resize_array_nearest_keeps_dtype_and_values():
    label = np.random.choice([0, 3, 255], (7, 9)).astype(np.int64)
    out = resize_array(label, (20, 3), nearest=True)
    assert out.dtype == np.int64 and out.shape == (20, 3)
    assert set(np.unique(out)) <= {0, 3, 255}


def test_crop_same_box_for_all():
    results = MultiModalRandomCrop(crop_size=(5, 7))(ramp_results())
    top, bottom, left, right = results['crop_box']
    original = ramp_results()
    assert results['img_shape'] == (5, 7)
    np.testing.assert_array_equal(results['modalities']['rgb'],
                                  original['modalities']['rgb'][top:bottom, left:right])
    assert_corresponds(results)
    small = MultiModalRandomCrop(crop_size=(50, 50))(ramp_results())
    assert small['img_shape'] == (12, 16)


def test_crop_cat_max_ratio_avoids_dominated_crops():
    results = ramp_results(40, 40)
    results['gt_seg_map'] = ((np.arange(40) // 8) % 2).astype(np.uint8)[None].repeat(40, 0)

    def max_ratios(cat_max_ratio):
        ratios = []
        for seed in range(20):
            np.random.seed(seed)
            out = MultiModalRandomCrop((10, 10), cat_max_ratio)(
                {**results, 'modalities': dict(results['modalities'])})
            _, counts = np.unique(out['gt_seg_map'], return_counts=True)
            ratios.append(counts.max() / counts.sum())
        return max(ratios)

    assert max_ratios(1.0) >= 0.75        # stripes of 8 in a crop of 10: often 80 % one class
    assert max_ratios(0.75) < 0.75


def test_pad_modalities_zero_label_255():
    results = MultiModalPad(size=(15, 20), pad_val={'rgb': 3})(ramp_results())
    assert results['pad_shape'] == (15, 20)
    assert results['img_shape'] == (12, 16)
    assert np.all(results['gt_seg_map'][12:] == 255)
    assert np.all(results['gt_seg_map'][:, 16:] == 255)
    assert np.all(results['modalities']['rgb'][12:] == 3)
    assert np.all(results['modalities']['depth'][:, 16:] == 0)
    np.testing.assert_array_equal(results['gt_seg_map'][:12, :16], ramp_results()['gt_seg_map'])
    out = MultiModalPad(size_divisor=8)(ramp_results())
    assert out['modalities']['depth'].shape == (16, 16, 1)


GEOMETRIC = [MultiModalRandomFlip(prob=1.0), MultiModalRandomCrop((4, 4)),
             MultiModalRandomResize(), MultiModalResize(scale_factor=2.0), MultiModalPad((20, 20))]


@pytest.mark.parametrize('transform', GEOMETRIC, ids=lambda t: type(t).__name__)
def test_geometric_transforms_reject_misaligned_inputs(transform):
    results = ramp_results(sample_id='kitchen_0004')
    results['modalities']['depth'] = np.zeros((10, 16, 1), np.float32)
    with pytest.raises(ValueError) as error:
        transform(results)
    message = str(error.value)
    assert '\n' not in message
    assert 'kitchen_0004' in message and 'rgb 12x16' in message and 'depth 10x16' in message


def test_transforms_build_from_registry():
    pipeline = [TRANSFORMS.build(dict(type=name)) for name in
                ('LoadMultiModalFromFiles', 'LoadSegLabel', 'MultiModalRandomFlip')]
    pipeline.append(TRANSFORMS.build(dict(type='MultiModalRandomCrop', crop_size=(4, 4))))
    assert [type(t).__name__ for t in pipeline][-1] == 'MultiModalRandomCrop'


def test_load_decodes_per_modality(tmp_path):
    rgb = np.random.randint(0, 256, (6, 8, 3), dtype=np.uint8)
    depth_mm = np.random.randint(0, 10000, (6, 8), dtype=np.uint16)
    write_png(tmp_path / 'rgb.png', rgb)
    write_png(tmp_path / 'depth.png', depth_mm)
    write_png(tmp_path / 'hha.png', rgb[..., ::-1].copy())
    write_png(tmp_path / 'sun.png', encode_sunrgbd_depth(depth_mm))
    paths = {'rgb': tmp_path / 'rgb.png', 'depth': tmp_path / 'depth.png',
             'hha': tmp_path / 'hha.png'}
    out = LoadMultiModalFromFiles()(dict(modality_paths=paths, sample_id='a'))
    assert list(out['modalities']) == ['rgb', 'depth', 'hha']
    np.testing.assert_array_equal(out['modalities']['rgb'], rgb)
    assert out['modalities']['depth'].dtype == np.float32
    np.testing.assert_allclose(out['modalities']['depth'][..., 0], depth_mm / 1000, rtol=1e-6)
    assert out['img_shape'] == out['ori_shape'] == (6, 8)
    # explicit depth scale / decoder, and the data set's decoding (SUN RGB-D bit rotation)
    out = LoadMultiModalFromFiles(depth_scale=1e-4)(dict(modality_paths={'depth': paths['depth']}))
    np.testing.assert_allclose(out['modalities']['depth'][..., 0], depth_mm / 1e4, rtol=1e-6)
    sun = {'modality_paths': {'depth': tmp_path / 'sun.png'}}
    out = LoadMultiModalFromFiles(depth_decoder='sunrgbd')(dict(sun))
    np.testing.assert_allclose(out['modalities']['depth'][..., 0], depth_mm / 1000, rtol=1e-6)
    out = LoadMultiModalFromFiles()(dict(sun, decoding={'depth': {'decoder': 'sunrgbd'}}))
    np.testing.assert_allclose(out['modalities']['depth'][..., 0], depth_mm / 1000, rtol=1e-6)
    with pytest.raises(ValueError):
        LoadMultiModalFromFiles(depth_decoder='nope')
    with pytest.raises(DataError, match='no file decoding known'):
        LoadMultiModalFromFiles()(dict(modality_paths={'thermal': paths['rgb']}))


def test_load_seg_label_mappings(tmp_path):
    raw = np.array([[0, 1, 2], [37, 255, 5]], np.uint8)
    write_png(tmp_path / 'label.png', raw)
    base = dict(seg_map_path=str(tmp_path / 'label.png'), sample_id='x')
    out = LoadSegLabel()(dict(base))
    np.testing.assert_array_equal(out['gt_seg_map'], raw)
    assert out['gt_seg_map'].dtype == np.uint8
    out = LoadSegLabel(reduce_zero_label=True)(dict(base))
    np.testing.assert_array_equal(out['gt_seg_map'], [[255, 0, 1], [36, 255, 4]])
    out = LoadSegLabel()(dict(base, reduce_zero_label=True, label_map={0: 7, 36: 1},
                              num_classes=37))      # settings from the data set's info
    np.testing.assert_array_equal(out['gt_seg_map'], [[255, 7, 1], [1, 255, 4]])
