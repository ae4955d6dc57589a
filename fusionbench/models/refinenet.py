"""The RefineNet decoder used by CEN (Light-Weight RefineNet layout with 3×3 CRP/RCU convs).

Four refinement stages from the deepest encoder level (l4) to the shallowest (l1), with the
layers, widths and dropouts of the CEN public code (``semantic_segmentation/models/model.py``),
so that RefineNet-ResNet-101 with 40 classes has 75.60 M decoder parameters (118.1 M with the
encoder, the paper's Table 2)::

    l4 ─dropout─ dimred 3×3 → 512 ─ RCU×2 ─ CRP(4) ─ RCU×3 ─ 3×3 → 256 ─ up ┐
    l3 ─dropout─ dimred 3×3 → 256 ─ RCU×2 ─ 3×3 ───────────────────────── + ┴ CRP(4) ─ RCU×3 ─ …
    …  (l2, l1 likewise) … ─ CRP(4) ─ RCU×3 ─ dropout ─ classifier 3×3 → K

RCU = residual conv unit (ReLU, 3×3 conv with bias, ReLU, 3×3 conv); CRP = chained residual
pooling (max-pool 5×5 then 3×3 conv, chained, each added to the input). Dropout (p = 0.5) is
applied to the two deepest encoder levels and before the classifier, as in the public code.

Two details of the forward pass differ between the Light-Weight RefineNet paper and the CEN
public code, and are switches here (``fidelity='official'`` sets both, see
:mod:`fusionbench.fidelity`):

- ``residual``: ``'input'`` (default; Light-Weight RefineNet) adds the unit's input,
  ``x + conv(relu(conv(relu(x))))``; ``'relu'`` adds the rectified input,
  ``relu(x) + conv(relu(conv(relu(x))))`` -- the public code's in-place ReLU rectifies the
  tensor its skip connection also holds.
- ``align_corners``: of the bilinear upsampling between stages (default False; the public code
  uses True).

The decoder has no norms, so it is shared by all modalities and runs once on the stacked
features: ``[M*N, C_s, H_s, W_s]`` per level -> logits ``[M*N, K, H/4, W/4]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from fusionbench import registry


def conv3x3(cin: int, cout: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1, bias=bias)


RESIDUALS = ('input', 'relu')


class ResidualConvUnit(nn.Module):
    """``blocks`` × (ReLU → 3×3 conv (bias) → ReLU → 3×3 conv) with a residual each.

    ``residual``: ``'input'`` adds the block's input, ``'relu'`` its rectified input (the CEN
    public code; module docstring). Raises ValueError for another value.
    """

    def __init__(self, cin: int, cout: int, blocks: int, convs_per_block: int = 2,
                 residual: str = 'input'):
        super().__init__()
        if residual not in RESIDUALS:
            raise ValueError(f'RefineNet residual must be one of {RESIDUALS}, got {residual!r}')
        self.relu_skip = residual == 'relu'
        self.blocks = nn.ModuleList(
            nn.ModuleList(conv3x3(cin if b == 0 and j == 0 else cout, cout, bias=j == 0)
                          for j in range(convs_per_block))
            for b in range(blocks))

    def forward(self, x: Tensor) -> Tensor:
        for convs in self.blocks:
            if self.relu_skip:  # relu is idempotent: the first conv's relu below is unchanged
                x = F.relu(x)
            residual = x
            for conv in convs:
                x = conv(F.relu(x))
            x = x + residual
        return x


class ChainedResidualPooling(nn.Module):
    """``stages`` × (5×5 max-pool → 3×3 conv), each output added to the running sum."""

    def __init__(self, cin: int, cout: int, stages: int = 4):
        super().__init__()
        self.convs = nn.ModuleList(conv3x3(cin if i == 0 else cout, cout) for i in range(stages))
        self.pool = nn.MaxPool2d(5, 1, 2)

    def forward(self, x: Tensor) -> Tensor:
        top = x
        for conv in self.convs:
            top = conv(channels_last_pool(self.pool, top))
            x = top + x
        return x


def channels_last_pool(pool: nn.Module, x: Tensor) -> Tensor:
    """``pool(x)`` computed on a channels-last copy, returned in ``x``'s memory format.

    On CPU the 5×5 stride-1 max-pool is 3-5× faster over NHWC than over NCHW (it was a quarter
    of a training step); max is exact, so values and gradients are bit-identical. Our choice,
    for speed. ``[B, C, H, W]`` -> ``[B, C, H, W]``.
    """
    if x.device.type != 'cpu' or x.dim() != 4:
        return pool(x)
    if x.is_contiguous(memory_format=torch.channels_last):
        return pool(x)
    return pool(x.contiguous(memory_format=torch.channels_last)).contiguous()


class RefineStage(nn.Module):
    """One refinement stage: adapt the encoder level, add the coarser path, pool, refine."""

    def __init__(self, cin: int, width: int, out: int | None, has_coarser: bool,
                 adapt_blocks: int = 2, refine_blocks: int = 3, crp_stages: int = 4,
                 residual: str = 'input', align_corners: bool = False):
        super().__init__()
        self.align_corners = align_corners
        self.dimred = conv3x3(cin, width)
        self.adapt = ResidualConvUnit(width, width, adapt_blocks, residual=residual)
        self.joint = conv3x3(width, width) if has_coarser else None
        self.crp = ChainedResidualPooling(width, width, crp_stages)
        self.refine = ResidualConvUnit(width, width, refine_blocks, residual=residual)
        self.out = conv3x3(width, out) if out is not None else None

    def forward(self, level: Tensor, coarser: Tensor | None) -> Tensor:
        x = self.adapt(self.dimred(level))
        if self.joint is not None:
            x = self.joint(x)
            if coarser is not None:
                x = x + F.interpolate(coarser, size=x.shape[-2:], mode='bilinear',
                                      align_corners=self.align_corners)
        x = self.refine(self.crp(F.relu(x)))
        return self.out(x) if self.out is not None else x


@registry.MODELS.register_module()
class RefineNetDecoder(BaseModule):
    """RefineNet decoder over the four encoder levels (see module docstring).

    Args:
        in_channels: channels of l1..l4, e.g. ``(256, 512, 1024, 2048)`` for ResNet-101.
        num_classes: K.
        width: decoder width multiplier (1.0: 512 on the deepest stage, 256 elsewhere).
        dropout: p of the dropouts.
        residual: ``'input'`` (default) or ``'relu'`` -- the residual conv units' skip
            (module docstring).
        align_corners: of the upsampling between stages (default False; True in the public
            code).

    Shapes: ``forward([l1, l2, l3, l4])`` with ``l_s`` ``[B, C_s, H_s, W_s]`` -> ``[B, K, H_1, W_1]``.
    """

    def __init__(self, in_channels: tuple[int, int, int, int], num_classes: int,
                 width: float = 1.0, dropout: float = 0.5, residual: str = 'input',
                 align_corners: bool = False, init_cfg: dict | None = None):
        super().__init__(init_cfg)
        deep, mid = max(8, int(round(512 * width))), max(8, int(round(256 * width)))
        c1, c2, c3, c4 = in_channels
        self.dropout = nn.Dropout(dropout)
        variant = dict(residual=residual, align_corners=align_corners)
        self.stage4 = RefineStage(c4, deep, mid, has_coarser=False, **variant)
        self.stage3 = RefineStage(c3, mid, mid, has_coarser=True, **variant)
        self.stage2 = RefineStage(c2, mid, mid, has_coarser=True, **variant)
        self.stage1 = RefineStage(c1, mid, None, has_coarser=True, **variant)
        self.classifier = nn.Conv2d(mid, num_classes, 3, 1, 1, bias=True)
        self.num_classes = num_classes

    def forward(self, features: list[Tensor]) -> Tensor:
        l1, l2, l3, l4 = features
        x = self.stage4(self.dropout(l4), None)
        x = self.stage3(self.dropout(l3), x)
        x = self.stage2(l2, x)
        x = self.stage1(l1, x)
        return self.classifier(self.dropout(x))
