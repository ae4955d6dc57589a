"""NYU Depth v2 converter on a small file with the official field names and MATLAB layout."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import scipy.io

from fusionbench.data.converters import add_prepare_arguments, main, prepare_nyudv2
from fusionbench.data.errors import DataError
from fusionbench.data.fileio import read_image, write_png
from fusionbench.data.nyudv2 import LABELS13_OF_40, NYUDv2Dataset

H, W, N = 24, 32, 5


@pytest.fixture
def official(tmp_path):
    """Official-format files: 5 frames of 24 x 32; train = 1, 3, 5; test = 4, 2."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (N, H, W, 3), dtype=np.uint8)
    rgb[:, 0, 0] = (255, 0, 0)                              # top-left red: orientation check
    depth = rng.uniform(0.5, 9.0, (N, H, W)).astype(np.float32)
    labels = rng.integers(0, 895, (N, H, W)).astype(np.uint16)
    map_class = rng.integers(1, 41, 894).astype(np.uint8)
    labeled = tmp_path / 'nyu_depth_v2_labeled.mat'
    with h5py.File(labeled, 'w') as f:                       # MATLAB column-major as h5py sees it
        f['images'] = rgb.transpose(0, 3, 2, 1)             # (N, 3, W, H)
        f['depths'] = depth.transpose(0, 2, 1)              # (N, W, H)
        f['labels'] = labels.transpose(0, 2, 1)
    scipy.io.savemat(tmp_path / 'splits.mat', dict(trainNdxs=np.array([[1], [3], [5]], np.uint16),
                                                   testNdxs=np.array([[4], [2]], np.uint16)))
    scipy.io.savemat(tmp_path / 'classMapping40.mat', dict(mapClass=map_class[None]))
    return dict(paths=(str(labeled), str(tmp_path / 'splits.mat'),
                       str(tmp_path / 'classMapping40.mat')),
                rgb=rgb, depth=depth, labels=labels, map_class=map_class)


def expected_mask(official, index, classes=40):
    label40 = np.concatenate([[0], official['map_class']])[official['labels'][index]]
    if classes == 13:
        label40 = np.asarray((0, *LABELS13_OF_40))[label40]
    return np.where(label40 == 0, 255, label40.astype(np.int64) - 1)


def test_prepare_nyudv2_writes_layout(official, tmp_path):
    out = tmp_path / 'out'
    summary = prepare_nyudv2(*official['paths'], out)
    assert summary == dict(out_root=str(out), train=3, val=2, classes=40)
    assert (out / 'train.txt').read_text().split() == ['000001', '000003', '000005']
    assert (out / 'val.txt').read_text().split() == ['000004', '000002']
    rgb = read_image(out / 'rgb' / '000002.png')
    assert rgb.shape == (H, W, 3) and tuple(rgb[0, 0]) == (255, 0, 0)
    np.testing.assert_array_equal(rgb, official['rgb'][1])
    depth = read_image(out / 'depth' / '000002.png')
    assert depth.dtype == np.uint16
    np.testing.assert_allclose(depth / 1000, official['depth'][1], atol=6e-4)
    np.testing.assert_array_equal(read_image(out / 'masks' / '000004.png'),
                                  expected_mask(official, 3))
    dataset = NYUDv2Dataset(out, split='train', pipeline=[dict(type='LoadMultiModalFromFiles'),
                                                          dict(type='LoadSegLabel')])
    assert len(dataset) == 3 and dataset[2]['gt_seg_map'].shape == (H, W)
    record = json.loads((out / 'label_encoding.json').read_text())
    assert record['masks'] == {'masks': {'encoding': 'label-1', 'num_classes': 40,
                                         'ignore_index': 255}}
    assert dataset.label_encoding_checked == 'recorded'  # the record, not a scan


def test_prepare_thirteen_classes_and_hha(official, tmp_path):
    hha_dir = tmp_path / 'hha_src'
    for i in range(1, N + 1):
        write_png(hha_dir / f'{i:06d}.png', np.full((H, W, 3), i, np.uint8))
    out = tmp_path / 'out13'
    prepare_nyudv2(*official['paths'], out, classes=13, use_hha_from=str(hha_dir))
    np.testing.assert_array_equal(read_image(out / 'masks13' / '000001.png'),
                                  expected_mask(official, 0, classes=13))
    assert read_image(out / 'hha' / '000005.png')[0, 0, 0] == 5
    dataset = NYUDv2Dataset(out, split='val', modalities=('rgb', 'hha'), num_classes=13,
                            pipeline=[dict(type='LoadSegLabel')])
    assert dataset[0]['gt_seg_map'].max() <= 255


def test_cli_main(official, tmp_path, capsys):
    labeled, splits, mapping = official['paths']
    code = main(['nyudv2', '--labeled-mat', labeled, '--splits', splits, '--mapping', mapping,
                 '--out', str(tmp_path / 'cli')])
    assert code == 0 and '3 train, 2 val' in capsys.readouterr().out
    code = main(['nyudv2', '--labeled-mat', str(tmp_path / 'nope.mat'), '--splits', splits,
                 '--mapping', mapping, '--out', str(tmp_path / 'cli2')])
    err = capsys.readouterr().err
    assert code == 2 and 'nope.mat' in err and err.count('\n') == 1


def test_add_prepare_arguments_wires_subcommand():
    import argparse
    parser = argparse.ArgumentParser()
    add_prepare_arguments(parser.add_subparsers(dest='dataset'))
    args = parser.parse_args(['nyudv2', '--labeled-mat', 'a', '--splits', 'b', '--mapping', 'c',
                              '--out', 'd', '--classes', '13'])
    assert args.classes == 13 and args.hha_from is None and callable(args.func)


def test_converter_errors(official, tmp_path):
    labeled, splits, mapping = official['paths']
    scipy.io.savemat(tmp_path / 'bad_splits.mat', dict(trainNdxs=np.array([[1], [9]]),
                                                       testNdxs=np.array([[2]])))
    with pytest.raises(DataError, match='5 frames'):
        prepare_nyudv2(labeled, str(tmp_path / 'bad_splits.mat'), mapping, tmp_path / 'o')
    with pytest.raises(DataError, match='MATLAB v7.3'):
        prepare_nyudv2(splits, splits, mapping, tmp_path / 'o')     # a v5 file is not HDF5
    with pytest.raises(DataError, match='HHA files missing'):
        prepare_nyudv2(labeled, splits, mapping, tmp_path / 'o', use_hha_from=str(tmp_path))
