"""Concatenation fusion (the paper's "Concat" rows of Table 2; Zeng et al., CVPR 2019 [50]).

Design: concatenate the modalities' features along channels and map them back to ``C`` with a
1×1 convolution, then BN and ReLU::

    merge (commonly-used): y   = ReLU(BN(W · [x_1; …; x_M]))                  -> [N, C, H, W]
    keep  (same setting):  y_m = ReLU(BN_m(W · [x_m; x_{m+1}; …; x_{m-1}]))   -> [M*N, C, H, W]

for the stacked input ``[M*N, C, H, W]``. ``W`` is ONE ``1×1`` conv ``M·C -> C`` (no bias) in
both settings: in the same setting it is shared by the streams (like every convolution there),
each stream putting its own features first so ``W`` tells own from other; ``BN_m`` is private
per modality.

Where it sits: position ``'stage'``, after ResNet stages: early = 2, middle = 3, late = 4,
all = 1-4 (``stages`` in the config).

Fusion parameters (all of the module's): ``W`` (``M·C²``) and the BN affine (``2C`` per
stream). For ResNet-101 and M = 2: 0.53 M after stage 2, 2.10 M after 3, 8.39 M after 4,
11.15 M at all four -- the paper's 0.6 / 2.1 / 8.4 / 11.2 ("the aggregation weights of two
modalities", 2·C² per point: inferred from the ×4 growth per stage; the paper's 0.6 and
11.2 are ~0.07 M above 2·C², which no per-point design fits together with its 171.7 M total of
the commonly-used all-stage model, see :mod:`fusionbench.experiments.param_table`).
"""
from __future__ import annotations

from torch import Tensor, nn

from fusionbench.baselines.streams import fusion_input, stream_norm
from fusionbench import registry
from fusionbench.fusion.base import (MERGE_OR_KEEP, STAGE_SETS, FusionCard, FusionModule,
                                     FusionOutput, FusionPoint)


@registry.FUSIONS.register_module(name='concat')
class ConcatFusion(FusionModule):
    """Concatenate, 1×1 conv back to ``C``, BN, ReLU (see module docstring).

    Args:
        point: the stage fusion point (``C``, ``M``).
        keep_streams: False (commonly-used: one fused stream) or True (same setting: every
            modality's stream continues).

    Shapes: ``[M*N, C, H, W]`` -> ``[N, C, H, W]`` (merge) or ``[M*N, C, H, W]`` (keep).
    """

    card = FusionCard(
        name='concat', summary='concatenate the modalities, 1×1 conv back to C (+BN, ReLU)',
        paper='Zeng et al., CVPR 2019 [50]; Table 2 of Wang et al., NeurIPS 2020',
        position='stage', settings=('common', 'same'),
        label='Concat', stages=tuple(STAGE_SETS), setting_args=MERGE_OR_KEEP,
        tables=('table2', 'table4'), paper_rows={'table2': 'concat', 'table4': 'concat'})

    def __init__(self, point: FusionPoint, keep_streams: bool = False):
        super().__init__(point)
        self.keeps_streams = bool(keep_streams)
        c, m = point.channels, point.num_modalities
        self.conv = nn.Conv2d(m * c, c, 1, bias=False)
        self.norm = stream_norm(point, self.keeps_streams)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        z = fusion_input(x, self.num_modalities, self.keeps_streams)
        return self.relu(self.norm(self.conv(z))), {}

    def extra_repr(self) -> str:
        return f'keep_streams={self.keeps_streams}'
