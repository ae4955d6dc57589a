"""What the real data set readers share: construction checks, list files, palettes.

A reader subclasses :class:`MultiModalDataset` and implements :meth:`~MultiModalDataset.
list_samples`, returning one dict per sample::

    dict(sample_id='000001',
         modality_paths={'rgb': '<root>/rgb/000001.png', 'depth': ...},  # requested order
         seg_map_path='<root>/masks/000001.png')                           # or None

The base class checks the data root and the requested modalities, checks that every listed
file exists (one-line :class:`DataError` naming the file and the list it came from), and adds
what the loading transforms need to each data info: ``num_classes``, ``reduce_zero_label``,
``label_map`` and ``decoding`` (the data set's file conventions, e.g. SUN RGB-D's depth
encoding, read by :class:`~fusionbench.data.transforms.LoadMultiModalFromFiles`).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from fusionbench import registry
from fusionbench.data.errors import DataError
from fusionbench.data.fileio import read_text_lines
from fusionbench.registry import TRANSFORMS


def voc_palette(num_classes: int) -> list[tuple[int, int, int]]:
    """The PASCAL VOC bit-interleaved colour map, skipping black: ``num_classes`` RGB triples.

    Class ``k`` gets VOC colour ``k + 1``, so no class is black (black marks ignore / holes).
    """
    palette = []
    for index in range(1, num_classes + 1):
        r = g = b = 0
        c = index
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette.append((r, g, b))
    return palette


def read_list_file(path: str, what: str) -> list[tuple[int, list[str]]]:
    """Non-empty, non-comment (``#``) lines of a list file as ``(line number, tokens)``.

    ``what`` describes the expected content for the error message.

    Raises:
        DataError: the file does not exist, is not UTF-8 text (a byte-order mark is fine), or
            lists nothing.
    """
    if not os.path.isfile(path):
        raise DataError(f'list file not found: {path} (expected {what})')
    lines = [(n, line.split()) for n, line in enumerate(read_text_lines(path), start=1)]
    entries = [(n, tokens) for n, tokens in lines if tokens and not tokens[0].startswith('#')]
    if not entries:
        raise DataError(f'list file {path} is empty (expected {what})')
    return entries


def stem(path: str) -> str:
    """``'rgb/000001.png'`` -> ``'000001'``."""
    return os.path.splitext(os.path.basename(path))[0]


class MultiModalDataset(BaseDataset):
    """Base of the real multimodal data sets (an mmengine ``BaseDataset``).

    Args:
        data_root: the prepared data set's folder (see the subclass's ``LAYOUT``).
        split: a key of the subclass's ``SPLITS``.
        modalities: names among the subclass's ``MODALITIES``, in the model's order.
        pipeline: transforms (config dicts are built from fusionbench's ``TRANSFORMS`` registry,
            which falls back to mmseg's and mmengine's, whatever the default scope).
        check_files: check at construction that every listed file exists.
        **kwargs: passed to ``BaseDataset`` (``test_mode``, ``indices``, ``lazy_init``, ...).

    Subclasses set ``METAINFO``, ``MODALITIES``, ``SPLITS`` (``{split: list file or folder}``),
    ``LAYOUT`` (one-line description for error messages), optionally ``DECODING`` and
    ``REDUCE_ZERO_LABEL``, and implement :meth:`list_samples`.
    """

    METAINFO: dict = dict(classes=(), palette=())
    MODALITIES: tuple[str, ...] = ()
    SPLITS: dict[str, str] = {}
    LAYOUT: str = ''
    DECODING: dict[str, dict] = {}
    REDUCE_ZERO_LABEL: bool = False

    def __init__(self, data_root: str, split: str = 'train',
                 modalities: Sequence[str] = ('rgb', 'depth'),
                 pipeline: Sequence[dict | Callable] = (), check_files: bool = True,
                 label_map: dict[int, int] | None = None, **kwargs):
        name = type(self).__name__
        data_root = os.fspath(data_root)
        if not os.path.isdir(data_root):
            raise DataError(f'{name}: data root not found: {data_root} (expected {self.LAYOUT})')
        if split not in self.SPLITS:
            raise DataError(f'{name}: unknown split {split!r}; known: {sorted(self.SPLITS)}')
        modalities = tuple(modalities)
        unknown = [m for m in modalities if m not in self.MODALITIES]
        if unknown or not modalities or len(set(modalities)) != len(modalities):
            raise DataError(f'{name}: bad modalities {list(modalities)}; choose distinct names '
                            f'among {list(self.MODALITIES)}')
        self.split = split
        self.modalities = modalities
        self.check_files = check_files
        self.label_map = label_map
        pipeline = [registry.build(TRANSFORMS, t) if isinstance(t, dict) else t
                    for t in pipeline]
        super().__init__(data_root=data_root, pipeline=pipeline, **kwargs)

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(metainfo['classes'])``; 0 for unlabelled data sets)."""
        return len(self.metainfo.get('classes', ()))

    def list_samples(self) -> list[dict]:
        """The split's samples as ``dict(sample_id, modality_paths, seg_map_path, source)``.

        ``source`` names the list file (or folder) the sample came from, for error messages.
        """
        raise NotImplementedError

    def load_data_list(self) -> list[dict]:
        """mmengine hook: :meth:`list_samples` checked and completed with label/decoding info."""
        samples = self.list_samples()
        if not samples:
            raise DataError(f'{type(self).__name__}: split {self.split!r} of {self.data_root} '
                            'has no samples')
        extra = dict(num_classes=self.num_classes or None,
                     reduce_zero_label=self.REDUCE_ZERO_LABEL, label_map=self.label_map,
                     decoding=self.DECODING)
        data_list = []
        for sample in samples:
            source = sample.pop('source')
            if self.check_files:
                paths = [*sample['modality_paths'].values(), sample.get('seg_map_path')]
                for path in filter(None, paths):
                    if not os.path.isfile(path):
                        raise DataError(f'missing file {path}: sample {sample["sample_id"]} is '
                                        f'listed in {source}')
            data_list.append({**sample, **extra})
        return data_list

    def palette_array(self) -> np.ndarray:
        """The palette as ``uint8 [K, 3]``."""
        return np.asarray(self.metainfo['palette'], dtype=np.uint8).reshape(-1, 3)
