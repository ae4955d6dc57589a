"""Converters from the official data set releases to the layouts the readers expect.

``prepare_nyudv2`` turns the official NYU Depth v2 release into the layout of
:mod:`fusionbench.data.nyudv2`:

- ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3 = HDF5, read with h5py). MATLAB stores arrays
  column-major, so h5py sees them transposed: ``images`` ``uint8 (N, 3, 640, 480)``,
  ``depths`` ``float32 (N, 640, 480)`` metres, ``labels`` ``uint16 (N, 640, 480)`` over 894
  classes (0 = unlabelled).
- ``splits.mat`` (MATLAB v5): ``trainNdxs`` (795) and ``testNdxs`` (654), 1-based indices.
- ``classMapping40.mat`` (MATLAB v5): ``mapClass`` ``(1, 894)``, the 40-class label of each
  894-class label.

The CLI wires :func:`add_prepare_arguments` / :func:`run_prepare` as ``python -m fusionbench
data prepare nyudv2 --labeled-mat ... --splits ... --mapping ... --out ...``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence

import numpy as np

from fusionbench.data.errors import DataError
from fusionbench.data.fileio import write_png
from fusionbench.data.nyudv2 import LABELS13_OF_40, write_label_encoding

IGNORE_INDEX = 255
NYU_FIELDS = ('images', 'depths', 'labels')


def _require_file(path: str, what: str) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f'{what} not found: {path}')
    return path


def _load_mat_field(path: str, key: str) -> np.ndarray:
    import scipy.io
    try:
        mat = scipy.io.loadmat(path)
    except Exception as error:  # scipy raises several types for non-v5 / corrupt files
        raise DataError(f'cannot read {path} as a MATLAB v5 file: {error}') from None
    if key not in mat:
        found = sorted(k for k in mat if not k.startswith('__'))
        raise DataError(f'{path} has no field {key!r} (fields: {found})')
    return np.asarray(mat[key]).ravel()


def nyu_label_lut(mapping_mat: str, classes: int = 40) -> np.ndarray:
    """Lookup table ``[895]`` ``uint8``: 894-class label -> ``classes``-class mask value.

    Mask values are ``label - 1`` in ``[0, classes)``; unlabelled (0) -> 255.
    """
    if classes not in (40, 13):
        raise DataError(f'NYU Depth v2 has 40- or 13-class labels, got classes={classes}')
    map_class = _load_mat_field(mapping_mat, 'mapClass').astype(np.int64)
    if map_class.size != 894 or map_class.min() < 1 or map_class.max() > 40:
        raise DataError(f'{mapping_mat}: mapClass should hold 894 labels in 1..40, got '
                        f'{map_class.size} in {map_class.min()}..{map_class.max()}')
    label40 = np.concatenate([[0], map_class])            # 0 stays unlabelled
    if classes == 13:
        label40 = np.asarray((0, *LABELS13_OF_40))[label40]
    return np.where(label40 == 0, IGNORE_INDEX, label40 - 1).astype(np.uint8)


def _read_splits(splits_mat: str, num_frames: int) -> dict[str, np.ndarray]:
    splits = {'train': _load_mat_field(splits_mat, 'trainNdxs').astype(np.int64),
              'val': _load_mat_field(splits_mat, 'testNdxs').astype(np.int64)}
    for name, indices in splits.items():
        if indices.size and (indices.min() < 1 or indices.max() > num_frames):
            raise DataError(f'{splits_mat}: {name} indices span {indices.min()}..{indices.max()}'
                            f' but the labelled .mat has {num_frames} frames (indices are 1-based)')
    return splits


def _open_labeled(path: str):
    import h5py
    try:
        f = h5py.File(path, 'r')
    except OSError as error:
        raise DataError(f'cannot read {path} as MATLAB v7.3 (HDF5): {error}') from None
    missing = [k for k in NYU_FIELDS if k not in f]
    if missing:
        f.close()
        raise DataError(f'{path} lacks the official fields {missing}')
    n = f['images'].shape[0]
    shapes = {k: f[k].shape for k in NYU_FIELDS}
    if (len(shapes['images']) != 4 or shapes['images'][1] != 3
            or shapes['depths'] != shapes['images'][:1] + shapes['images'][2:]
            or shapes['labels'] != shapes['depths']):
        f.close()
        raise DataError(f'{path}: expected images (N, 3, W, H), depths and labels (N, W, H); '
                        f'got {shapes}')
    return f, n


def prepare_nyudv2(labeled_mat: str, splits_mat: str, mapping_mat: str, out_root: str,
                   classes: int = 40, use_hha_from: str | None = None) -> dict:
    """Write the NYU Depth v2 layout of :mod:`fusionbench.data.nyudv2` from the official files.

    For every frame of the official train and test splits (id = 1-based index, six digits):
    ``rgb/<id>.png`` (``uint8 [480, 640, 3]``), ``depth/<id>.png`` (``uint16 [480, 640]``,
    millimetres, rounded), ``masks/<id>.png`` (40 classes) or ``masks13/<id>.png`` (13 classes)
    (``uint8 [480, 640]``, ``label - 1``, unlabelled 255), optionally ``hha/<id>.png`` copied
    from ``use_hha_from/<id>.png``; ``train.txt`` / ``val.txt`` listing ids in split order; and
    ``label_encoding.json`` recording the masks' encoding (``label-1``, 255 unlabelled), which
    the reader checks (:func:`fusionbench.data.nyudv2.check_label_encoding`).

    Args:
        labeled_mat: ``nyu_depth_v2_labeled.mat``.
        splits_mat: ``splits.mat``.
        mapping_mat: ``classMapping40.mat``.
        out_root: output folder (created).
        classes: 40 or 13.
        use_hha_from: folder of precomputed HHA PNGs named ``<id>.png``.

    Returns:
        ``dict(out_root=..., train=795, val=654, classes=40)`` (counts of the files written).

    Raises:
        DataError: a missing or malformed input (one line naming the file).
    """
    labeled_mat = _require_file(labeled_mat, 'labelled NYU Depth v2 .mat')
    splits_mat = _require_file(splits_mat, 'splits.mat')
    mapping_mat = _require_file(mapping_mat, 'classMapping40.mat')
    lut = nyu_label_lut(mapping_mat, classes)
    mask_dir = 'masks' if classes == 40 else 'masks13'
    f, num_frames = _open_labeled(labeled_mat)
    with f:
        splits = _read_splits(splits_mat, num_frames)
        indices = sorted(set(splits['train'].tolist()) | set(splits['val'].tolist()))
        ids = {i: f'{i:06d}' for i in indices}
        if use_hha_from is not None:
            missing = [os.path.join(use_hha_from, f'{ids[i]}.png') for i in indices
                       if not os.path.isfile(os.path.join(use_hha_from, f'{ids[i]}.png'))]
            if missing:
                raise DataError(f'{len(missing)} HHA files missing from {use_hha_from}, '
                                f'first: {missing[0]}')
        for i in indices:
            sample_id = ids[i]
            rgb = np.asarray(f['images'][i - 1]).transpose(2, 1, 0)        # (3, W, H) -> (H, W, 3)
            depth_m = np.asarray(f['depths'][i - 1]).T
            label = np.asarray(f['labels'][i - 1]).T.astype(np.int64)
            if label.max() >= lut.size:
                raise DataError(f'{labeled_mat}: frame {i} has label {label.max()} > 894')
            depth_mm = np.clip(np.round(depth_m * 1000.0), 0, 65535).astype(np.uint16)
            write_png(os.path.join(out_root, 'rgb', f'{sample_id}.png'), rgb.astype(np.uint8))
            write_png(os.path.join(out_root, 'depth', f'{sample_id}.png'), depth_mm)
            write_png(os.path.join(out_root, mask_dir, f'{sample_id}.png'), lut[label])
            if use_hha_from is not None:
                os.makedirs(os.path.join(out_root, 'hha'), exist_ok=True)
                shutil.copyfile(os.path.join(use_hha_from, f'{sample_id}.png'),
                                os.path.join(out_root, 'hha', f'{sample_id}.png'))
    for name, split_indices in splits.items():
        with open(os.path.join(out_root, f'{name}.txt'), 'w', encoding='utf-8') as out:
            out.writelines(f'{ids[i]}\n' for i in split_indices.tolist())
    write_label_encoding(out_root, mask_dir, classes)  # the reader checks it once per data set
    return dict(out_root=os.fspath(out_root), train=int(splits['train'].size),
                val=int(splits['val'].size), classes=classes)


def add_prepare_arguments(subparsers) -> argparse.ArgumentParser:
    """Add the ``nyudv2`` converter to ``subparsers`` (of ``fusionbench data prepare``).

    The parser's ``func`` default is :func:`run_prepare`.
    """
    parser = subparsers.add_parser(
        'nyudv2', help='convert the official NYU Depth v2 release',
        description='Write rgb/, depth/ (uint16 mm), masks/ (label-1, 255 unlabelled), '
                    'train.txt and val.txt from the official NYU Depth v2 files.')
    parser.add_argument('--labeled-mat', required=True, help='nyu_depth_v2_labeled.mat (v7.3)')
    parser.add_argument('--splits', required=True, help='splits.mat (trainNdxs, testNdxs)')
    parser.add_argument('--mapping', required=True, help='classMapping40.mat (mapClass)')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--classes', type=int, choices=(40, 13), default=40)
    parser.add_argument('--hha-from', default=None, help='folder of precomputed <id>.png HHA')
    parser.set_defaults(func=run_prepare)
    return parser


def run_prepare(args: argparse.Namespace) -> int:
    """Run :func:`prepare_nyudv2` from parsed arguments; print a summary; return an exit code.

    A :class:`DataError` is printed as one ``fusionbench:`` line on stderr (as every command's
    errors are) and returns 2.
    """
    try:
        summary = prepare_nyudv2(args.labeled_mat, args.splits, args.mapping, args.out,
                                 classes=args.classes, use_hha_from=args.hha_from)
    except DataError as error:
        print(f'fusionbench: {error}', file=sys.stderr)
        return 2
    print(f'NYU Depth v2 written to {summary["out_root"]}: {summary["train"]} train, '
          f'{summary["val"]} val frames, {summary["classes"]} classes')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``fusionbench data prepare <dataset> ...`` as a stand-alone entry point."""
    parser = argparse.ArgumentParser(prog='fusionbench data prepare')
    add_prepare_arguments(parser.add_subparsers(dest='dataset', required=True))
    args = parser.parse_args(argv)
    return args.func(args)
