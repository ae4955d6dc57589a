"""Taskonomy (Zamir et al., CVPR 2018) domains for multimodal image translation.

Layout: one folder per domain, Taskonomy's file names, and one list file per split::

    <root>/<domain>/point_<i>_view_<j>_domain_<domain>.png
    <root>/{train,val,test}.txt          one sample id a line

with the domains' conventions::

    rgb            8-bit RGB
    depth_zbuffer  uint16, 1/512 m, 65535 = invalid (decoded to 0)
    normal         8-bit RGB, [0, 255] -> [-1, 1]
    reshading      8-bit, [0, 255] -> [0, 1]
    edge_texture   uint16, [0, 65535] -> [0, 1]

A sample id is ``point_<i>_view_<j>``, optionally under a building folder
(``<building>/point_<i>_view_<j>`` -> ``<root>/<domain>/<building>/point_..._domain_<domain>.png``);
a list line may also be a full file name of any domain (``point_1_view_2_domain_rgb.png``).
Decoded values are in :mod:`fusionbench.data.fileio`. There are no labels.
"""
from __future__ import annotations

import os
import re

from fusionbench.data.base import MultiModalDataset, read_list_file
from fusionbench.registry import DATASETS

DOMAINS = ('rgb', 'depth_zbuffer', 'normal', 'reshading', 'edge_texture')

_DOMAIN_SUFFIX = re.compile(r'_domain_[a-z0-9_]+$')


def sample_id_of(token: str) -> str:
    """``'point_1_view_2_domain_rgb.png'`` or ``'point_1_view_2'`` -> ``'point_1_view_2'``."""
    return _DOMAIN_SUFFIX.sub('', token.removesuffix('.png'))


def domain_path(root: str, domain: str, sample_id: str) -> str:
    """``<root>/<domain>/<sample_id>_domain_<domain>.png``."""
    return os.path.join(root, domain, f'{sample_id}_domain_{domain}.png')


@DATASETS.register_module()
class TaskonomyDataset(MultiModalDataset):
    """Taskonomy images of the requested domains (no label; ``seg_map_path`` is ``None``).

    Args:
        data_root, split, pipeline, **kwargs: see :class:`MultiModalDataset`; ``split`` is
            ``'train'``, ``'val'`` or ``'test'`` (list file ``<split>.txt``).
        modalities: domains among :data:`DOMAINS`, in the model's order.
    """

    METAINFO = dict(classes=(), palette=(), domains=DOMAINS)
    MODALITIES = DOMAINS
    SPLITS = {'train': 'train.txt', 'val': 'val.txt', 'test': 'test.txt'}
    LAYOUT = ('one folder per domain (rgb/, depth_zbuffer/, normal/, reshading/, edge_texture/) '
              'with point_<i>_view_<j>_domain_<domain>.png files and train/val/test.txt lists')

    def __init__(self, data_root: str, split: str = 'train',
                 modalities=('rgb', 'depth_zbuffer'), pipeline=(), **kwargs):
        super().__init__(data_root, split, modalities, pipeline, **kwargs)

    def list_samples(self) -> list[dict]:
        list_file = os.path.join(self.data_root, self.SPLITS[self.split])
        entries = read_list_file(list_file, 'one sample id a line, e.g. point_0_view_1')
        samples = []
        for _, tokens in entries:
            sample_id = sample_id_of(tokens[0])
            paths = {d: domain_path(self.data_root, d, sample_id) for d in self.modalities}
            samples.append(dict(sample_id=sample_id, modality_paths=paths, seg_map_path=None,
                                source=list_file))
        return samples
