"""NYU Depth v2 (Silberman et al., ECCV 2012) in the layout of the channel-exchanging code.

Layout (what :func:`fusionbench.data.converters.prepare_nyudv2` writes)::

    <root>/rgb/000001.png      8-bit RGB, 640x480
    <root>/depth/000001.png    uint16, millimetres (0 = no depth)
    <root>/hha/000001.png      8-bit, 3 channels (optional)
    <root>/masks/000001.png    uint8, 40-class label - 1; unlabelled = 255
    <root>/masks13/000001.png  uint8, 13-class label - 1; unlabelled = 255 (optional)
    <root>/train.txt           795 lines (official trainNdxs)
    <root>/val.txt             654 lines (official testNdxs; split 'test' is an alias)
    <root>/label_encoding.json how the masks encode labels (written by the converter)

Ids are the 1-based NYU indices, six digits. A list line is either

- one sample id (``000001``) or one path whose file stem is the id (``rgb/000001.png``): every
  modality is ``<root>/<modality>/<id>.png`` and the mask ``<root>/masks/<id>.png``; or
- two paths as in the public CEN lists, ``rgb/000001.png masks/000001.png`` (tab or space
  separated, relative to the root): the first is the RGB image (other modalities from its
  stem), the second the mask (its stem only, when 13-class masks are read from ``masks13/``).

Label encoding: the masks must hold ``label - 1`` with unlabelled = 255 (the public code's
encoding). The official release stores raw labels (0 = unlabelled, 1..40); read as they are,
every class would be off by one, and only frames containing class 40 would fail the range
check. The converter therefore records the encoding in ``label_encoding.json``
(:func:`write_label_encoding`), and the reader checks it once per data set when it lists the
split (:func:`check_label_encoding`): a recorded encoding other than ``label-1`` is refused;
without the file, the split's masks are scanned once and refused when they look raw as a whole
(class value K = 40 in any frame, or 0 present and 255 nowhere).

With ``num_classes=13`` the labels are the 13-class set of Couprie et al.: read from ``masks13/``
when that folder exists, otherwise mapped from the 40-class ``masks/`` by :data:`MAP_40_TO_13`.
"""
from __future__ import annotations

import json
import os

import numpy as np

from fusionbench.data.base import MultiModalDataset, read_list_file, stem, voc_palette
from fusionbench.data.errors import DataError
from fusionbench.registry import DATASETS

CLASSES_40 = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf',
    'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser', 'pillow', 'mirror',
    'floor mat', 'clothes', 'ceiling', 'books', 'refridgerator', 'television', 'paper', 'towel',
    'shower curtain', 'box', 'whiteboard', 'person', 'night stand', 'toilet', 'sink', 'lamp',
    'bathtub', 'bag', 'otherstructure', 'otherfurniture', 'otherprop')

CLASSES_13 = ('bed', 'books', 'ceiling', 'chair', 'floor', 'furniture', 'objects', 'picture',
              'sofa', 'table', 'tv', 'wall', 'window')

#: ``class13Mapping.mat``'s ``labels13``: 1-based 13-class label of each 1-based 40-class label.
LABELS13_OF_40 = (12, 5, 6, 1, 4, 9, 10, 12, 13, 6, 8, 6, 13, 10, 6, 13, 6, 7, 7, 5, 7, 3, 2, 6,
                  11, 7, 7, 7, 7, 7, 7, 6, 7, 7, 7, 7, 7, 7, 6, 7)

#: 0-based 40-class mask value -> 0-based 13-class value (255 stays 255).
MAP_40_TO_13 = {k: v - 1 for k, v in enumerate(LABELS13_OF_40)}


#: The file beside the masks that records their encoding.
LABEL_ENCODING_FILE = 'label_encoding.json'
#: The encoding the reader needs: 0-based class index, unlabelled 255.
LABEL_MINUS_ONE = 'label-1'
IGNORE_VALUE = 255


