"""SUN RGB-D reader on a generated fixture: split folders, depth bit rotation, label - 1."""
from __future__ import annotations

import numpy as np
import pytest

from fusionbench.data.errors import DataError
from fusionbench.data.fileio import encode_sunrgbd_depth, read_image, rotate_sunrgbd_depth
from fusionbench.data.sunrgbd import CLASSES_37, SUNRGBDDataset

from .fixtures import write_sunrgbd_layout

LOAD = [dict(type='LoadMultiModalFromFiles'), dict(type='LoadSegLabel')]


def test_depth_rotation_matches_the_toolbox():
    stored = np.array([[0, 8, 0x0001, 0xFFFF, 1234 << 3]], np.uint16)
    np.testing.assert_array_equal(rotate_sunrgbd_depth(stored),
                                  [[0, 1, 0x2000, 0xFFFF, 1234]])
    mm = np.random.randint(0, 65536, (5, 7)).astype(np.uint16)
    np.testing.assert_array_equal(rotate_sunrgbd_depth(encode_sunrgbd_depth(mm)), mm)


def test_reads_splits_and_decodes(tmp_path):
    frames = write_sunrgbd_layout(tmp_path)
    train = SUNRGBDDataset(tmp_path, split='train', pipeline=LOAD)
    test = SUNRGBDDataset(tmp_path, split='test', pipeline=LOAD)
    assert (len(train), len(test)) == (3, 2)
    assert train.metainfo['classes'] == CLASSES_37 and train.num_classes == 37
    sample = test[1]
    frame = frames['test0001']
    assert sample['sample_id'] == 'test0001'
    assert sample['modality_paths']['rgb'].endswith('test0001.jpg')
    np.testing.assert_allclose(sample['modalities']['depth'][..., 0], frame['depth_mm'] / 1000,
                               rtol=1e-6)
    expected = np.where(frame['label'] == 0, 255, frame['label'].astype(int) - 1)
    np.testing.assert_array_equal(sample['gt_seg_map'], expected)
    assert np.abs(sample['modalities']['rgb'].astype(int) - frame['rgb']).mean() < 8  # JPEG
    # stored depth is not millimetres: the rotation matters
    raw = read_image(sample['modality_paths']['depth'])
    assert not np.array_equal(raw, frame['depth_mm'])


def test_missing_label_named(tmp_path):
    write_sunrgbd_layout(tmp_path)
    (tmp_path / 'train' / 'label' / 'train0001.png').unlink()
    with pytest.raises(DataError, match=r'train0001\.png.*listed in .*train[/\\]rgb'):
        SUNRGBDDataset(tmp_path, split='train')
    with pytest.raises(DataError, match='folder not found'):
        SUNRGBDDataset(tmp_path, split='test', modalities=('rgb', 'hha'))
