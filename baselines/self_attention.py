"""Self-attention fusion: an SSMA block (Table 2's "Self-att." rows; Valada et al., IJCV 2020).

Design (SSMA, self-supervised model adaptation): concatenate the modalities, ``z`` with ``M·C``
channels; a bottleneck computes a per-position, per-channel gate that re-weights ``z``; a 3×3
convolution maps the re-weighted features back to ``C``::

    g = σ(conv3×3_{M·C/η → M·C}(ReLU(conv3×3_{M·C → M·C/η}(z))))      (biases in both)
    y = ReLU(BN(conv3×3_{M·C → C}(z ⊙ g)))

    merge (commonly-used): z = [x_1; …; x_M]                 [M*N, C, H, W] -> [N, C, H, W]
    keep  (same setting):  z_m = [x_m; x_{m+1}; …; x_{m-1}]  [M*N, C, H, W] -> [M*N, C, H, W]

In the same setting the three convolutions are shared by the streams (each puts its own
features first) and the BN is private per modality.

Compression ``η = 32`` (``reduction``) is INFERRED from the paper's parameter counts: for M = 2
the block has ``18C² + 2·(9·2C·2C/η) = (18 + 72/η)·C²`` weights; the paper's 21.2 / 84.9 /
112.8 M (middle / late / all) give 20.25·C², i.e. η = 32 (SSMA's own paper uses 16, which would
give 22.5·C²: 94.4 M late). The paper's early cell (5.4 M) is 0.1 M above 20.25·C² = 5.3 M.

Where it sits: position ``'stage'``, after ResNet stages (early = 2, middle = 3, late = 4,
all = 1-4). Fusion parameters: all of the module's (gate convs, fuse conv, BN affine).
"""
from __future__ import annotations

from torch import Tensor, nn

from fusionbench.baselines.streams import fusion_input, stream_norm
from fusionbench import registry
from fusionbench.fusion.base import (MERGE_OR_KEEP, STAGE_SETS, FusionCard, FusionModule,
                                     FusionOutput, FusionPoint)


@registry.FUSIONS.register_module(name='self_attention')
class SelfAttentionFusion(FusionModule):
    """SSMA-style gated fusion of the concatenated modalities (see module docstring).

    Args:
        point: the stage fusion point (``C``, ``M``).
        keep_streams: False (one fused stream) or True (every modality's stream continues).
        reduction: η, the bottleneck's channel compression (inferred 32, see above).

    Shapes: ``[M*N, C, H, W]`` -> ``[N, C, H, W]`` (merge) or ``[M*N, C, H, W]`` (keep);
    the gate is ``[rows, M*C, H, W]``.
    """

    card = FusionCard(
        name='self_attention',
        summary='SSMA: sigmoid-gated concatenation (bottleneck η=32), 3×3 conv back to C',
        paper='Valada et al., IJCV 2020 [44]; Table 2 of Wang et al., NeurIPS 2020',
        position='stage', settings=('common', 'same'), extra={'reduction': 32},
        label='Self-att. (SSMA)', stages=tuple(STAGE_SETS), setting_args=MERGE_OR_KEEP,
        tables=('table2', 'table4'), paper_rows={'table2': 'self_att', 'table4': 'self_att'},
        inferred_design=True)

    def __init__(self, point: FusionPoint, keep_streams: bool = False, reduction: int = 32):
        super().__init__(point)
        self.keeps_streams = bool(keep_streams)
        c, m = point.channels, point.num_modalities
        hidden = max(1, m * c // reduction)
        self.reduction = reduction
        self.gate = nn.Sequential(
            nn.Conv2d(m * c, hidden, 3, padding=1, bias=True), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, m * c, 3, padding=1, bias=True), nn.Sigmoid())
        self.fuse = nn.Conv2d(m * c, c, 3, padding=1, bias=False)
        self.norm = stream_norm(point, self.keeps_streams)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        z = fusion_input(x, self.num_modalities, self.keeps_streams)
        return self.relu(self.norm(self.fuse(z * self.gate(z)))), {}

    def extra_repr(self) -> str:
        return f'keep_streams={self.keeps_streams}, η={self.reduction}'