def write_label_encoding(root: str, mask_dir: str, num_classes: int) -> str:
    """Record in ``<root>/label_encoding.json`` that ``<root>/<mask_dir>`` holds ``label - 1``
    masks of ``num_classes`` classes (unlabelled 255); keeps other folders' entries. Returns
    the file's path."""
    path = os.path.join(os.fspath(root), LABEL_ENCODING_FILE)
    record = read_label_encoding(path) if os.path.isfile(path) else {}
    record.setdefault('masks', {})[mask_dir] = {
        'encoding': LABEL_MINUS_ONE, 'num_classes': int(num_classes),
        'ignore_index': IGNORE_VALUE}
    record['written_by'] = 'python -m fusionbench data prepare nyudv2'
    tmp = f'{path}.{os.getpid()}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path


def read_label_encoding(path: str) -> dict:
    """The parsed ``label_encoding.json``; DataError (one line, naming it) when unreadable."""
    try:
        with open(path, encoding='utf-8') as f:
            record = json.load(f)
    except (OSError, ValueError) as err:
        raise DataError(f'{path}: unreadable label encoding record ({err}); rewrite it with '
                        '`python -m fusionbench data prepare nyudv2`') from err
    if not isinstance(record, dict) or not isinstance(record.get('masks', {}), dict):
        raise DataError(f'{path}: expected {{"masks": {{"<folder>": {{"encoding": ...}}}}}}')
    return record


def check_label_encoding(root: str, mask_dir: str, num_classes: int,
                         mask_paths: list[str]) -> str:
    """Check once that ``<root>/<mask_dir>`` holds ``label - 1`` masks; return how it was told.

    Returns ``'recorded'`` (the converter's record says so) or ``'scanned'`` (no record: every
    mask of ``mask_paths`` was read once and the values, taken together, are not raw labels).
    ``num_classes``: classes of the masks themselves (40 for ``masks/`` even when the data set
    maps them to 13).

    Raises DataError (one line) when the record names another encoding or class count, or --
    without a record -- when the masks look raw as a whole: the value ``num_classes`` occurs in
    some frame, or 0 occurs and 255 nowhere.
    """
    from fusionbench.data.fileio import read_image

    root = os.fspath(root)
    path = os.path.join(root, LABEL_ENCODING_FILE)
    fix = ('convert the official release with `python -m fusionbench data prepare nyudv2` '
           '(masks hold label - 1, unlabelled 255)')
    if os.path.isfile(path):
        entry = read_label_encoding(path)['masks'].get(mask_dir)
        if entry is not None:
            encoding = entry.get('encoding')
            if encoding != LABEL_MINUS_ONE:
                raise DataError(f'{path}: {mask_dir}/ is recorded as {encoding!r}, the reader '
                                f'needs {LABEL_MINUS_ONE!r}; {fix}')
            if int(entry.get('num_classes', num_classes)) != num_classes:
                raise DataError(f"{path}: {mask_dir}/ is recorded with {entry['num_classes']} "
                                f'classes, the data set reads it as {num_classes}')
            return 'recorded'
    seen = np.zeros(65536, dtype=bool)
    for mask in mask_paths:
        values = read_image(mask)
        if values.ndim == 2:  # a colour file is reported by LoadSegLabel, naming the frame
            seen[np.unique(values)] = True
    raw = seen[num_classes] or (seen[0] and not seen[IGNORE_VALUE])
    if raw:
        reason = (f'value {num_classes} occurs' if seen[num_classes]
                  else f'0 occurs and {IGNORE_VALUE} (unlabelled) never does')
        raise DataError(f'{root}/{mask_dir}/ looks like raw NYU labels (0 = unlabelled, '
                        f'1..{num_classes}): {reason} in the {len(mask_paths)} masks of the '
                        f'split; {fix}, or, if they are label - 1 already, record it in {path}: '
                        f'{{"masks": {{"{mask_dir}": {{"encoding": "{LABEL_MINUS_ONE}"}}}}}}')
    return 'scanned'


