"""Taskonomy reader on generated fixtures: domain folders, file names, value conventions."""
from __future__ import annotations

import numpy as np
import pytest

from fusionbench.data.errors import DataError
from fusionbench.data.fileio import write_png
from fusionbench.data.taskonomy import DOMAINS, TaskonomyDataset, domain_path

SIZE = (16, 16)


@pytest.fixture
def taskonomy_root(tmp_path):
    rng = np.random.default_rng(0)
    ids = ['point_0_view_0', 'point_0_view_1', 'point_7_view_3']
    frames = {}
    for sample_id in ids:
        depth = rng.integers(0, 60000, SIZE, dtype=np.uint16)
        depth[0, :4] = 65535
        frame = dict(rgb=rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8), depth_zbuffer=depth,
                     normal=rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8),
                     reshading=rng.integers(0, 256, SIZE, dtype=np.uint8),
                     edge_texture=rng.integers(0, 65536, SIZE, dtype=np.uint16))
        for domain in DOMAINS:
            write_png(domain_path(str(tmp_path), domain, sample_id), frame[domain])
        frames[sample_id] = frame
    (tmp_path / 'train.txt').write_text('point_0_view_0\npoint_0_view_1_domain_rgb.png\n')
    (tmp_path / 'val.txt').write_text('point_7_view_3\n')
    return tmp_path, frames


def test_all_domains_decoded(taskonomy_root):
    root, frames = taskonomy_root
    dataset = TaskonomyDataset(root, split='train', modalities=DOMAINS,
                               pipeline=[dict(type='LoadMultiModalFromFiles')])
    assert len(dataset) == 2 and dataset.num_classes == 0
    sample = dataset[1]
    frame = frames['point_0_view_1']
    assert sample['sample_id'] == 'point_0_view_1' and sample['seg_map_path'] is None
    m = sample['modalities']
    assert list(m) == list(DOMAINS)
    np.testing.assert_array_equal(m['rgb'], frame['rgb'])
    depth = frame['depth_zbuffer']
    np.testing.assert_allclose(m['depth_zbuffer'][..., 0],
                               np.where(depth == 65535, 0, depth / 512), rtol=1e-6)
    assert np.all(m['depth_zbuffer'][0, :4] == 0)
    assert m['normal'].dtype == np.float32 and -1 <= m['normal'].min() and m['normal'].max() <= 1
    np.testing.assert_allclose(m['normal'], frame['normal'] / 127.5 - 1, atol=1e-6)
    np.testing.assert_allclose(m['reshading'][..., 0], frame['reshading'] / 255, atol=1e-6)
    np.testing.assert_allclose(m['edge_texture'][..., 0], frame['edge_texture'] / 65535,
                               atol=1e-6)


def test_translation_pipeline_flips_normals(taskonomy_root):
    root, frames = taskonomy_root
    dataset = TaskonomyDataset(root, split='val', modalities=('rgb', 'normal'),
                               pipeline=[dict(type='LoadMultiModalFromFiles'),
                                         dict(type='MultiModalRandomFlip', prob=1.0),
                                         dict(type='PackMultiModalInputs')])
    packed = dataset[0]
    normal = frames['point_7_view_3']['normal'] / 127.5 - 1
    np.testing.assert_allclose(packed['inputs']['normal'][0].numpy(), -normal[:, ::-1, 0],
                               atol=1e-6)
    assert 'gt_sem_seg' not in packed['data_samples']


def test_missing_domain_file(taskonomy_root):
    root, _ = taskonomy_root
    (root / 'normal' / 'point_7_view_3_domain_normal.png').unlink()
    with pytest.raises(DataError, match=r'point_7_view_3_domain_normal\.png.*val\.txt'):
        TaskonomyDataset(root, split='val', modalities=('rgb', 'normal'))
    with pytest.raises(DataError, match=r'list file not found: .*test\.txt'):
        TaskonomyDataset(root, split='test')
