"""NYU Depth v2 reader: list formats, 13 classes, and the real sample through a full pipeline."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fusionbench.data.fileio import read_image, write_png
from fusionbench.data.nyudv2 import CLASSES_13, CLASSES_40, MAP_40_TO_13, NYUDv2Dataset
from fusionbench.data.visualize import sample_panel, save_png
from fusionbench.registry import DATASETS

from .fixtures import write_nyu_layout

LOAD = [dict(type='LoadMultiModalFromFiles'), dict(type='LoadSegLabel')]


def test_id_list_and_data_infos(tmp_path):
    frames = write_nyu_layout(tmp_path, with_hha=True)
    dataset = NYUDv2Dataset(tmp_path, split='val', modalities=('rgb', 'depth', 'hha'),
                            pipeline=LOAD)
    assert len(dataset) == 3 and dataset.num_classes == 40
    assert dataset.metainfo['classes'] == CLASSES_40 and len(dataset.metainfo['palette']) == 40
    info = dataset.get_data_info(0)
    assert info['sample_id'] == '000001'
    assert info['modality_paths']['depth'] == str(tmp_path / 'depth' / '000001.png')
    assert info['seg_map_path'] == str(tmp_path / 'masks' / '000001.png')
    sample = dataset[1]
    np.testing.assert_array_equal(sample['modalities']['rgb'], frames['000002']['rgb'])
    np.testing.assert_allclose(sample['modalities']['depth'][..., 0],
                               frames['000002']['depth_mm'] / 1000, rtol=1e-6)
    np.testing.assert_array_equal(sample['gt_seg_map'], frames['000002']['mask'])
    assert list(sample['modalities']) == ['rgb', 'depth', 'hha']


def test_public_code_list_format_and_test_alias(tmp_path):
    write_nyu_layout(tmp_path)
    (tmp_path / 'val.txt').write_text('rgb/000003.png\tmasks/000003.png\n\n'
                                      'rgb/000001.png masks/000001.png\n')
    dataset = NYUDv2Dataset(str(tmp_path), split='test', modalities=('depth', 'rgb'))
    assert [d['sample_id'] for d in dataset] == ['000003', '000001']
    assert list(dataset.get_data_info(0)['modality_paths']) == ['depth', 'rgb']


def test_thirteen_classes_from_forty_class_masks(tmp_path):
    frames = write_nyu_layout(tmp_path)
    dataset = NYUDv2Dataset(tmp_path, split='val', num_classes=13, pipeline=LOAD)
    assert dataset.metainfo['classes'] == CLASSES_13
    label = dataset[0]['gt_seg_map']
    lut = np.full(256, 255, np.uint8)
    lut[list(MAP_40_TO_13)] = list(MAP_40_TO_13.values())
    np.testing.assert_array_equal(label, lut[frames['000001']['mask']])
    assert label[label != 255].max() < 13
    assert CLASSES_13[MAP_40_TO_13[CLASSES_40.index('bed')]] == 'bed'
    assert CLASSES_13[MAP_40_TO_13[CLASSES_40.index('television')]] == 'tv'


def test_builds_from_registry(tmp_path):
    write_nyu_layout(tmp_path)
    dataset = DATASETS.build(dict(type='NYUDv2Dataset', data_root=str(tmp_path), split='val'))
    assert len(dataset) == 3


@pytest.mark.real_data
def test_real_sample_through_full_pipeline(nyu_sample: Path, tmp_path):
    root = tmp_path / 'nyudv2'
    ids = (nyu_sample / 'test.txt').read_text().split()
    for sample_id in ids:
        for folder in ('rgb', 'depth'):
            (root / folder).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(nyu_sample / folder / f'{sample_id}.png',
                            root / folder / f'{sample_id}.png')
        label40 = read_image(nyu_sample / 'label40' / f'{sample_id}.png')
        write_png(root / 'masks' / f'{sample_id}.png',
                  np.where(label40 == 0, 255, label40.astype(np.int64) - 1).astype(np.uint8))
    (root / 'val.txt').write_text('\n'.join(ids) + '\n')

    pipeline = LOAD + [
        dict(type='MultiModalRandomResize', ratio_range=(0.5, 1.0)),
        dict(type='MultiModalRandomCrop', crop_size=(200, 240), cat_max_ratio=0.75),
        dict(type='MultiModalRandomFlip', prob=0.5),
        dict(type='MultiModalPad', size=(200, 240)),
        dict(type='NormalizeModalities', mean={'rgb': [123.675, 116.28, 103.53], 'depth': [2.5]},
             std={'rgb': [58.395, 57.12, 57.375], 'depth': [1.5]}),
        dict(type='PackMultiModalInputs'),
    ]
    raw = NYUDv2Dataset(root, split='val', pipeline=LOAD)
    dataset = NYUDv2Dataset(root, split='val', pipeline=pipeline)
    assert len(dataset) == len(ids) == 8

    first = raw[0]
    depth = first['modalities']['depth']
    assert first['modalities']['rgb'].shape == (480, 640, 3) and depth.shape == (480, 640, 1)
    valid = depth[depth > 0]
    assert valid.size > 0.9 * depth.size
    assert 0.3 < np.percentile(valid, 1) and np.percentile(valid, 99) < 10.0
    labels = np.unique(np.concatenate([np.unique(raw[i]['gt_seg_map']) for i in range(len(raw))]))
    assert labels.max() == 255 and labels[labels != 255].max() < 40 and len(labels) > 5

    for index in range(3):
        packed = dataset[index]
        inputs, sample = packed['inputs'], packed['data_samples']
        assert inputs['rgb'].shape == (3, 200, 240) and inputs['depth'].shape == (1, 200, 240)
        assert inputs['rgb'].dtype == torch.float32
        gt = sample.gt_sem_seg.data
        assert gt.shape == (1, 200, 240)
        assert bool(((gt < 40) | (gt == 255)).all())
        assert sample.metainfo['sample_id'] == ids[index]
        assert sample.metainfo['modality_names'] == ('rgb', 'depth')

    panel = sample_panel(first['modalities'], first['gt_seg_map'], palette=raw.metainfo['palette'])
    assert panel.shape == (480, 3 * 640, 3) and panel.dtype == np.uint8
    save_png(tmp_path / 'panel.png', panel)
    np.testing.assert_array_equal(read_image(tmp_path / 'panel.png'), panel)
