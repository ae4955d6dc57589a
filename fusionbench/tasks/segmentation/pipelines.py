"""Pipelines of the synthetic RGB-D scenes (:mod:`fusionbench.data.scenes`) for segmentation."""
from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

#: ImageNet's RGB statistics (0-255 scale), as mmseg's configs.
RGB_MEAN, RGB_STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
#: Depth of the synthetic rooms is 0.5-8 m; holes are 0 (they normalise to a distinct value).
#: Our choice: about the mean and spread of the rendered depths.
DEPTH_MEAN, DEPTH_STD = (2.8,), (1.6,)
#: ``{modality: (mean, std)}`` of the synthetic scenes' modalities.
SYNTHETIC_STATS = MappingProxyType({'rgb': (RGB_MEAN, RGB_STD), 'depth': (DEPTH_MEAN, DEPTH_STD)})


def normalization(modalities: Sequence[str]) -> dict:
    """The ``NormalizeModalities`` transform of ``modalities`` (those with known statistics,
    in :data:`SYNTHETIC_STATS` order)."""
    known = [m for m in SYNTHETIC_STATS if m in modalities]
    return dict(type='NormalizeModalities', mean={m: SYNTHETIC_STATS[m][0] for m in known},
                std={m: SYNTHETIC_STATS[m][1] for m in known})


def synthetic_pipelines(modalities: Sequence[str]) -> tuple[list[dict], list[dict]]:
    """``(train, test)`` pipelines: a random horizontal flip (train only), normalisation,
    packing."""
    normalize = normalization(modalities)
    train = [dict(type='MultiModalRandomFlip', prob=0.5), normalize,
             dict(type='PackMultiModalInputs')]
    test = [normalize, dict(type='PackMultiModalInputs')]
    return train, test
