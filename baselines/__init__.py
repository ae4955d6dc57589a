"""Fusion baselines beside CEN, one file per method, each registered in ``FUSIONS`` by decorator.

- :mod:`fusionbench.baselines.concat` -- concatenation + 1×1 conv (``'concat'``)
- :mod:`fusionbench.baselines.average` -- element-wise mean, parameter-free (``'average'``)
- :mod:`fusionbench.baselines.align_mmd` -- MMD alignment loss, streams kept (``'align_mmd'``)
- :mod:`fusionbench.baselines.self_attention` -- SSMA gated fusion (``'self_attention'``)

All sit at ``'stage'`` fusion points (after ResNet stages 1-4) and run in both settings of the
paper's Table 2: merged into one stream (``keep_streams=False``, the commonly-used setting, in
:class:`~fusionbench.models.separate_streams.SeparateStreamsSegmentor`) or keeping every stream
(``keep_streams=True``, the same setting as CEN, in
:class:`~fusionbench.models.segmentor.MultiModalSegmentor`). This folder is also the worked
example of plugging a method in: see the README's "Add a fusion method".

The folder sits at the top level of the source tree and is importable only as
``fusionbench.baselines`` (``setup.py``'s ``package_dir``;
:func:`fusionbench.paths.map_checkout_baselines` in a checkout), never as a global ``baselines``
package.
"""
from fusionbench.baselines.align_mmd import AlignMMD
from fusionbench.baselines.average import AverageFusion
from fusionbench.baselines.concat import ConcatFusion
from fusionbench.baselines.self_attention import SelfAttentionFusion

__all__ = ['AlignMMD', 'AverageFusion', 'ConcatFusion', 'SelfAttentionFusion']
