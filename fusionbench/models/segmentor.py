"""The multimodal segmentor: stacked modalities → encoder with fusion → shared decoder → heads.

One prediction per modality plus the α-ensemble ``Σ_m softmax(α)_m · logits_m`` over detached
logits (so α learns only through the ensemble's loss and the ensemble does not pull on the
sub-networks). Loss = ``Σ_m CE(pred_m) + CE(ensemble) + fusion terms`` (CEN's ``λ·ℓ1``,
alignment losses), each reported as its own term.

:class:`MultiModalDataPreprocessor` stacks the packed modalities into ``[M*N, C, H, W]``
(modality-major), broadening every modality to a common channel count (the least common
multiple, by repetition: the paper's footnote 3) and padding to a common size (labels with 255).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.data.transforms import IGNORE_INDEX
from fusionbench.fusion.base import FusionModule
from fusionbench.models.init import reset_by_name, run_seed, seeded
from fusionbench.modal import split_modalities
from fusionbench.models.resize import bilinear_resize

ENSEMBLE = 'ensemble'


def broaden_channels(x: Tensor, channels: int) -> Tensor:
    """Repeat ``[N, C, H, W]`` along channels to ``[N, channels, H, W]`` (``C`` divides it)."""
    if x.shape[1] == channels:
        return x
    if channels % x.shape[1]:
        raise ValueError(f'cannot broaden {x.shape[1]} channels to {channels}')
    return x.repeat(1, channels // x.shape[1], 1, 1)


@registry.MODELS.register_module()
class MultiModalDataPreprocessor(BaseDataPreprocessor):
    """Collated ``{'inputs': {name: [[C, H, W]] * N}, 'data_samples': [...]}`` -> stacked batch.

    (A list of per-sample ``{name: [C, H, W]}`` dicts is accepted too.)

    Args:
        modalities: modality names in stacking order, e.g. ``('rgb', 'depth')``.
        channels: common channel count; default: the LCM of the modalities' channel counts.
        size_divisor: pad H and W up to a multiple of this (0: pad only to the batch maximum).

    Output ``inputs``: ``[M*N, C, H, W]`` float; labels padded with 255.
    """

    def __init__(self, modalities: Sequence[str], channels: int | None = None,
                 size_divisor: int = 0):
        super().__init__()
        self.modalities = tuple(modalities)
        self.channels = channels
        self.size_divisor = size_divisor

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs, samples = data['inputs'], data.get('data_samples')
        if isinstance(inputs, (list, tuple)):  # [{name: [C, H, W]}] -> {name: [[C, H, W]]}
            inputs = {name: [item[name] for item in inputs] for name in inputs[0]}
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise KeyError(f'the batch lacks modalities {missing}; it has {sorted(inputs)}')
        channels = self.channels or math.lcm(*(inputs[m][0].shape[0] for m in self.modalities))
        height = max(t.shape[-2] for t in inputs[self.modalities[0]])
        width = max(t.shape[-1] for t in inputs[self.modalities[0]])
        if self.size_divisor:
            height = -(-height // self.size_divisor) * self.size_divisor
            width = -(-width // self.size_divisor) * self.size_divisor
        stacked = []
        for name in self.modalities:
            batch = [F.pad(t, (0, width - t.shape[-1], 0, height - t.shape[-2]))
                     for t in inputs[name]]
            stacked.append(broaden_channels(torch.stack(batch).float(), channels))
        if samples is not None:
            for sample in samples:
                sample.set_metainfo({'pad_shape': (height, width)})
                if 'gt_sem_seg' in sample:
                    label = sample.gt_sem_seg.data
                    # a new PixelData: mmengine fixes an existing one's H and W
                    sample.gt_sem_seg = PixelData(data=F.pad(
                        label, (0, width - label.shape[-1], 0, height - label.shape[-2]),
                        value=IGNORE_INDEX))
        return {'inputs': torch.cat(stacked, dim=0), 'data_samples': samples}


@registry.MODELS.register_module()
class MultiModalSegmentor(BaseModel):
    """Encoder (shared convs, modality norms, fusion points) + shared decoder + α-ensemble.

    Args:
        modalities: modality names, in the preprocessor's stacking order.
        backbone: encoder config (e.g. ``MultiModalResNet``); ``num_modalities`` and ``fusion``
            are filled in from here.
        decode_head: decoder config (e.g. ``RefineNetDecoder``); ``in_channels`` filled in.
        fusion: fusion config (``dict(type='cen', ...)``) or None.
        num_classes: K; ``ignore_index``: label ignored by losses and metrics.
        ensemble: add the α-ensemble head (needs M >= 2).
        data_preprocessor: defaults to :class:`MultiModalDataPreprocessor` over ``modalities``.
        test_cfg: how ``'predict'`` evaluates: ``dict(mode='whole', scales=(1.0,), flip=False)``
            (the defaults). ``scales``: the stacked input is resized by each factor, every head's
            logits are resized back to the input size and averaged over scales (and over the
            horizontally flipped input when ``flip``) -- multi-scale (+flip) testing, e.g.
            ``scales=(0.75, 1.0, 1.25), flip=True``. Only ``mode='whole'`` (no sliding window).

    ``forward(inputs [M*N, C, H, W], data_samples, mode)``: ``'loss'`` -> dict of loss terms;
    ``'predict'`` -> samples with ``pred_sem_seg`` (the ensemble, or the only modality) and
    ``pred_<head>`` for every head; ``'tensor'`` -> ``{head: logits [N, K, H/4, W/4]}``.
    """

    task = 'segmentation'  # its registry.TASKS entry: metrics, evaluator, protocol adapter

    def __init__(self, modalities: Sequence[str], backbone: dict, decode_head: dict,
                 num_classes: int, fusion: dict | None = None, ensemble: bool = True,
                 ignore_index: int = IGNORE_INDEX, data_preprocessor: dict | None = None,
                 test_cfg: dict | None = None, init_cfg: dict | None = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='MultiModalDataPreprocessor', modalities=modalities)
        if isinstance(data_preprocessor, dict):  # build in fusionbench's scope, not mmengine's
            data_preprocessor = registry.build(registry.MODELS, data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.modalities = tuple(modalities)
        num_modalities = len(self.modalities)
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        backbone = dict(backbone, num_modalities=num_modalities)
        if fusion is not None:
            backbone['fusion'] = fusion
        self.backbone = registry.build(registry.MODELS, backbone)
        self.decode_head = registry.build(registry.MODELS, dict(
            decode_head, in_channels=tuple(self.backbone.out_channels), num_classes=num_classes))
        self.use_ensemble = ensemble and num_modalities > 1
        if self.use_ensemble:
            self.alpha = nn.Parameter(torch.ones(num_modalities))
        self.test_cfg = self._check_test_cfg(test_cfg)

    def init_weights(self) -> None:
        """Seeded by name, so the same seed gives the parts two rows share the same initial
        weights (:mod:`fusionbench.models.init`): every module's default init under (run seed,
        its name), then each part's own ``init_weights`` (the decoder's, the encoder's -- whose
        convolutions are seeded one by one) under (run seed, the part's name). Fusion modules
        keep their own init."""
        seed = run_seed()
        reset_by_name(self, seed, skip=(FusionModule,))
        for name, child in self.named_children():
            if callable(getattr(child, 'init_weights', None)) and not getattr(child, 'is_init',
                                                                              False):
                with seeded(seed, name):
                    child.init_weights()
                if hasattr(child, '_is_init'):  # an override may skip BaseModule's flag
                    child._is_init = True
        super().init_weights()  # this module's init_cfg; the parts are done (is_init)

    @staticmethod
    def _check_test_cfg(test_cfg: dict | None) -> dict:
        cfg = {'mode': 'whole', 'scales': (1.0,), 'flip': False, **dict(test_cfg or {})}
        unknown = sorted(set(cfg) - {'mode', 'scales', 'flip'})
        if unknown:
            raise ValueError(f'test_cfg takes mode, scales and flip; got {unknown}')
        if cfg['mode'] != 'whole':
            raise ValueError(f"test_cfg mode must be 'whole', got {cfg['mode']!r}")
        cfg['scales'] = tuple(float(s) for s in cfg['scales'])
        if not cfg['scales'] or any(s <= 0 for s in cfg['scales']):
            raise ValueError(f"test_cfg scales must be positive factors, got {cfg['scales']}")
        cfg['flip'] = bool(cfg['flip'])
        return cfg

    @property
    def heads(self) -> tuple[str, ...]:
        """Prediction heads: one per modality, then the ensemble."""
        return self.modalities + ((ENSEMBLE,) if self.use_ensemble else ())

    def fusion_modules(self) -> list[FusionModule]:
        return [m for m in self.modules() if isinstance(m, FusionModule)]

    def head_logits(self, inputs: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``[M*N, C, H, W]`` -> (``{head: [N, K, h, w]}``, fusion loss terms)."""
        features, fusion_losses = self.backbone(inputs)
        logits = split_modalities(self.decode_head(features), len(self.modalities))
        out = dict(zip(self.modalities, logits.unbind(0)))
        if self.use_ensemble:
            weights = torch.softmax(self.alpha, dim=0).view(-1, 1, 1, 1, 1)
            out[ENSEMBLE] = (weights * logits.detach()).sum(0)
        return out, fusion_losses

    def forward(self, inputs: Tensor, data_samples: list[SegDataSample] | None = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.head_logits(inputs)[0]
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def loss(self, inputs: Tensor, data_samples: list[SegDataSample]) -> dict[str, Tensor]:
        """Σ_m CE(pred_m) + CE(ensemble) + the fusion method's terms, each its own entry."""
        logits, losses = self.head_logits(inputs)
        labels = torch.stack([s.gt_sem_seg.data.squeeze(0) for s in data_samples])
        labels = labels.to(inputs.device, torch.long, non_blocking=True)
        size = labels.shape[-2:]
        for head, head_logits in logits.items():  # upsampled by matrix products (see resize)
            upsampled = bilinear_resize(head_logits, size)
            losses[f'loss_ce_{head}'] = F.cross_entropy(upsampled, labels,
                                                        ignore_index=self.ignore_index)
        return losses

    def test_logits(self, inputs: Tensor, scales: Sequence[float] = (1.0,),
                    flip: bool = False) -> dict[str, Tensor]:
        """``{head: logits}`` averaged over ``scales`` (× flip) of ``[M*N, C, H, W]``.

        One pass at scale 1 without flip is :meth:`head_logits` as is (``[N, K, H/4, W/4]``);
        with several passes each pass's logits are resized (bilinear) to ``[N, K, H, W]``
        before averaging. A scale resizes the stacked input bilinearly (to at least 1 pixel).
        """
        size = inputs.shape[-2:]
        passes = [(s, f) for s in scales for f in ((False, True) if flip else (False,))]
        total: dict[str, Tensor] = {}
        for scale, flipped in passes:
            x = inputs
            if scale != 1.0:
                scaled = [max(1, int(round(d * scale))) for d in size]
                x = F.interpolate(x, size=scaled, mode='bilinear', align_corners=False)
            logits, _ = self.head_logits(x.flip(-1) if flipped else x)
            for head, value in logits.items():
                value = value.flip(-1) if flipped else value
                if len(passes) > 1:
                    value = F.interpolate(value, size=size, mode='bilinear', align_corners=False)
                total[head] = total[head] + value if head in total else value
        return {head: value / len(passes) for head, value in total.items()}

    @torch.no_grad()
    def predict(self, inputs: Tensor, data_samples: list[SegDataSample] | None = None,
                flip: bool | None = None) -> list[SegDataSample]:
        """Per-head predictions at each sample's original size (padding cropped away).

        Scales and flip come from ``test_cfg``; ``flip`` (when given) overrides its flip.
        """
        logits = self.test_logits(inputs, self.test_cfg['scales'],
                                  self.test_cfg['flip'] if flip is None else flip)
        size = inputs.shape[-2:]
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(inputs.shape[0] // len(self.modalities))]
        primary = ENSEMBLE if self.use_ensemble else self.modalities[0]
        for head, head_logits in logits.items():
            full = F.interpolate(head_logits, size=size, mode='bilinear', align_corners=False)
            for sample, sample_logits in zip(data_samples, full):
                h, w = sample.metainfo.get('img_shape', size)
                pred = PixelData(data=sample_logits[:, :h, :w].argmax(0, keepdim=True))
                sample.set_field(pred, f'pred_{head}')
                if head == primary:
                    sample.pred_sem_seg = pred
        return data_samples