@DATASETS.register_module()
class NYUDv2Dataset(MultiModalDataset):
    """NYU Depth v2, 795 train / 654 test frames, 40 (or 13) classes.

    Args:
        data_root, split, modalities, pipeline, **kwargs: see :class:`MultiModalDataset`;
            ``split`` is ``'train'``, ``'val'`` or ``'test'`` (= ``'val'``), ``modalities``
            among ``rgb``, ``depth``, ``hha``.
        num_classes: 40 (``masks/``) or 13 (see the module doc).

    A data info holds ``modality_paths``, ``seg_map_path`` and ``sample_id`` (e.g. ``'000001'``).
    """

    METAINFO = dict(classes=CLASSES_40, palette=voc_palette(40))
    MODALITIES = ('rgb', 'depth', 'hha')
    SPLITS = {'train': 'train.txt', 'val': 'val.txt', 'test': 'val.txt'}
    LAYOUT = ('rgb/, depth/ (uint16 mm), hha/, masks/ (label-1, 255 unlabelled) PNG folders and '
              'train.txt / val.txt lists')

    def __init__(self, data_root: str, split: str = 'train', modalities=('rgb', 'depth'),
                 pipeline=(), num_classes: int = 40, **kwargs):
        if num_classes not in (40, 13):
            raise DataError(f'NYUDv2Dataset: num_classes must be 40 or 13, got {num_classes}')
        self.mask_dir = 'masks'
        if num_classes == 13:
            kwargs.setdefault('metainfo', dict(classes=CLASSES_13, palette=voc_palette(13)))
            if os.path.isdir(os.path.join(os.fspath(data_root), 'masks13')):
                self.mask_dir = 'masks13'
            else:
                kwargs.setdefault('label_map', MAP_40_TO_13)
        super().__init__(data_root, split, modalities, pipeline, **kwargs)

    def _paths(self, line_no: int, tokens: list[str], list_file: str) -> tuple[str, dict, str]:
        root = self.data_root
        if len(tokens) == 1:
            sample_id = stem(tokens[0])
            mask = os.path.join(root, self.mask_dir, f'{sample_id}.png')
        elif len(tokens) == 2:
            sample_id = stem(tokens[0])
            mask = (os.path.join(root, tokens[1]) if self.mask_dir == 'masks'
                    else os.path.join(root, self.mask_dir, f'{stem(tokens[1])}.png'))
        else:
            raise DataError(f'{list_file}:{line_no}: expected "<id>" or "rgb/<id>.png '
                            f'masks/<id>.png", got {len(tokens)} fields')
        paths = {m: os.path.join(root, m, f'{sample_id}.png') for m in self.modalities}
        if len(tokens) == 2 and 'rgb' in paths:
            paths['rgb'] = os.path.join(root, tokens[0])
        return sample_id, paths, mask

    def list_samples(self) -> list[dict]:
        list_file = os.path.join(self.data_root, self.SPLITS[self.split])
        entries = read_list_file(list_file, 'one NYU id a line, e.g. 000001, or '
                                            '"rgb/000001.png masks/000001.png"')
        samples = []
        for line_no, tokens in entries:
            sample_id, paths, mask = self._paths(line_no, tokens, list_file)
            samples.append(dict(sample_id=sample_id, modality_paths=paths, seg_map_path=mask,
                                source=list_file))
        return samples

    def load_data_list(self) -> list[dict]:
        """The checked data infos; the masks' label encoding is checked once here
        (:func:`check_label_encoding`; ``label_encoding_checked`` tells how)."""
        data_list = super().load_data_list()
        if self.check_files:
            mask_classes = 13 if self.mask_dir == 'masks13' else 40
            self.label_encoding_checked = check_label_encoding(
                self.data_root, self.mask_dir, mask_classes,
                [info['seg_map_path'] for info in data_list])
        return data_list
