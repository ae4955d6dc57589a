"""Pictures of samples: colour-coded labels, colour-mapped depth, side-by-side panels.

All functions return ``uint8 [H, W, 3]`` RGB images; ignore (255) labels and depth holes are
black.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from fusionbench.data.fileio import write_png

IGNORE_INDEX = 255
DEPTH_MODALITIES = ('depth', 'depth_zbuffer')


def colorize_label(label: np.ndarray, palette: Sequence[Sequence[int]] | np.ndarray
                   ) -> np.ndarray:
    """Class map ``[H, W]`` (int) -> ``uint8 [H, W, 3]``: ``k`` -> ``palette[k]``, 255 -> black.

    Raises ``ValueError`` for values that are neither 255 nor in ``[0, len(palette))``.
    """
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)
    label = np.asarray(label)
    if label.ndim == 3 and label.shape[2] == 1:
        label = label[..., 0]
    bad = (label != IGNORE_INDEX) & ((label < 0) | (label >= min(len(palette), IGNORE_INDEX)))
    if bad.any():
        raise ValueError(f'colorize_label: values {np.unique(label[bad])[:10].tolist()} are '
                         f'outside the palette of {len(palette)} classes and not {IGNORE_INDEX}')
    table = np.zeros((IGNORE_INDEX + 1, 3), np.uint8)   # row 255 (ignore) stays black
    table[:min(len(palette), IGNORE_INDEX)] = palette[:IGNORE_INDEX]
    return table[label.astype(np.intp)]


def depth_to_rgb(depth: np.ndarray, max_depth: float | None = None,
                 min_depth: float | None = None) -> np.ndarray:
    """Depth ``[H, W]`` or ``[H, W, 1]`` (metres) -> ``uint8 [H, W, 3]`` turbo colour map.

    Near is blue, far is red; holes (``<= 0`` or not finite) are black. The range defaults to
    the valid pixels' min and max.
    """
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim == 3:
        depth = depth[..., 0]
    valid = np.isfinite(depth) & (depth > 0)
    out = np.zeros((*depth.shape, 3), np.uint8)
    if not valid.any():
        return out
    low = float(depth[valid].min()) if min_depth is None else min_depth
    high = float(depth[valid].max()) if max_depth is None else max_depth
    scaled = np.clip((depth - low) / max(high - low, 1e-6), 0, 1)
    grey = np.where(valid, scaled * 255, 0).astype(np.uint8)
    colour = cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    out[valid] = colour[valid]
    return out


def _to_rgb(name: str, array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[..., None]
    if name in DEPTH_MODALITIES:
        return depth_to_rgb(array)
    if array.dtype == np.uint8:
        return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array[..., :3]
    array = array.astype(np.float32)[..., :3]   # e.g. normals in [-1, 1], normalised inputs
    low, high = float(np.nanmin(array)), float(np.nanmax(array))
    scaled = (array - low) / max(high - low, 1e-6) * 255
    scaled = np.nan_to_num(scaled).astype(np.uint8)
    return np.repeat(scaled, 3, axis=2) if scaled.shape[2] == 1 else scaled


def sample_panel(modalities: Mapping[str, np.ndarray], label: np.ndarray | None = None,
                 prediction: np.ndarray | None = None,
                 palette: Sequence[Sequence[int]] | np.ndarray | None = None) -> np.ndarray:
    """Modalities, label and prediction side by side: ``uint8 [H, k*W, 3]``.

    Args:
        modalities: ``{name: [H, W, C]}``; depth (``depth``, ``depth_zbuffer``) is colour-mapped,
            ``uint8`` images shown as stored, other float arrays min-max scaled.
        label / prediction: ``[H, W]`` class maps, coloured with ``palette`` (255 black).
        palette: ``[K, 3]``; required with a label or a prediction.
    """
    tiles = [_to_rgb(name, array) for name, array in modalities.items()]
    for class_map in (label, prediction):
        if class_map is not None:
            if palette is None:
                raise ValueError('sample_panel: a palette is needed to draw a label')
            tiles.append(colorize_label(class_map, palette))
    if not tiles:
        raise ValueError('sample_panel: nothing to draw')
    sizes = {tile.shape[:2] for tile in tiles}
    if len(sizes) > 1:
        raise ValueError(f'sample_panel: tiles of different sizes {sorted(sizes)}')
    return np.concatenate(tiles, axis=1)


def save_png(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``uint8 [H, W]`` / ``[H, W, 3]`` (or ``uint16 [H, W]``) as PNG; creates folders."""
    write_png(path, array)
