"""The "commonly-used setting" of Table 2: one network per modality, fused at stage points.

In the paper's Table 2 every baseline runs in two settings. The *same setting as CEN* is
:class:`~fusionbench.models.resnet.MultiModalResNet` (shared convs, private BNs) with a fusion
that keeps every stream. The *commonly-used setting* is what the methods' own papers do: each
modality has its own ResNet (nothing shared) and the fusion method decides the topology through
its ``keeps_streams`` (no per-method code here):

- **aggregation** (``keeps_streams=False``: concat, average, self-attention): the modality
  networks run separately up to the *last* fusion stage ``L``; every fusion point returns one
  fused stream ``[N, C, H, W]``; one trunk (stages ``L+1..4``, single stream) continues from
  the fused features of stage ``L``, and ONE decoder reads the levels::

      level s = fused_s                       if stage s has a fusion point
              = mean over modalities          if s < L and stage s has none (parameter-free)
              = the trunk's stage s           if s > L

  So early (stage 2) = 2 × (stem..stage 2) + stages 3-4 once; late (stage 4) and all (1-4) =
  two complete encoders, the fused features going to the decoder (multi-level fusion in the
  style of RDFNet for all-stage fusion). This reproduces the paper's totals: e.g. concat late
  169.0 M = 2 × 42.50 + 75.60 + 8.39, concat all 171.7 M = 2 × 42.50 + 75.60 + 11.15.
- **alignment** (``keeps_streams=True``: MMD): every modality keeps its full network; the fusion
  points see the stacked ``[M*N, C, H, W]`` features (and may add a loss, leave or change them);
  :class:`SeparateStreamsSegmentor` gives each stream its own decoder and head, plus the
  α-ensemble (the paper's Eq. 2-3), e.g. align late 278.1 M = 2 × 118.10 + 41.94.

The modality networks (and the trunk) are :class:`MultiModalResNet` instances with one modality
(``first_stage`` / ``last_stage`` select the part), so blocks, weight loading and init are
resnet.py's. The loop over modalities is inherent: their weights differ.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from mmengine.model import BaseModule
from mmengine.structures import PixelData
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.base import FusionModule, FusionPoint, build_fusion, fusion_class
from fusionbench.modal import split_modalities
from fusionbench.models.resnet import LossDict, MultiModalResNet, merge_losses, stage_channels
from fusionbench.models.segmentor import ENSEMBLE, MultiModalSegmentor

FUSED = 'fused'


@registry.MODELS.register_module()
class SeparateStreamsResNet(BaseModule):
    """M separate ResNets with stage fusion points (the commonly-used setting; module docstring).

    Args:
        num_modalities: ``M``.
        fusion: a ``'stage'``-position fusion config with ``stages``, e.g.
            ``dict(type='concat', stages=(2,))``; None / ``'none'``: M independent networks
            (Table 1's unshared row).
        depth, width, in_channels, norm_kind, pretrained, norm_eval: as :class:`MultiModalResNet`, for
            every modality network and the trunk.
        norm_sharing: must be ``'private'`` (separate networks have their own norms); accepted
            so the shared base config's backbone keys apply.

    Attributes:
        num_streams: streams coming out: ``M`` (no fusion, or fusions that keep streams) or 1.
        out_channels: channels of the four levels.

    Shapes: ``forward([M*N, C_in, H, W])`` -> ``([l1..l4], losses)``, each level
    ``[num_streams*N, C_s, H_s, W_s]``.
    """

    def __init__(self, num_modalities: int = 2, fusion: dict | None = None, depth: int = 101,
                 width: float = 1.0, in_channels: int = 3, norm_sharing: str = 'private',
                 norm_kind: str = 'bn', pretrained: str | None = None,
                 norm_eval: bool = False, init_cfg: dict | None = None):
        super().__init__(init_cfg)
        if norm_sharing != 'private':
            raise ValueError('SeparateStreamsResNet runs one network per modality: every norm is '
                             f"its modality's own (norm_sharing='private'), got {norm_sharing!r}")
        self.num_modalities = num_modalities
        self.out_channels = stage_channels(depth, width)
        self.fusions = nn.ModuleDict()
        if fusion is not None and fusion.get('type', 'none') != 'none':
            self._build_fusions(fusion)
        keeps = {f.keeps_streams for f in self.fusions.values()}
        if len(keeps) > 1:
            raise ValueError('the fusion points of one model must all keep or all merge streams')
        self.keeps_streams = keeps != {False}
        self.num_streams = num_modalities if self.keeps_streams else 1
        # the last stage run per modality; the trunk runs the rest on the fused stream
        self.split_until = 4 if self.keeps_streams else max(int(s) for s in self.fusions)
        resnet = dict(num_modalities=1, depth=depth, width=width, in_channels=in_channels,
                      norm_kind=norm_kind, pretrained=pretrained, norm_eval=norm_eval)
        self.streams = nn.ModuleList(MultiModalResNet(last_stage=self.split_until, **resnet)
                                     for _ in range(num_modalities))
        for index, stream in enumerate(self.streams):  # seeded init: stream 0 = shared encoder
            stream.init_prefix = f'streams.{index}.' if index else ''
        self.trunk = (MultiModalResNet(first_stage=self.split_until + 1, **resnet)
                      if self.split_until < 4 else None)

    def _build_fusions(self, cfg: dict) -> None:
        cls = fusion_class(cfg)
        if cls.card.position != 'stage':
            raise ValueError(f"SeparateStreamsResNet has stage fusion points only; {cfg['type']!r} "
                             f"sits at position {cls.card.position!r}")
        stages = tuple(cfg.get('stages', (1, 2, 3, 4)))
        for stage in stages:
            if stage not in (1, 2, 3, 4):
                raise ValueError(f'fusion stages must be within 1..4, got {stages}')
            point = FusionPoint(f'stage{stage}', 'stage', stage, self.out_channels[stage - 1],
                                self.num_modalities, 'private')
            self.fusions[str(stage)] = build_fusion(cfg, point)

    def fusion_modules(self) -> Iterator[FusionModule]:
        return (m for m in self.modules() if isinstance(m, FusionModule))

    def forward(self, x: Tensor) -> tuple[list[Tensor], LossDict]:
        m = self.num_modalities
        xs = [stream.forward_stem(part) for stream, part in
              zip(self.streams, split_modalities(x, m).unbind(0))]
        levels: list[Tensor] = []
        losses: LossDict = {}
        for stage in range(1, self.split_until + 1):
            xs = [stream.forward_stage(stage, part)[0] for stream, part in zip(self.streams, xs)]
            stacked = torch.cat(xs, dim=0)
            fusion = self.fusions[str(stage)] if str(stage) in self.fusions else None
            if fusion is not None:
                level, fusion_losses = fusion(stacked, None)
                merge_losses(losses, fusion_losses)
                if self.keeps_streams:  # the fusion may change the streams it keeps
                    xs = list(split_modalities(level, m).unbind(0))
            else:
                level = stacked if self.keeps_streams else split_modalities(stacked, m).mean(0)
            levels.append(level)
        x = levels[-1]
        for stage in range(self.split_until + 1, 5):
            x, trunk_losses = self.trunk.forward_stage(stage, x)
            merge_losses(losses, trunk_losses)
            levels.append(x)
        return levels, losses

    def init_weights(self) -> None:
        """Each modality network and the trunk as :meth:`MultiModalResNet.init_weights`."""
        for net in (*self.streams, *([self.trunk] if self.trunk is not None else [])):
            net.init_weights()


@registry.MODELS.register_module()
class SeparateStreamsSegmentor(MultiModalSegmentor):
    """The commonly-used setting end to end: separate networks, fused where the method says.

    Same arguments as :class:`MultiModalSegmentor` (``backbone`` is normally
    :class:`SeparateStreamsResNet`). The number of streams the backbone returns sets the rest:

    - one stream (aggregation): one decoder, one head named ``'fused'`` (no ensemble);
    - ``M`` streams (alignment, or no fusion): one decoder per stream (``decode_head`` is then a
      ``ModuleList``), a head per modality and the α-ensemble -- M complete networks.

    Parameters counted: every decoder (the paper's "two full networks" for alignment).
    """

    def __init__(self, modalities, backbone: dict, decode_head: dict, num_classes: int,
                 **kwargs):
        super().__init__(modalities, backbone, decode_head, num_classes, **kwargs)
        streams = getattr(self.backbone, 'num_streams', len(self.modalities))
        if streams == len(self.modalities):
            self.stream_names = self.modalities
            decoder = dict(decode_head, in_channels=tuple(self.backbone.out_channels),
                           num_classes=num_classes)
            self.decode_head = nn.ModuleList(
                [self.decode_head] + [registry.build(registry.MODELS, decoder)
                                      for _ in range(streams - 1)])
        elif streams == 1:
            self.stream_names = (FUSED,)
            if self.use_ensemble:  # one stream: nothing to ensemble
                del self.alpha
                self.use_ensemble = False
        else:
            raise ValueError(f'the backbone returns {streams} streams for '
                             f'{len(self.modalities)} modalities; expected 1 or all')

    @property
    def heads(self) -> tuple[str, ...]:
        return self.stream_names + ((ENSEMBLE,) if self.use_ensemble else ())

    def head_logits(self, inputs: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``[M*N, C, H, W]`` -> (``{head: [N, K, h, w]}``, fusion loss terms)."""
        features, fusion_losses = self.backbone(inputs)
        streams = len(self.stream_names)
        if isinstance(self.decode_head, nn.ModuleList):
            per_stream = zip(*(split_modalities(level, streams).unbind(0) for level in features))
            logits = torch.stack([decoder(list(levels)) for decoder, levels in
                                  zip(self.decode_head, per_stream)])
        else:
            logits = split_modalities(self.decode_head(features), streams)
        out = dict(zip(self.stream_names, logits.unbind(0)))
        if self.use_ensemble:
            weights = torch.softmax(self.alpha, dim=0).view(-1, 1, 1, 1, 1)
            out[ENSEMBLE] = (weights * logits.detach()).sum(0)
        return out, fusion_losses

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples=None, flip: bool | None = None):
        """As :meth:`MultiModalSegmentor.predict`; ``pred_sem_seg`` is the fused head here."""
        samples = super().predict(inputs, data_samples, flip)
        primary = ENSEMBLE if self.use_ensemble else self.stream_names[0]
        for sample in samples:
            pred = sample.get(f'pred_{primary}')
            if isinstance(pred, PixelData):
                sample.pred_sem_seg = pred
        return samples
