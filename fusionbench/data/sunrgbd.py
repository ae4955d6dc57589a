"""SUN RGB-D (Song et al., CVPR 2015), 37 classes, 5285 train / 5050 test images.

Layout: one folder per split and modality, files named by sample id (the layout of the common
preparation scripts, e.g. ESANet's, with the toolbox's raw depth PNGs)::

    <root>/train/rgb/<id>.jpg     8-bit RGB (.jpg or .png); sizes vary by sensor
    <root>/train/depth/<id>.png   uint16, SUN encoding: millimetres rotated left by 3 bits
    <root>/train/hha/<id>.png     8-bit, 3 channels (optional)
    <root>/train/label/<id>.png   uint8 0..37, 0 = unlabelled (read as label - 1, 0 -> 255)
    <root>/test/...               the same for the 5050 test images

The sample list of a split is the sorted file stems of its first requested modality's folder;
every other requested file must exist for each. Depth is decoded as the SUN RGB-D toolbox does,
``d = (v >> 3) | (v << 13)`` in uint16, millimetres (the toolbox's 8 m clip is not applied).
"""
from __future__ import annotations

import os

from fusionbench.data.base import MultiModalDataset, stem, voc_palette
from fusionbench.data.errors import DataError
from fusionbench.registry import DATASETS

CLASSES_37 = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf',
    'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser', 'pillow', 'mirror',
    'floor_mat', 'clothes', 'ceiling', 'books', 'fridge', 'tv', 'paper', 'towel',
    'shower_curtain', 'box', 'whiteboard', 'person', 'night_stand', 'toilet', 'sink', 'lamp',
    'bathtub', 'bag')

_EXTENSIONS = ('.png', '.jpg', '.jpeg')


@DATASETS.register_module()
class SUNRGBDDataset(MultiModalDataset):
    """SUN RGB-D semantic segmentation (37 classes).

    Args:
        data_root, split, modalities, pipeline, **kwargs: see :class:`MultiModalDataset`;
            ``split`` is ``'train'`` or ``'test'`` (``'val'`` = ``'test'``), ``modalities``
            among ``rgb``, ``depth``, ``hha``.
    """

    METAINFO = dict(classes=CLASSES_37, palette=voc_palette(37))
    MODALITIES = ('rgb', 'depth', 'hha')
    SPLITS = {'train': 'train', 'test': 'test', 'val': 'test'}
    LAYOUT = ('train/ and test/ folders, each with rgb/ (.jpg), depth/ (SUN-encoded uint16 PNG), '
              'label/ (0..37 PNG) and optional hha/')
    DECODING = {'depth': dict(decoder='sunrgbd', scale=1e-3)}
    REDUCE_ZERO_LABEL = True
    LABEL_DIR = 'label'

    def _index_folder(self, folder: str) -> dict[str, str]:
        if not os.path.isdir(folder):
            raise DataError(f'SUNRGBDDataset: folder not found: {folder} (expected {self.LAYOUT})')
        return {stem(f): os.path.join(folder, f) for f in os.listdir(folder)
                if f.lower().endswith(_EXTENSIONS)}

    def list_samples(self) -> list[dict]:
        split_dir = os.path.join(self.data_root, self.SPLITS[self.split])
        folders = {m: os.path.join(split_dir, m) for m in (*self.modalities, self.LABEL_DIR)}
        files = {m: self._index_folder(folder) for m, folder in folders.items()}
        source = folders[self.modalities[0]]
        samples = []
        for sample_id in sorted(files[self.modalities[0]]):
            def path(m: str) -> str:  # missing files are reported by the base class
                return files[m].get(sample_id, os.path.join(folders[m], f'{sample_id}.png'))
            samples.append(dict(sample_id=sample_id,
                                modality_paths={m: path(m) for m in self.modalities},
                                seg_map_path=path(self.LABEL_DIR), source=source))
        return samples
