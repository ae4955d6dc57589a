"""Collated multimodal batches -> the translation model's ``dict(inputs, target)`` in [-1, 1].

Each domain is mapped linearly from a fixed value range to ``[-1, 1]`` (values outside are
clipped), since the generator ends in ``tanh`` and pix2pix feeds images in ``[-1, 1]``. The
ranges (:data:`DOMAIN_RANGES`, our choice, overridable per domain) follow the decoded values of
:mod:`fusionbench.data.fileio` and the procedural scenes:

==============  ============  ==================================================================
domain          range         why
==============  ============  ==================================================================
rgb, albedo     [0, 255]      8-bit images
depth,          [0, 10] m     indoor ranges (scenes: 0.5-6 m; Taskonomy rooms are larger);
depth_zbuffer                 holes (0) map to -1
normal          [-1, 1]       unit vectors
shading         [0, 1.5]      the scenes' clipped Lambertian shading
reshading       [0, 1]        Taskonomy re-shading / the scenes' cosine
edge_texture    [0, 1]        Taskonomy 16-bit edges / the scenes' clipped gradient magnitude
==============  ============  ==================================================================

Single-channel domains are repeated to the common channel count (the shared first conv needs
one ``C``; repeating keeps the value in every channel), as the segmentation preprocessor does.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from fusionbench import registry
from fusionbench.models.segmentor import broaden_channels

DOMAIN_RANGES: dict[str, tuple[float, float]] = {
    'rgb': (0.0, 255.0), 'albedo': (0.0, 255.0), 'depth': (0.0, 10.0),
    'depth_zbuffer': (0.0, 10.0), 'normal': (-1.0, 1.0), 'shading': (0.0, 1.5),
    'reshading': (0.0, 1.0), 'edge_texture': (0.0, 1.0)}


def to_unit_range(x: Tensor, lo: float, hi: float) -> Tensor:
    """``[lo, hi]`` -> ``[-1, 1]`` linearly, clipped."""
    return ((x.float() - lo) * (2.0 / (hi - lo)) - 1.0).clamp(-1.0, 1.0)


@registry.MODELS.register_module()
class TranslationDataPreprocessor(BaseDataPreprocessor):
    """Packed multimodal batch -> stacked input domains and RGB target in [-1, 1].

    ``{'inputs': {name: [[C, H, W]] * N} or [{name: [C, H, W]}] * N, ...}`` ->
    ``{'inputs': [M*N, C, H, W], 'target': [N, 3, H, W]}``.

    Args:
        domains: input domain names in stacking order, e.g. ``('reshading', 'edge_texture')``.
        target: the output domain (``'rgb'``).
        channels: common input channel count (default: LCM of the domains' channel counts).
        ranges: per-domain ``(lo, hi)`` overriding :data:`DOMAIN_RANGES`.

    Raises ``KeyError`` naming a domain missing from the batch or from the ranges, and
    ``ValueError`` when the samples' sizes differ.
    """

    def __init__(self, domains: Sequence[str], target: str = 'rgb', channels: int | None = None,
                 ranges: Mapping[str, Sequence[float]] | None = None):
        super().__init__()
        self.domains = tuple(domains)
        self.target = target
        self.channels = channels
        self.ranges = {**DOMAIN_RANGES, **{k: tuple(v) for k, v in dict(ranges or {}).items()}}
        unknown = [d for d in (*self.domains, target) if d not in self.ranges]
        if unknown:
            raise KeyError(f'TranslationDataPreprocessor: no value range for {unknown}; pass '
                           f'ranges={{name: (lo, hi)}} (known: {sorted(self.ranges)})')

    def _batch(self, inputs: dict, name: str) -> Tensor:
        if name not in inputs:
            raise KeyError(f'the batch lacks domain {name!r}; it has {sorted(inputs)}')
        items = inputs[name]
        sizes = {tuple(t.shape[-2:]) for t in items}
        if len(sizes) > 1:
            raise ValueError(f'domain {name!r}: samples differ in size {sorted(sizes)}; resize '
                             'or crop them to one size in the pipeline')
        return to_unit_range(torch.stack(list(items)), *self.ranges[name])

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):   # [{name: [C, H, W]}] -> {name: [[C, H, W]]}
            inputs = {name: [item[name] for item in inputs] for name in inputs[0]}
        batches = [self._batch(inputs, d) for d in self.domains]
        channels = self.channels or math.lcm(*(b.shape[1] for b in batches))
        out = {'inputs': torch.cat([broaden_channels(b, channels) for b in batches], dim=0)}
        if self.target in inputs:
            out['target'] = self._batch(inputs, self.target)
        return out
