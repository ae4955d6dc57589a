"""PSPNet on the stacked multimodal batch: a dilated multimodal ResNet and mmseg's PSPHead.

The paper's strongest Table 3 row is CEN with PSPNet (Zhao et al., CVPR 2017) on ResNet-152.
Two parts adapt mmseg's PSPNet to fusionbench's modality-stacked batch ``[M*N, C, H, W]``:

- :class:`DilatedMultiModalResNet`: :class:`~fusionbench.models.resnet.MultiModalResNet` with
  stages 3 and 4 dilated instead of strided (output stride 8, as mmseg's PSPNet backbone
  ``strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)``). Only strides, dilations and paddings change,
  so torchvision's ImageNet weights still load key for key and CEN's fusion points are the same.
- :class:`MultiModalPSPHead`: mmseg's registered ``PSPHead`` (pyramid pooling 1/2/3/6 +
  bottleneck + classifier) built unchanged, with each of its BatchNorms swapped for a
  :class:`~fusionbench.modal.ModalityNorm` (private per modality, the paper's principle: convs
  shared, BNs private) -- a plain BN would pool the statistics of RGB and depth. The head maps
  ``[l1, l2, l3, l4]`` -> logits ``[M*N, K, H/8, W/8]``; the segmentor splits them per modality
  and forms the α-ensemble as for RefineNet.

Not reproduced: mmseg's PSPNet auxiliary FCN head on stage 3 (loss weight 0.4) -- the paper does
not say whether it was used, and the segmentor has one decoder.
"""
from __future__ import annotations

import warnings

from mmengine.model import BaseModule
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.modal import build_norm
from fusionbench.models.resnet import MultiModalResNet


@registry.MODELS.register_module()
class DilatedMultiModalResNet(MultiModalResNet):
    """:class:`MultiModalResNet` with dilated instead of strided late stages.

    Args:
        dilations: dilation of stages 1..4; a stage with dilation > 1 keeps its input
            resolution (its first block's stride becomes 1). Default ``(1, 1, 2, 4)``: output
            stride 8, as PSPNet / DeepLab.
        **kwargs: as :class:`MultiModalResNet` (depth, width, norm_sharing, fusion,
            pretrained, ...).

    Shapes: ``[M*N, C_in, H, W]`` -> levels at strides 4, 8, 8, 8 (default dilations).
    """

    def __init__(self, dilations: tuple[int, int, int, int] = (1, 1, 2, 4), **kwargs):
        super().__init__(**kwargs)
        dilations = tuple(int(d) for d in dilations)
        if len(dilations) != 4 or any(d < 1 for d in dilations):
            raise ValueError(f'dilations must be 4 positive ints, got {dilations}')
        self.dilations = dilations
        for stage, dilation in zip(self.stages, dilations):
            if dilation == 1:
                continue
            for block in stage:  # the block's own convs (never a fusion module's)
                convs = [getattr(block, n) for n in ('conv1', 'conv2', 'conv3')
                         if hasattr(block, n)]
                if block.downsample is not None:
                    convs.append(block.downsample[0])
                for conv in convs:
                    conv.stride = (1, 1)
                    if conv.kernel_size == (3, 3):
                        conv.dilation = (dilation, dilation)
                        conv.padding = (dilation, dilation)


def _swap_batchnorms(module: nn.Module, num_modalities: int, sharing: str) -> int:
    """Replace every ``nn.BatchNorm2d`` under ``module`` by a modality norm; return how many."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, build_norm(sharing, child.num_features, num_modalities))
            count += 1
        else:
            count += _swap_batchnorms(child, num_modalities, sharing)
    return count


@registry.MODELS.register_module()
class MultiModalPSPHead(BaseModule):
    """mmseg's ``PSPHead`` on the stacked modalities, with private (per-modality) BNs.

    Args:
        in_channels: channels of the encoder levels ``(c1, c2, c3, c4)`` (filled in by the
            segmentor); the head reads the last level.
        num_classes: K.
        num_modalities: M (the stacked batch is ``[M*N, ...]``); must match the segmentor's.
        width: channel multiplier of the head (1.0: mmseg's 512 channels).
        pool_scales: PSP pyramid bins.
        dropout: dropout before the classifier (mmseg's default 0.1).
        norm_sharing: ``'private'`` (one BN per modality, default) or ``'shared'``.

    Shapes: ``forward([l1, l2, l3, l4])`` with ``l4`` ``[M*N, c4, h, w]`` -> ``[M*N, K, h, w]``.
    """

    def __init__(self, in_channels: tuple[int, ...], num_classes: int, num_modalities: int = 2,
                 width: float = 1.0, pool_scales: tuple[int, ...] = (1, 2, 3, 6),
                 dropout: float = 0.1, norm_sharing: str = 'private',
                 init_cfg: dict | None = None):
        super().__init__(init_cfg)
        from mmseg.models.decode_heads import PSPHead  # mmseg's registered head, as is
        channels = max(8, int(round(512 * width)))
        self.num_modalities = num_modalities
        self.num_classes = num_classes
        with warnings.catch_warnings():  # mmseg warns about the (unused) loss it builds
            warnings.simplefilter('ignore', UserWarning)
            self.psp = PSPHead(
                in_channels=int(in_channels[-1]), in_index=-1, channels=channels,
                pool_scales=tuple(pool_scales), num_classes=num_classes, dropout_ratio=dropout,
                norm_cfg=dict(type='BN', requires_grad=True), align_corners=False)
        self.psp.loss_decode = nn.ModuleList()  # the segmentor computes the losses
        if not _swap_batchnorms(self.psp, num_modalities, norm_sharing):
            raise RuntimeError('mmseg PSPHead has no BatchNorm2d to make modality-private')

    def forward(self, features: list[Tensor]) -> Tensor:
        x = features[-1]
        if x.shape[0] % self.num_modalities:
            raise ValueError(f'MultiModalPSPHead: batch of {x.shape[0]} rows is not '
                             f'{self.num_modalities} stacked modalities')
        return self.psp(list(features))
