"""Corruptions of one modality at test time, as pipeline transforms, and the declared grid of
corruptions × modalities × severities that ``run robustness`` evaluates.

The transforms are mmcv ``BaseTransform`` s registered in fusionbench's ``TRANSFORMS``. They act
on ``results['modalities'][modality]`` (``[H, W, C]``) in the modality's **raw units** -- RGB
0-255, depth in metres with 0 = no measurement (a sensor hole) -- so
``run robustness`` inserts them into a trained cell's test pipeline just before its
normalisation (:func:`fusionbench.experiments.robustness.corrupted_pipeline`): the model sees a
corrupted sensor through the same preprocessing it was trained with. Every random draw is
seeded by ``(seed, transform, sample index)``: the same scene gets the same corruption in
every cell, whatever the batch order (methods are compared on identical inputs).

``stats`` (every transform takes it; :func:`fusionbench.experiments.robustness.
modality_statistics` measures it on the cell's training split) is a modality's
``{'mean': [C], 'std': [C], 'min': [C], 'max': [C], 'hole': float | None}`` in raw units, over
its valid pixels (depth holes excluded); ``hole`` is the value that means "no measurement".

Beyond the paper (the issue's robustness study), in the spirit of the DELIVER benchmark's
sensor-failure cases (Zhang et al., CVPR 2023: a modality missing or degraded at test time
only, the model never retrained).
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from fusionbench.data.errors import DataError
from fusionbench.errors import ConfigError
from fusionbench.registry import TRANSFORMS


def _sample_rng(seed: int, salt: str, results: dict) -> np.random.Generator:
    """The generator of one sample: ``(seed, crc32(salt), sample index)``; the sample's id
    (crc32) when the data set gives no index."""
    index = results.get('sample_idx')
    if index is None:
        index = zlib.crc32(str(results.get('sample_id', '')).encode())
    return np.random.default_rng([int(seed), zlib.crc32(salt.encode()), int(index)])


def _modality(results: dict, modality: str, who: str) -> np.ndarray:
    """``results['modalities'][modality]`` as float32 ``[H, W, C]``; :class:`DataError` naming
    the modalities present when it is not there."""
    present = results.get('modalities') or {}
    if modality not in present:
        raise DataError(f'{who}: sample {results.get("sample_id", "?")} has no modality '
                        f'{modality!r}; it has {list(present)}')
    array = np.asarray(present[modality], dtype=np.float32)
    return array[..., None] if array.ndim == 2 else array


def _channels(values, channels: int, what: str) -> np.ndarray:
    """A per-channel vector ``[C]`` from one value or ``C`` values."""
    vector = np.asarray(values, dtype=np.float32).reshape(-1)
    if vector.size == 1:
        vector = np.repeat(vector, channels)
    if vector.size != channels:
        raise ValueError(f'{what} has {vector.size} values for {channels} channels')
    return vector


#: What :class:`RemoveModality` fills a modality with: ``{fill: value per channel from stats}``.
FILLS: MappingProxyType = MappingProxyType({
    'zeros': lambda stats: 0.0,
    'mean': lambda stats: stats['mean'],
})


@TRANSFORMS.register_module()
class RemoveModality(BaseTransform):
    """Replace one modality by a constant: the sensor delivers nothing.

    Args:
        modality: the modality removed (a key of ``results['modalities']``).
        fill: ``'zeros'`` -- 0 in raw units (a black image; a depth map that is all holes) -- or
            ``'mean'`` -- each channel's mean over the training split, ``stats['mean']`` (the
            least informative constant the data suggests). See :data:`FILLS`.
        stats: the modality's statistics (needed by ``'mean'``; see the module docstring).

    Output: the modality as float32 ``[H, W, C]``, every pixel equal to the fill. Raises
    ``ValueError`` at build time for an unknown fill or ``'mean'`` without ``stats``;
    :class:`DataError` when a sample lacks the modality.
    """

    def __init__(self, modality: str, fill: str = 'zeros', stats: dict | None = None):
        if fill not in FILLS:
            raise ValueError(f'RemoveModality: unknown fill {fill!r}; known: {list(FILLS)}')
        if fill == 'mean' and not (stats and 'mean' in stats):
            raise ValueError("RemoveModality: fill 'mean' needs stats with the modality's mean")
        self.modality, self.fill, self.stats = modality, fill, stats

    def transform(self, results: dict) -> dict:
        array = _modality(results, self.modality, type(self).__name__)
        value = _channels(FILLS[self.fill](self.stats), array.shape[-1], 'the fill')
        results['modalities'] = {**results['modalities'],
                                 self.modality: np.broadcast_to(value, array.shape).copy()}
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(modality={self.modality!r}, fill={self.fill!r})'


@TRANSFORMS.register_module()
class ModalityNoise(BaseTransform):
    """Additive Gaussian noise on one modality, its σ relative to the modality's std.

    ``x + sigma · std_c · ε``, ``ε ~ N(0, 1)`` per pixel and channel ``c``.

    Args:
        modality: the modality degraded.
        sigma: the strength, relative: the noise's standard deviation in units of the
            modality's standard deviation on the training split (``stats['std']``, per channel).
        stats: the modality's statistics (``std``; ``min`` / ``max`` / ``hole`` when present).
        seed: with the transform and the sample index, seeds the draw.

    Our choices: values are clipped to the range the training split shows (``stats['min']`` …
    ``stats['max']``: no negative depth, no RGB beyond 0-255), and pixels equal to
    ``stats['hole']`` stay holes (noise does not fill a sensor's holes nor, through clipping,
    make new ones: the minimum valid value is above the hole value).
    Raises ``ValueError`` at build time for ``sigma < 0`` or ``stats`` without ``std``.
    """

    def __init__(self, modality: str, sigma: float, stats: dict | None = None, seed: int = 0):
        if sigma < 0:
            raise ValueError(f'ModalityNoise: sigma must be >= 0, got {sigma}')
        if not (stats and 'std' in stats):
            raise ValueError("ModalityNoise: needs stats with the modality's std")
        self.modality, self.sigma, self.stats, self.seed = modality, float(sigma), stats, seed

    def transform(self, results: dict) -> dict:
        array = _modality(results, self.modality, type(self).__name__)
        channels = array.shape[-1]
        std = _channels(self.stats['std'], channels, 'stats std')
        rng = _sample_rng(self.seed, type(self).__name__, results)
        noisy = array + (self.sigma * std) * rng.standard_normal(array.shape, dtype=np.float32)
        if 'min' in self.stats and 'max' in self.stats:
            noisy = np.clip(noisy, _channels(self.stats['min'], channels, 'stats min'),
                            _channels(self.stats['max'], channels, 'stats max'))
        hole = self.stats.get('hole')
        if hole is not None:
            noisy = np.where(array == hole, array, noisy)
        results['modalities'] = {**results['modalities'],
                                 self.modality: noisy.astype(np.float32)}
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(modality={self.modality!r}, sigma={self.sigma})'


def blob_mask(rng: np.random.Generator, shape: tuple[int, int], coverage: float,
              scale: float = 0.08) -> np.ndarray:
    """``bool [H, W]``: smooth random blobs covering exactly ``round(coverage · H · W)`` pixels.

    White noise blurred by a Gaussian of σ = ``scale`` × the short side (our choice: blobs
    about a sixth of a 64-px image across), then its lowest-valued pixels (a quantile
    threshold, so the coverage is exact, not expected).
    """
    height, width = shape
    noise = rng.standard_normal((height, width)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), max(1.0, scale * min(height, width)),
                              borderType=cv2.BORDER_REFLECT)
    count = int(round(coverage * height * width))
    mask = np.zeros(height * width, dtype=bool)
    mask[np.argsort(smooth, axis=None, kind='stable')[:count]] = True
    return mask.reshape(height, width)


def rectangle_mask(rng: np.random.Generator, shape: tuple[int, int], coverage: float,
                   sides: tuple[float, float] = (0.05, 0.3)) -> np.ndarray:
    """``bool [H, W]``: random axis-aligned rectangles added until they cover at least
    ``coverage`` of the pixels (overshoot below one rectangle: at most ``sides[1]²`` of the
    image). Sides uniform in ``sides`` × the image's sides (our choice: dropout patches from
    a few pixels to a third of the image)."""
    height, width = shape
    mask = np.zeros(shape, dtype=bool)
    target = int(round(coverage * height * width))
    lo_h, hi_h = (max(1, int(round(s * height))) for s in sides)
    lo_w, hi_w = (max(1, int(round(s * width))) for s in sides)
    while mask.sum() < target:
        h, w = rng.integers(lo_h, hi_h + 1), rng.integers(lo_w, hi_w + 1)
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        mask[top:top + h, left:left + w] = True
    return mask


#: Shapes of :class:`ModalityHoles`: ``{name: mask(rng, (H, W), coverage) -> bool [H, W]}``.
HOLE_SHAPES: MappingProxyType = MappingProxyType({'blobs': blob_mask,
                                                  'rectangles': rectangle_mask})


@TRANSFORMS.register_module()
class ModalityHoles(BaseTransform):
    """Holes of rising coverage in one modality (depth: the sensor returns nothing there).

    Args:
        modality: the modality (depth in the declared grid).
        coverage: fraction of the pixels set to the hole value, in [0, 1].
        shape: ``'blobs'`` (exact coverage) or ``'rectangles'`` (at least the coverage), see
            :data:`HOLE_SHAPES`.
        stats: the modality's statistics; its ``hole`` is the value written (default 0, the
            depth data sets' "no measurement").
        seed: with the transform and the sample index, seeds the holes.

    Raises ``ValueError`` at build time for a coverage outside [0, 1] or an unknown shape.
    """

    def __init__(self, modality: str, coverage: float, shape: str = 'blobs',
                 stats: dict | None = None, seed: int = 0):
        if not 0.0 <= coverage <= 1.0:
            raise ValueError(f'ModalityHoles: coverage must be in [0, 1], got {coverage}')
        if shape not in HOLE_SHAPES:
            raise ValueError(f'ModalityHoles: unknown shape {shape!r}; known: '
                             f'{list(HOLE_SHAPES)}')
        hole = (stats or {}).get('hole')
        self.modality, self.coverage, self.shape, self.seed = modality, float(coverage), shape, seed
        self.value = 0.0 if hole is None else float(hole)

    def transform(self, results: dict) -> dict:
        array = _modality(results, self.modality, type(self).__name__).copy()
        rng = _sample_rng(self.seed, type(self).__name__, results)
        mask = HOLE_SHAPES[self.shape](rng, array.shape[:2], self.coverage)
        array[mask] = self.value
        results['modalities'] = {**results['modalities'], self.modality: array}
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(modality={self.modality!r}, coverage={self.coverage}, '
                f'shape={self.shape!r})')


@dataclass(frozen=True)
class Corruption:
    """One kind of corruption of the declared grid.

    Attributes:
        name: its name in the CSV and on the command line.
        transform: the registered transform and its fixed arguments (``type`` included).
        modalities: the modalities it is applied to (one at a time).
        severities: the declared severities, rising.
        severity_arg: the transform argument a severity sets (None: one severity, 1).
        unit: what a severity means (shown on the curves' x axis and in the report).
        seeded: the transform takes a ``seed``.
        description: one sentence for the report.
    """

    name: str
    transform: dict
    modalities: tuple[str, ...]
    severities: tuple[float, ...]
    severity_arg: str | None
    unit: str
    seeded: bool = False
    description: str = ''

    def transform_cfg(self, modality: str, severity: float, stats: dict | None,
                      seed: int = 0) -> dict:
        """The transform config of ``modality`` at ``severity`` (one of :attr:`severities`)."""
        return {**self.transform, 'modality': modality, 'stats': stats,
                **({'seed': seed} if self.seeded else {}),
                **({self.severity_arg: severity} if self.severity_arg else {})}


#: The declared grid (our choice of severities: from barely visible to most of the signal gone;
#: noise σ in units of the modality's own spread on the training split, holes as the fraction
#: of pixels lost on top of the sensor's own holes).
CORRUPTIONS: tuple[Corruption, ...] = (
    Corruption('zeros', dict(type='RemoveModality', fill='zeros'), ('rgb', 'depth'), (1.0,),
               None, 'modality removed',
               description='the modality replaced by 0 in raw units: a black image, a depth map '
                           'that is all holes'),
    Corruption('mean', dict(type='RemoveModality', fill='mean'), ('rgb', 'depth'), (1.0,), None,
               'modality removed',
               description="the modality replaced by its training-split mean (per channel; "
                           'depth over valid pixels)'),
    Corruption('noise', dict(type='ModalityNoise'), ('rgb', 'depth'), (0.1, 0.25, 0.5, 1.0),
               'sigma', 'noise σ / the modality\'s std', seeded=True,
               description="additive Gaussian noise, σ relative to the modality's per-channel std "
                           'on the training split (RGB std ≈ tens of grey levels, depth ≈ 1-2 m); '
                           'clipped to the training range, holes kept'),
    Corruption('holes', dict(type='ModalityHoles', shape='blobs'), ('depth',),
               (0.1, 0.25, 0.5, 0.75), 'coverage', 'fraction of pixels lost', seeded=True,
               description='random smooth blobs of the depth map set to 0 (no measurement), '
                           'covering the given fraction of the pixels'),
)
#: ``{name: Corruption}`` of :data:`CORRUPTIONS`.
BY_NAME: MappingProxyType = MappingProxyType({c.name: c for c in CORRUPTIONS})
#: The condition every cell is also evaluated under (severity 0 of every curve).
CLEAN = 'clean'


def get_corruptions(names: Sequence[str] | None = None) -> list[Corruption]:
    """The declared corruptions named (all of them for None), in declared order.

    Raises :class:`ConfigError` (one line listing the known names) for an unknown name.
    """
    if names is None:
        return list(CORRUPTIONS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown or not names:
        what = f'unknown corruption(s) {unknown}' if unknown else 'no corruption named'
        raise ConfigError(f'{what}; known: {", ".join(BY_NAME)}')
    return [c for c in CORRUPTIONS if c.name in names]


def conditions(corruptions: Sequence[Corruption], modalities: Sequence[str],
               ) -> list[tuple[Corruption | None, str, float]]:
    """``(corruption, modality, severity)`` to evaluate for a model of ``modalities``: the clean
    condition ``(None, '', 0.0)`` first, then each corruption × its modalities the model has ×
    its severities (declared order)."""
    out: list[tuple[Corruption | None, str, float]] = [(None, '', 0.0)]
    for corruption in corruptions:
        for modality in corruption.modalities:
            if modality in modalities:
                out += [(corruption, modality, s) for s in corruption.severities]
    return out


def condition_name(corruption: Corruption | None) -> str:
    return CLEAN if corruption is None else corruption.name


__all__ = ['BY_NAME', 'CLEAN', 'CORRUPTIONS', 'Corruption', 'FILLS', 'HOLE_SHAPES',
           'ModalityHoles', 'ModalityNoise', 'RemoveModality', 'blob_mask', 'condition_name',
           'conditions', 'get_corruptions', 'rectangle_mask']
