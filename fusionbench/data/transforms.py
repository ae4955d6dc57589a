"""Multimodal transforms: one geometric decision applied identically to every modality and label.

The pipeline's ``results`` dict (mmcv ``BaseTransform`` style):

- ``results['modalities']``: ``{name: np.ndarray [H, W, C]}`` in the model's modality order
  (RGB ``uint8`` or ``float32``; depth ``float32`` in metres, ``[H, W, 1]``; HHA ``uint8``).
- ``results['gt_seg_map']``: ``np.ndarray [H, W]`` (integer; 255 = ignore).
- ``results['img_shape']`` / ``results['ori_shape']``: ``(H, W)``; ``results['sample_id']``.

:class:`PackMultiModalInputs` turns that into ``{'inputs': {name: Tensor [C, H, W] float32},
'data_samples': SegDataSample}`` for :class:`fusionbench.models.MultiModalDataPreprocessor`,
which stacks the modalities modality-major into ``[M*N, C, H, W]``.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from fusionbench.data import fileio
from fusionbench.data.errors import DataError
from fusionbench.registry import TRANSFORMS

IGNORE_INDEX = 255


def _as_hwc(array: np.ndarray) -> np.ndarray:
    return array[..., None] if array.ndim == 2 else array


@TRANSFORMS.register_module()
class NormalizeModalities(BaseTransform):
    """Per-modality ``(x - mean) / std`` to float32; modalities not named pass through as float.

    Args:
        mean / std: ``{modality: [C] sequence}`` (a single value broadcasts over channels).
    """

    def __init__(self, mean: dict[str, Sequence[float]], std: dict[str, Sequence[float]]):
        unknown = set(mean) ^ set(std)
        if unknown:
            raise ValueError(f'NormalizeModalities: mean and std name different modalities: '
                             f'{sorted(unknown)}')
        self.mean = {k: np.asarray(v, np.float32).reshape(-1) for k, v in mean.items()}
        self.std = {k: np.asarray(v, np.float32).reshape(-1) for k, v in std.items()}

    def transform(self, results: dict) -> dict:
        out = {}
        for name, array in results['modalities'].items():
            array = _as_hwc(array).astype(np.float32)
            if name in self.mean:
                array = (array - self.mean[name]) / self.std[name]
            out[name] = array
        results['modalities'] = out
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(mean={self.mean}, std={self.std})'


@TRANSFORMS.register_module()
class PackMultiModalInputs(BaseTransform):
    """Pack modalities and label into ``inputs`` tensors and a ``SegDataSample``.

    Output: ``{'inputs': {name: Tensor [C, H, W] float32}, 'data_samples': SegDataSample}`` with
    ``gt_sem_seg.data`` a ``LongTensor [1, H, W]`` when a label is present.
    """

    meta_keys = ('sample_id', 'sample_idx', 'ori_shape', 'img_shape', 'flip', 'scale_factor',
                 'modality_names', 'reduce_zero_label')

    def transform(self, results: dict) -> dict:
        inputs = {name: torch.from_numpy(np.ascontiguousarray(
                      _as_hwc(a).astype(np.float32).transpose(2, 0, 1)))
                  for name, a in results['modalities'].items()}
        sample = SegDataSample()
        if 'gt_seg_map' in results:
            label = torch.from_numpy(np.ascontiguousarray(results['gt_seg_map']).astype(np.int64))
            sample.gt_sem_seg = PixelData(data=label[None])
        first = next(iter(results['modalities'].values()))
        meta = {'img_shape': tuple(first.shape[:2]), 'ori_shape': tuple(first.shape[:2]),
                'modality_names': tuple(results['modalities'])}
        meta.update({k: results[k] for k in self.meta_keys if k in results})
        sample.set_metainfo(meta)
        return {'inputs': inputs, 'data_samples': sample}


# --------------------------------------------------------------------------------------------
# Loading and geometry for the real data sets.
#
# Every geometric transform draws ONE random decision and applies it to every modality and the
# label, after checking that they all share H x W. Sizes are (h, w) throughout -- unlike mmcv's
# Resize/Pad, which take (w, h). Resizing is bilinear for images and nearest-neighbour for depth
# (``NEAREST_MODALITIES``) and labels, so depth never mixes foreground and background and labels
# keep their original values.
# --------------------------------------------------------------------------------------------

NEAREST_MODALITIES = ('depth', 'depth_zbuffer')
#: Modalities whose channel 0 is a surface normal's x component (negated by a horizontal flip).
NORMAL_MODALITIES = ('normal',)


def _sample_name(results: dict) -> str:
    return str(results.get('sample_id', results.get('sample_idx', '?')))


def _format_sizes(sizes: dict[str, tuple[int, int]]) -> str:
    return ', '.join(f'{name} {h}x{w}' for name, (h, w) in sizes.items())


def check_aligned(results: dict, who: str) -> tuple[int, int]:
    """Return the common ``(H, W)`` of all modalities and the label in ``results``.

    Raises:
        DataError (a ``ValueError``): sizes disagree; the one-line message names ``who``, the
            sample and every size.
    """
    sizes = {name: tuple(a.shape[:2]) for name, a in results['modalities'].items()}
    if 'gt_seg_map' in results:
        sizes['label'] = tuple(results['gt_seg_map'].shape[:2])
    if len(set(sizes.values())) > 1:
        raise DataError(f'{who}: sample {_sample_name(results)} has modalities and label of '
                        f'different sizes: {_format_sizes(sizes)}')
    return next(iter(sizes.values()))


def _nearest_indices(src: int, dst: int) -> np.ndarray:
    # Pixel-centre aligned, as cv2's bilinear resize: dst pixel i samples src (i + 0.5) * src/dst.
    return np.minimum(((np.arange(dst) + 0.5) * (src / dst)).astype(np.intp), src - 1)


def resize_array(array: np.ndarray, size: tuple[int, int], nearest: bool) -> np.ndarray:
    """Resize ``[H, W]`` or ``[H, W, C]`` (any dtype) to ``size = (h, w)``; keeps rank and dtype.

    ``nearest``: nearest-neighbour (values preserved); otherwise bilinear (cv2).
    """
    h, w = size
    if nearest or array.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        rows = _nearest_indices(array.shape[0], h)
        cols = _nearest_indices(array.shape[1], w)
        return np.ascontiguousarray(array[rows[:, None], cols[None, :]])
    out = cv2.resize(array, (w, h), interpolation=cv2.INTER_LINEAR)
    return out[..., None] if array.ndim == 3 and out.ndim == 2 else out


def rescaled_size(shape: tuple[int, int], scale: tuple[float, float],
                  keep_ratio: bool = True) -> tuple[int, int]:
    """Target ``(h, w)`` for an image of ``shape = (H, W)`` and ``scale = (h, w)``.

    With ``keep_ratio`` the aspect ratio is kept and the largest size is chosen whose long edge
    is at most ``max(scale)`` and short edge at most ``min(scale)`` (mmcv's ``rescale_size``);
    otherwise the size is ``scale`` itself.
    """
    if not keep_ratio:
        return int(round(scale[0])), int(round(scale[1]))
    height, width = shape
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return max(1, int(round(height * factor))), max(1, int(round(width * factor)))


def _resize_results(results: dict, size: tuple[int, int], nearest_modalities: Sequence[str],
                    who: str) -> dict:
    shape = check_aligned(results, who)
    if tuple(size) != tuple(shape):
        results['modalities'] = {
            name: resize_array(a, size, nearest=name in nearest_modalities)
            for name, a in results['modalities'].items()}
        if 'gt_seg_map' in results:
            results['gt_seg_map'] = resize_array(results['gt_seg_map'], size, nearest=True)
    ori_h, ori_w = results.get('ori_shape', shape)
    results['img_shape'] = tuple(size)
    results['scale_factor'] = (size[1] / ori_w, size[0] / ori_h)  # (w, h) as mmseg
    return results


@TRANSFORMS.register_module()
class LoadMultiModalFromFiles(BaseTransform):
    """Read every modality of ``results['modality_paths'] = {name: path}``.

    Each modality is decoded by its :class:`~fusionbench.data.fileio.ModalityCodec`: the defaults
    of :data:`~fusionbench.data.fileio.DEFAULT_CODECS` (rgb/hha ``uint8 [H, W, 3]``; depth
    16-bit mm -> ``float32 [H, W, 1]`` metres; Taskonomy domains), updated by the data set's
    ``results['decoding']`` (e.g. SUN RGB-D's depth bit rotation), updated by this transform's
    arguments.

    Args:
        depth_scale: metres per stored depth unit (``None``: the data set's, else 1/1000).
        depth_decoder: raw-integer depth decoder, e.g. ``'sunrgbd'`` (``None``: the data set's,
            else none).
        decoding: ``{modality: dict(bits=..., channels=..., scale=..., offset=..., invalid=...,
            decoder=...)}`` overrides for any modality.

    Adds ``modalities`` (ordered as ``modality_paths``), ``modality_names``, ``img_shape`` and
    ``ori_shape`` ``(H, W)``. Raises :class:`DataError` for a missing / corrupt file, a wrong
    bit depth (e.g. an 8-bit depth PNG) or modalities of different sizes.
    """

    def __init__(self, depth_scale: float | None = None, depth_decoder=None,
                 decoding: dict[str, dict] | None = None):
        self.overrides = {name: dict(spec) for name, spec in (decoding or {}).items()}
        depth = {k: v for k, v in dict(scale=depth_scale, decoder=depth_decoder).items()
                 if v is not None}
        if depth:
            self.overrides['depth'] = {**self.overrides.get('depth', {}), **depth}
        for name, spec in self.overrides.items():  # fail at build time on bad field names
            fileio.ModalityCodec().replace(**spec)

    def transform(self, results: dict) -> dict:
        dataset_decoding = results.get('decoding') or {}
        modalities, sources = {}, {}
        for name, path in results['modality_paths'].items():
            codec = fileio.resolve_codec(name, dataset_decoding.get(name), self.overrides.get(name))
            modalities[name] = codec.decode(fileio.read_image(path), str(path), name)
            sources[name] = path
        sizes = {name: tuple(a.shape[:2]) for name, a in modalities.items()}
        if len(set(sizes.values())) > 1:
            raise DataError(f'sample {_sample_name(results)}: modality sizes disagree: '
                            + ', '.join(f'{n} {h}x{w} ({sources[n]})'
                                        for n, (h, w) in sizes.items()))
        shape = next(iter(sizes.values()))
        results.update(modalities=modalities, modality_names=tuple(modalities),
                       img_shape=shape, ori_shape=shape)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(overrides={self.overrides})'


def _label_lut(size: int, reduce_zero_label: bool, label_map) -> np.ndarray:
    lut = np.arange(size, dtype=np.int64)
    if reduce_zero_label:  # 0 -> ignore, k -> k - 1, ignore stays ignore
        lut = lut - 1
        lut[0] = IGNORE_INDEX
        if size > IGNORE_INDEX:
            lut[IGNORE_INDEX] = IGNORE_INDEX
    if label_map is not None:
        items = label_map.items() if isinstance(label_map, dict) else enumerate(label_map)
        mapping = np.arange(max(size, IGNORE_INDEX + 1), dtype=np.int64)
        for old, new in items:
            if 0 <= int(old) < mapping.size:
                mapping[int(old)] = int(new)
        lut = np.where(lut >= 0, mapping[np.clip(lut, 0, None)], lut)
    return lut


@TRANSFORMS.register_module()
class LoadSegLabel(BaseTransform):
    """Read ``results['seg_map_path']`` (single-channel 8/16-bit PNG) into ``gt_seg_map``.

    The stored value is mapped by ``reduce_zero_label`` (``0 -> 255``, ``k -> k - 1``) and then
    ``label_map`` (``{old: new}`` or a sequence indexed by old value; unlisted values unchanged).
    Arguments left ``None`` come from the data set's ``results`` keys of the same name (and
    ``num_classes``). Output: ``gt_seg_map`` ``uint8 [H, W]`` (``int32`` if more than 255
    classes) with values in ``[0, num_classes) ∪ {255}``.

    Raises :class:`DataError` for a missing / corrupt / colour label file, a label whose size
    differs from the loaded modalities, or values outside the class range (listing them).
    """

    def __init__(self, reduce_zero_label: bool | None = None, label_map=None,
                 num_classes: int | None = None):
        self.reduce_zero_label = reduce_zero_label
        self.label_map = label_map
        self.num_classes = num_classes

    def _setting(self, results: dict, key: str):
        value = getattr(self, key)
        return results.get(key) if value is None else value

    def transform(self, results: dict) -> dict:
        path = str(results['seg_map_path'])
        raw = fileio.read_image(path)
        sample = _sample_name(results)
        if raw.ndim != 2:
            raise DataError(f'sample {sample}: label file {path} has {raw.shape[2]} channels; '
                            'expected a single-channel class-index PNG')
        if 'modalities' in results:
            sizes = {n: tuple(a.shape[:2]) for n, a in results['modalities'].items()}
            if any(s != raw.shape for s in sizes.values()):
                sizes['label'] = raw.shape
                raise DataError(f'sample {sample}: label {path} does not match the modalities '
                                f'in size: {_format_sizes(sizes)}')
        lut = _label_lut(256 if raw.dtype == np.uint8 else 65536,
                         bool(self._setting(results, 'reduce_zero_label')),
                         self._setting(results, 'label_map'))
        label = lut[raw]
        num_classes = self._setting(results, 'num_classes')
        if num_classes is not None:
            bad = ((label < 0) | (label >= num_classes)) & (label != IGNORE_INDEX)
            if bad.any():
                values = np.unique(label[bad])
                shown = ', '.join(map(str, values[:10])) + (', ...' if values.size > 10 else '')
                raise DataError(f'sample {sample}: label {path} has values outside '
                                f'[0, {num_classes}) and {IGNORE_INDEX} (after mapping): {shown}')
        fits_uint8 = label.size == 0 or (label.min() >= 0 and label.max() <= 255)
        results['gt_seg_map'] = label.astype(np.uint8 if fits_uint8 else np.int32)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(reduce_zero_label={self.reduce_zero_label}, '
                f'label_map={self.label_map}, num_classes={self.num_classes})')


@TRANSFORMS.register_module()
class MultiModalResize(BaseTransform):
    """Deterministic resize of every modality and the label (e.g. one scale of a multi-scale test).

    Args:
        scale: target ``(h, w)``; with ``keep_ratio`` edge bounds (see :func:`rescaled_size`).
        scale_factor: or a factor of the current size (exactly one of the two).
        keep_ratio: keep the aspect ratio when ``scale`` is given.
        nearest_modalities: modalities resized nearest-neighbour (labels always are).

    Updates ``img_shape`` and ``scale_factor`` ``(w, h)`` relative to ``ori_shape``.
    """

    def __init__(self, scale: Sequence[int] | None = None, scale_factor: float | None = None,
                 keep_ratio: bool = True,
                 nearest_modalities: Sequence[str] = NEAREST_MODALITIES):
        if (scale is None) == (scale_factor is None):
            raise ValueError('MultiModalResize: give exactly one of scale and scale_factor')
        self.scale = None if scale is None else tuple(scale)
        self.scale_factor = scale_factor
        self.keep_ratio = keep_ratio
        self.nearest_modalities = tuple(nearest_modalities)

    def target_size(self, shape: tuple[int, int]) -> tuple[int, int]:
        """``(h, w)`` an input of ``shape = (H, W)`` is resized to."""
        if self.scale is not None:
            return rescaled_size(shape, self.scale, self.keep_ratio)
        return rescaled_size(shape, (shape[0] * self.scale_factor, shape[1] * self.scale_factor),
                             keep_ratio=False)

    def transform(self, results: dict) -> dict:
        size = self.target_size(check_aligned(results, type(self).__name__))
        results['keep_ratio'] = self.keep_ratio
        return _resize_results(results, size, self.nearest_modalities, type(self).__name__)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, scale_factor={self.scale_factor}, '
                f'keep_ratio={self.keep_ratio})')


@TRANSFORMS.register_module()
class MultiModalRandomResize(BaseTransform):
    """Random rescale by a ratio drawn uniformly from ``ratio_range``, the same for all inputs.

    Args:
        ratio_range: ``(low, high)`` factor range (CEN uses 0.5-2.0 of the image size).
        scale: optional base ``(h, w)``; the target is then ``scale * ratio`` (edge bounds with
            ``keep_ratio``, as mmseg's ``RandomResize``). ``None``: ratio of the current size.
        keep_ratio / nearest_modalities: as :class:`MultiModalResize`.
    """

    def __init__(self, ratio_range: Sequence[float] = (0.5, 2.0),
                 scale: Sequence[int] | None = None, keep_ratio: bool = True,
                 nearest_modalities: Sequence[str] = NEAREST_MODALITIES):
        low, high = ratio_range
        if not 0 < low <= high:
            raise ValueError(f'MultiModalRandomResize: bad ratio_range {tuple(ratio_range)}')
        self.ratio_range = (float(low), float(high))
        self.scale = None if scale is None else tuple(scale)
        self.keep_ratio = keep_ratio
        self.nearest_modalities = tuple(nearest_modalities)

    def transform(self, results: dict) -> dict:
        shape = check_aligned(results, type(self).__name__)
        ratio = np.random.uniform(*self.ratio_range)
        if self.scale is None:
            size = rescaled_size(shape, (shape[0] * ratio, shape[1] * ratio), keep_ratio=False)
        else:
            size = rescaled_size(shape, (self.scale[0] * ratio, self.scale[1] * ratio),
                                 self.keep_ratio)
        results['keep_ratio'] = self.keep_ratio
        return _resize_results(results, size, self.nearest_modalities, type(self).__name__)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(ratio_range={self.ratio_range}, scale={self.scale}, '
                f'keep_ratio={self.keep_ratio})')


@TRANSFORMS.register_module()
class MultiModalRandomCrop(BaseTransform):
    """Random ``crop_size = (h, w)`` crop at one position for every modality and the label.

    Inputs smaller than the crop are cropped to their own size in that dimension (pad after).

    Args:
        crop_size: ``(h, w)``.
        cat_max_ratio: as mmseg's ``RandomCrop``: retry up to 10 times until no single class
            covers more than this fraction of the labelled crop pixels (1.0 disables).
        ignore_index: label value not counted by ``cat_max_ratio``.
    """

    def __init__(self, crop_size: Sequence[int], cat_max_ratio: float = 1.0,
                 ignore_index: int = IGNORE_INDEX):
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'MultiModalRandomCrop: bad crop_size {crop_size}')
        self.crop_size = tuple(int(s) for s in crop_size)
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def _random_box(self, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        (height, width), (ch, cw) = shape, self.crop_size
        top = np.random.randint(0, max(height - ch, 0) + 1)
        left = np.random.randint(0, max(width - cw, 0) + 1)
        return top, min(top + ch, height), left, min(left + cw, width)

    def _box(self, results: dict, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        box = self._random_box(shape)
        if self.cat_max_ratio >= 1.0 or 'gt_seg_map' not in results:
            return box
        for _ in range(10):
            top, bottom, left, right = box
            values, counts = np.unique(results['gt_seg_map'][top:bottom, left:right],
                                       return_counts=True)
            counts = counts[values != self.ignore_index]
            if len(counts) > 1 and counts.max() / counts.sum() < self.cat_max_ratio:
                break
            box = self._random_box(shape)
        return box

    def transform(self, results: dict) -> dict:
        shape = check_aligned(results, type(self).__name__)
        top, bottom, left, right = self._box(results, shape)
        results['modalities'] = {name: np.ascontiguousarray(a[top:bottom, left:right])
                                 for name, a in results['modalities'].items()}
        if 'gt_seg_map' in results:
            results['gt_seg_map'] = np.ascontiguousarray(
                results['gt_seg_map'][top:bottom, left:right])
        results['img_shape'] = (bottom - top, right - left)
        results['crop_box'] = (top, bottom, left, right)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, '
                f'cat_max_ratio={self.cat_max_ratio})')


@TRANSFORMS.register_module()
class MultiModalRandomFlip(BaseTransform):
    """Horizontal flip of every modality and the label with probability ``prob``.

    A flip mirrors the scene, so a surface normal's x component changes sign: channel 0 of each
    modality in ``normal_modalities`` is negated after flipping (``-x`` for float normals in
    [-1, 1], ``255 - x`` for ``uint8`` normals still in [0, 255]).

    Sets ``flip`` (bool) and ``flip_direction`` (``'horizontal'``).
    """

    def __init__(self, prob: float = 0.5, normal_modalities: Sequence[str] = NORMAL_MODALITIES):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'MultiModalRandomFlip: prob must be in [0, 1], got {prob}')
        self.prob = prob
        self.normal_modalities = tuple(normal_modalities)

    @staticmethod
    def _negate_x(normal: np.ndarray) -> np.ndarray:
        normal = normal.copy()
        if normal.dtype == np.uint8:
            normal[..., 0] = 255 - normal[..., 0]
        else:
            normal[..., 0] = -normal[..., 0]
        return normal

    def transform(self, results: dict) -> dict:
        check_aligned(results, type(self).__name__)
        flip = bool(np.random.rand() < self.prob)
        results['flip'], results['flip_direction'] = flip, 'horizontal'
        if not flip:
            return results
        flipped = {}
        for name, array in results['modalities'].items():
            array = np.ascontiguousarray(array[:, ::-1])
            flipped[name] = self._negate_x(array) if name in self.normal_modalities else array
        results['modalities'] = flipped
        if 'gt_seg_map' in results:
            results['gt_seg_map'] = np.ascontiguousarray(results['gt_seg_map'][:, ::-1])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class MultiModalPad(BaseTransform):
    """Pad every modality and the label at the bottom and right.

    Args:
        size: target ``(h, w)``; inputs already larger in a dimension are left as they are.
        size_divisor: or pad each side up to a multiple of this (exactly one of the two).
        pad_val: modality pad value, one number or ``{modality: value}`` (missing names: 0).
        seg_pad_val: label pad value (255 = ignore).

    Sets ``pad_shape`` ``(h, w)``; ``img_shape`` keeps the unpadded size.
    """

    def __init__(self, size: Sequence[int] | None = None, size_divisor: int | None = None,
                 pad_val: float | dict[str, float] = 0, seg_pad_val: int = IGNORE_INDEX):
        if (size is None) == (size_divisor is None):
            raise ValueError('MultiModalPad: give exactly one of size and size_divisor')
        self.size = None if size is None else tuple(int(s) for s in size)
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def _target(self, shape: tuple[int, int]) -> tuple[int, int]:
        if self.size is not None:
            return max(shape[0], self.size[0]), max(shape[1], self.size[1])
        d = self.size_divisor
        return -(-shape[0] // d) * d, -(-shape[1] // d) * d

    @staticmethod
    def _pad(array: np.ndarray, target: tuple[int, int], value: float) -> np.ndarray:
        pad = [(0, target[0] - array.shape[0]), (0, target[1] - array.shape[1])]
        pad += [(0, 0)] * (array.ndim - 2)
        return np.pad(array, pad, mode='constant', constant_values=value)

    def transform(self, results: dict) -> dict:
        shape = check_aligned(results, type(self).__name__)
        target = self._target(shape)
        if target != tuple(shape):
            values = self.pad_val if isinstance(self.pad_val, dict) else {}
            default = 0 if isinstance(self.pad_val, dict) else self.pad_val
            results['modalities'] = {name: self._pad(a, target, values.get(name, default))
                                     for name, a in results['modalities'].items()}
            if 'gt_seg_map' in results:
                results['gt_seg_map'] = self._pad(results['gt_seg_map'], target, self.seg_pad_val)
        results['pad_shape'] = target
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, size_divisor={self.size_divisor}, '
                f'pad_val={self.pad_val}, seg_pad_val={self.seg_pad_val})')
