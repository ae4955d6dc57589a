"""Averaging fusion (the paper's Table 4 "Average"; FuseNet-style aggregation [18]).

Design: the element-wise mean of the modalities' features, parameter-free::

    merge (commonly-used): y   = 1/M Σ_m x_m           [M*N, C, H, W] -> [N, C, H, W]
    keep  (same setting):  y_m = 1/M Σ_m' x_m'  ∀ m     [M*N, C, H, W] -> [M*N, C, H, W]

In the same setting every stream continues from the same averaged features; they differ again
after the next private BN.

Where it sits: position ``'stage'``, after ResNet stages (early = 2, middle = 3, late = 4,
all = 1-4). Fusion parameters: none.

The paper uses averaging only for image translation (Table 4); Table 2 has no "Average" rows,
so fusionbench's Table 2 lists them marked "not in the paper's Table 2".
"""
from __future__ import annotations

from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.base import (MERGE_OR_KEEP, STAGE_SETS, FusionCard, FusionModule,
                                     FusionOutput, FusionPoint)
from fusionbench.modal import split_modalities


@registry.FUSIONS.register_module(name='average')
class AverageFusion(FusionModule):
    """Mean over modalities (see module docstring).

    Args:
        point: the stage fusion point.
        keep_streams: False (one fused stream) or True (every stream gets the mean).

    Shapes: ``[M*N, C, H, W]`` -> ``[N, C, H, W]`` (merge) or ``[M*N, C, H, W]`` (keep).
    """

    card = FusionCard(
        name='average', summary='element-wise mean of the modalities (parameter-free)',
        paper='Hazirbas et al., ACCV 2016 [18]; Table 4 of Wang et al., NeurIPS 2020',
        position='stage', settings=('common', 'same'), parameter_free=True,
        label='Average', stages=tuple(STAGE_SETS), setting_args=MERGE_OR_KEEP,
        tables=('table2', 'table4'), paper_rows={'table4': 'average'})

    def __init__(self, point: FusionPoint, keep_streams: bool = False):
        super().__init__(point)
        self.keeps_streams = bool(keep_streams)

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        m = self.num_modalities
        mean = split_modalities(x, m).mean(0)  # [N, C, H, W]
        if not self.keeps_streams:
            return mean, {}
        return mean.repeat(m, 1, 1, 1), {}

    def extra_repr(self) -> str:
        return f'keep_streams={self.keeps_streams}'
