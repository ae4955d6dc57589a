"""Fusion baselines beside CEN, one file per method, each registered in ``FUSIONS`` by decorator.

- :mod:`baselines.concat` -- concatenation + 1×1 conv (``'concat'``)
- :mod:`baselines.average` -- element-wise mean, parameter-free (``'average'``)
- :mod:`baselines.align_mmd` -- MMD alignment loss, streams kept (``'align_mmd'``)
- :mod:`baselines.self_attention` -- SSMA gated fusion (``'self_attention'``)

All sit at ``'stage'`` fusion points (after ResNet stages 1-4) and run in both settings of the
paper's Table 2: merged into one stream (``keep_streams=False``, the commonly-used setting, in
:class:`~fusionbench.models.separate_streams.SeparateStreamsSegmentor`) or keeping every stream
(``keep_streams=True``, the same setting as CEN, in
:class:`~fusionbench.models.segmentor.MultiModalSegmentor`). This folder is also the worked
example of plugging a method in: see ``docs/add_fusion_method.md``.
"""
from baselines.align_mmd import AlignMMD
from baselines.average import AverageFusion
from baselines.concat import ConcatFusion
from baselines.self_attention import SelfAttentionFusion

__all__ = ['AlignMMD', 'AverageFusion', 'ConcatFusion', 'SelfAttentionFusion']
