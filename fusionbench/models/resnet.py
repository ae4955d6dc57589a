"""Multimodal ResNet-18/34/50/101/152: shared convolutions, modality norms, fusion points.

Input ``[M*N, C_in, H, W]`` (modalities stacked, modality-major). Every convolution is shared
by all modalities and runs once on the stack; every norm is a :class:`~fusionbench.modal.
ModalityNorm` (private γ/β and statistics per modality) or, for the Table 1 ablation, one shared
norm. Fusion modules sit at the points named by the fusion config (see
:mod:`fusionbench.fusion.base`): inside every block of the chosen stages after the norm of every
3×3 convolution (§4.1: "every 3×3 convolutional layer" -- ``bn2`` of a bottleneck, ``bn1`` and
``bn2`` of a basic block; the fusion config's ``after_norms`` picks a subset), or after a stage.

Module names follow torchvision (``conv1``, ``bn1``, ``layer1.0.conv2``, ``downsample.1``) so an
ImageNet torchvision state dict loads key for key, each modality's norm initialised from the
single BN (:meth:`MultiModalResNet.load_torchvision_weights`).

``UnsharedResNet`` is Table 1's first row: M separate single-modality ResNets.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from fusionbench import compat, registry
from fusionbench.fusion.base import FusionModule, FusionPoint, build_fusion, fusion_class
from fusionbench.models.init import run_seed, seeded
from fusionbench.models.layout import cpu_channels_last
from fusionbench.modal import (ModalityConv, ModalityNorm, SharedNorm, build_norm,
                               freeze_norm_statistics, split_modalities)

LossDict = dict[str, Tensor]
ARCH = {18: ('basic', (2, 2, 2, 2)), 34: ('basic', (3, 4, 6, 3)),
        50: ('bottleneck', (3, 4, 6, 3)), 101: ('bottleneck', (3, 4, 23, 3)),
        152: ('bottleneck', (3, 8, 36, 3))}
EXPANSION = {'basic': 1, 'bottleneck': 4}


def merge_losses(total: LossDict, new: LossDict) -> LossDict:
    """Add ``new``'s terms into ``total`` (same names are summed)."""
    for key, value in new.items():
        total[key] = total[key] + value if key in total else value
    return total


class _Block(nn.Module):
    """Shared parts of the two residual blocks: fusion after the 3×3 convolutions' norms.

    ``fusions``: ``{norm name: fusion module}`` -- the module runs right after that norm and
    receives it (CEN reads its γ). Empty when the block has no block-position fusion.
    """

    #: Norms that follow a 3×3 convolution, in forward order (the possible fusion positions).
    exchange_norms: tuple[str, ...] = ()

    def _init_fusions(self) -> None:
        self.fusions = nn.ModuleDict()

    def _fuse(self, out: Tensor, norm_name: str, losses: LossDict) -> Tensor:
        """Apply the fusion after ``norm_name`` (if any) to ``out``; its losses go to ``losses``."""
        if norm_name not in self.fusions:
            return out
        out, new = self.fusions[norm_name](out, getattr(self, norm_name))
        merge_losses(losses, new)
        return out

    def fusion_channels(self, norm_name: str) -> int:
        """Channels ``C`` at the fusion position after ``norm_name``."""
        return getattr(self, 'conv' + norm_name[2:]).out_channels


class BasicBlock(_Block):
    """ResNet-18/34 block; fusion after ``bn1`` and ``bn2`` (both follow a 3×3 conv).

    ``[M*N, C, H, W]`` -> ``[M*N, C', H', W']``. The fusion after ``bn2`` acts before the
    residual addition, as after the norm of any 3×3 convolution.
    """

    exchange_norms = ('bn1', 'bn2')

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None,
                 norm: callable):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = norm(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self._init_fusions()

    def forward(self, x: Tensor) -> tuple[Tensor, LossDict]:
        identity = x if self.downsample is None else self.downsample(x)
        losses: LossDict = {}
        out = self._fuse(self.bn1(self.conv1(x)), 'bn1', losses)
        out = self._fuse(self.bn2(self.conv2(self.relu(out))), 'bn2', losses)
        return self.relu(out + identity), losses


class Bottleneck(_Block):
    """ResNet-50/101/152 block; fusion after ``bn2`` (the norm of its one 3×3 conv)."""

    exchange_norms = ('bn2',)

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None,
                 norm: callable):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = norm(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = norm(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = norm(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self._init_fusions()

    def forward(self, x: Tensor) -> tuple[Tensor, LossDict]:
        identity = x if self.downsample is None else self.downsample(x)
        losses: LossDict = {}
        out = self.relu(self.bn1(self.conv1(x)))
        out = self._fuse(self.bn2(self.conv2(out)), 'bn2', losses)
        out = self.bn3(self.conv3(self.relu(out)))
        return self.relu(out + identity), losses


BLOCKS = {'basic': BasicBlock, 'bottleneck': Bottleneck}


def stage_planes(stage: int, width: float) -> int:
    """Bottleneck/basic width of stage 1..4 (64·w·2^(stage-1), at least 8)."""
    return max(8, int(round(64 * width * 2 ** (stage - 1))))


def stage_channels(depth: int, width: float = 1.0) -> list[int]:
    """Output channels of stages 1..4 of a ResNet of ``depth`` and ``width`` (no model built)."""
    if depth not in ARCH:
        raise ValueError(f'ResNet depth must be one of {sorted(ARCH)}, got {depth}')
    expansion = EXPANSION[ARCH[depth][0]]
    return [stage_planes(stage, width) * expansion for stage in range(1, 5)]


@registry.MODELS.register_module()
class MultiModalResNet(BaseModule):
    """ResNet encoder over stacked modalities.

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_modalities: ``M`` (1 = the unimodal network).
        in_channels: input channels per modality (modalities are broadened to a common count by
            the data preprocessor).
        width: width multiplier (1.0 = the standard ResNet; e.g. 0.25 for tiny CPU configs).
        norm_sharing: ``'private'`` (one norm per modality) or ``'shared'``.
        norm_kind: ``'bn'`` or ``'in'``.
        fusion: fusion config, e.g. ``dict(type='cen', stages=(1, 2, 3, 4), threshold=2e-2)``;
            ``stages`` picks the stages whose points get a fusion module; for block-position
            methods ``after_norms`` (default: every 3×3 conv's norm, ``('bn1', 'bn2')`` in a
            basic block, ``('bn2',)`` in a bottleneck; ``'first'``: the first 3×3 conv's, the
            strided one in a stage's first block) picks the norms within each block and
            ``blocks`` (default: all) the block indices within each stage.
        pretrained: local path of a torchvision ImageNet state dict (``resnet101-*.pth``);
            loaded by :meth:`init_weights`. Nothing is ever downloaded.
        first_stage, last_stage: build only stages ``first_stage..last_stage`` (the stem only
            when ``first_stage == 1``; the other ``layer<s>`` are empty). A part of a ResNet, for
            networks split at a fusion point (:mod:`fusionbench.models.separate_streams`):
            ``forward`` then takes stage ``first_stage - 1``'s output and returns the built
            stages' features.
        norm_eval: keep every batch norm's running statistics frozen during training (eval
            mode; γ/β still trained), as the CEN public code does (``fidelity='official'``,
            :mod:`fusionbench.fidelity`). Default False: per-modality batch statistics, the
            paper's text.
        conv_sharing: ``'shared'`` (default: one convolution runs on the whole stack) or
            ``'private'``: every convolution becomes a :class:`~fusionbench.modal.ModalityConv`
            (one copy per modality; unshared convolutions with fusion points between the
            streams, as the §4.1 CBN ablation with unshared convolutions needs). ImageNet
            weights load into every modality's copy.

    Shapes: ``forward([M*N, C_in, H, W])`` -> ``([l1, l2, l3, l4], losses)`` with ``l_s`` of
    shape ``[M*N, C_s, H/2^(s+1), W/2^(s+1)]``, ``C_s = 64·w·2^(s-1)·expansion``. On CPU the
    input is taken to channels-last memory format first, so the features are channels-last
    (:mod:`fusionbench.models.layout`; same shapes and values up to float rounding).
    """

    def __init__(self, depth: int = 101, num_modalities: int = 2, in_channels: int = 3,
                 width: float = 1.0, norm_sharing: str = 'private', norm_kind: str = 'bn',
                 fusion: dict | None = None, pretrained: str | None = None,
                 first_stage: int = 1, last_stage: int = 4, norm_eval: bool = False,
                 conv_sharing: str = 'shared', init_cfg: dict | None = None):
        super().__init__(init_cfg)
        if conv_sharing not in ('shared', 'private'):
            raise ValueError(f"conv_sharing must be 'shared' or 'private', got {conv_sharing!r}")
        self.conv_sharing = conv_sharing
        self.norm_eval = norm_eval
        if not 1 <= first_stage <= last_stage <= 4:
            raise ValueError(f'need 1 <= first_stage <= last_stage <= 4, got {first_stage}, '
                             f'{last_stage}')
        self.first_stage, self.last_stage = first_stage, last_stage
        if depth not in ARCH:
            raise ValueError(f'ResNet depth must be one of {sorted(ARCH)}, got {depth}')
        block_kind, layers = ARCH[depth]
        self.depth = depth
        self.num_modalities = num_modalities
        self.norm_sharing = norm_sharing
        self.pretrained = pretrained
        self.width = width
        block = BLOCKS[block_kind]
        expansion = EXPANSION[block_kind]

        def norm(channels: int) -> nn.Module:
            return build_norm(norm_sharing, channels, num_modalities, norm_kind)

        stem = max(8, int(round(64 * width)))
        if first_stage == 1:
            self.conv1 = nn.Conv2d(in_channels, stem, 7, 2, 3, bias=False)
            self.bn1 = norm(stem)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = stem
        self.out_channels: list[int] = []
        for stage, num_blocks in enumerate(layers, start=1):
            planes = stage_planes(stage, width)
            blocks = []
            if not first_stage <= stage <= last_stage:  # not part of this network: no blocks
                num_blocks, inplanes = 0, planes * expansion
            for index in range(num_blocks):
                stride = 2 if stage > 1 and index == 0 else 1
                downsample = None
                if stride != 1 or inplanes != planes * expansion:
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * expansion, 1, stride, bias=False),
                        norm(planes * expansion))
                blocks.append(block(inplanes, planes, stride, downsample, norm))
                inplanes = planes * expansion
            self.add_module(f'layer{stage}', nn.ModuleList(blocks))
            self.out_channels.append(inplanes)
        if conv_sharing == 'private':
            self._unshare_convs()
        self.stage_fusions = nn.ModuleDict()
        if fusion is not None and fusion.get('type') != 'none':
            self._build_fusions(fusion)

    def train(self, mode: bool = True) -> 'MultiModalResNet':
        """``nn.Module.train``; with ``norm_eval`` the norms stay in eval mode."""
        super().train(mode)
        if mode and self.norm_eval:
            freeze_norm_statistics(self)
        return self

    def _unshare_convs(self) -> None:
        """Replace every convolution by a :class:`ModalityConv` of ``num_modalities`` copies
        (before the fusions are built: their own convolutions stay as they are)."""
        convs = [(name, module) for name, module in self.named_modules()
                 if isinstance(module, nn.Conv2d)]
        for name, conv in convs:
            parent_name, _, attr = name.rpartition('.')
            parent = self.get_submodule(parent_name) if parent_name else self
            setattr(parent, attr, ModalityConv(conv, self.num_modalities))

    @property
    def stages(self) -> list[nn.ModuleList]:
        return [getattr(self, f'layer{s}') for s in range(1, 5)]

    def _build_fusions(self, cfg: dict) -> None:
        position = fusion_class(cfg).card.position
        stages = tuple(cfg.get('stages', (1, 2, 3, 4)))
        for stage in stages:
            if stage not in (1, 2, 3, 4):
                raise ValueError(f'fusion stages must be within 1..4, got {stages}')
            if not self.first_stage <= stage <= self.last_stage:
                raise ValueError(f'fusion stage {stage} is outside the built stages '
                                 f'{self.first_stage}..{self.last_stage}')
            if position == 'block':
                blocks = self._fusion_blocks(cfg, stage)
                for index, block in enumerate(self.stages[stage - 1]):
                    if index not in blocks:
                        continue
                    for norm_name in self._after_norms(cfg, block):
                        point = FusionPoint(f'layer{stage}.{index}.{norm_name}', 'block', stage,
                                            block.fusion_channels(norm_name),
                                            self.num_modalities, self.norm_sharing)
                        block.fusions[norm_name] = build_fusion(cfg, point,
                                                                getattr(block, norm_name))
            else:
                point = FusionPoint(f'stage{stage}', 'stage', stage,
                                    self.out_channels[stage - 1], self.num_modalities,
                                    self.norm_sharing)
                module = build_fusion(cfg, point)
                if not module.keeps_streams:
                    raise ValueError(
                        f'{type(module).__name__} aggregates the modalities into one stream; '
                        'MultiModalResNet keeps every stream (use the commonly-used setting: '
                        'SeparateStreamsResNet)')
                self.stage_fusions[str(stage)] = module

    def _fusion_blocks(self, cfg: dict, stage: int) -> range | tuple[int, ...]:
        """The block indices of ``stage`` a block-position fusion enters (``cfg['blocks']`` or
        all); raises ``ValueError`` for an index the stage does not have."""
        count = len(self.stages[stage - 1])
        wanted = cfg.get('blocks')
        if wanted is None:
            return range(count)
        wanted = tuple(wanted)
        if not wanted or any(not isinstance(i, int) or not 0 <= i < count for i in wanted):
            raise ValueError(f'fusion blocks={wanted!r}: stage {stage} has blocks 0..{count - 1}')
        return wanted

    @staticmethod
    def _after_norms(cfg: dict, block: _Block) -> tuple[str, ...]:
        """The block's norms a block-position fusion follows (``cfg['after_norms']`` or all)."""
        wanted = cfg.get('after_norms')
        if wanted is None:
            return block.exchange_norms
        if wanted == 'first':
            return block.exchange_norms[:1]
        wanted = (wanted,) if isinstance(wanted, str) else tuple(wanted)
        unknown = [n for n in wanted if n not in block.exchange_norms]
        if unknown or not wanted:
            raise ValueError(f'fusion after_norms={wanted!r}: a {type(block).__name__} has 3×3 '
                             f'convolution norms {block.exchange_norms}; pick among those')
        return tuple(n for n in block.exchange_norms if n in wanted)  # forward order

    def fusion_modules(self) -> Iterator[FusionModule]:
        """Every fusion module of the encoder, in forward order."""
        return (m for m in self.modules() if isinstance(m, FusionModule))

    def forward_stem(self, x: Tensor) -> Tensor:
        """``[M*N, C_in, H, W]`` -> the stem's output ``[M*N, C_stem, H/4, W/4]``."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_stage(self, stage: int, x: Tensor) -> tuple[Tensor, LossDict]:
        """Stage ``stage``'s blocks, then its stage fusion if any: ``(features, losses)``."""
        losses: LossDict = {}
        for block in self.stages[stage - 1]:
            x, block_losses = block(x)
            merge_losses(losses, block_losses)
        if str(stage) in self.stage_fusions:
            x, stage_losses = self.stage_fusions[str(stage)](x, None)
            merge_losses(losses, stage_losses)
        return x, losses

    def forward(self, x: Tensor) -> tuple[list[Tensor], LossDict]:
        x = cpu_channels_last(x)  # on CPU: NHWC activations throughout (models/layout.py)
        if self.first_stage == 1:
            x = self.forward_stem(x)
        features, losses = [], {}
        for stage in range(self.first_stage, self.last_stage + 1):
            x, stage_losses = self.forward_stage(stage, x)
            merge_losses(losses, stage_losses)
            features.append(x)
        return features, losses

    #: Prefix of this network's module names in the per-name seeded init (see
    #: :mod:`fusionbench.models.init`); '' makes its convolutions start where the same-named
    #: ones of any other row's encoder start. A second stream of separate networks sets its own.
    init_prefix = ''

    def init_weights(self) -> None:
        """Kaiming (fan-out) init as torchvision, then the local ImageNet weights if set.

        Each convolution draws from the global RNG seeded by (the run's seed, its name): the
        same seed gives every row the same initial convolutions (common random numbers).
        """
        super().init_weights()
        seed = run_seed()
        own_init = {id(m) for f in self.fusion_modules() for m in f.modules()}
        for name, module in self.named_modules():
            if isinstance(module, nn.Conv2d) and id(module) not in own_init:
                with seeded(seed, self.init_prefix + name):
                    nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
        if self.pretrained:
            self.load_torchvision_weights(self.pretrained)

    def load_torchvision_weights(self, path: str) -> None:
        """Load a torchvision ResNet state dict; each modality's norm starts from the one BN.

        Fails with a message naming ``path`` when it is missing or does not match this depth
        and width (the fc layer is ignored).
        """
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f'ImageNet weights for ResNet-{self.depth} not found at {path}: save torchvision\'s '
                f'resnet{self.depth} state dict there (fusionbench never downloads weights)')
        state = compat.load_checkpoint(path)  # weights-only, whatever the environment says
        state = state.get('state_dict', state)
        state = {k: v for k, v in state.items() if self._builds(k)}
        fusion_parts = {id(m) for f in self.fusion_modules() for m in f.modules()}
        norms = {name: mod for name, mod in self.named_modules()  # a fusion's own norms: not
                 if isinstance(mod, (ModalityNorm, SharedNorm))  # in an ImageNet ResNet
                 and id(mod) not in fusion_parts}
        own = self.state_dict()
        loaded = set()
        for name, module in norms.items():
            prefix = f'{name}.'
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if 'weight' not in sub:
                raise KeyError(f'{path} has no BN weights for {name}: not a ResNet-{self.depth}')
            self._check_shape(path, name + '.weight', sub['weight'].shape,
                              (module.weight.shape[-1],))
            module.load_single_norm(sub)
            loaded.update(prefix + k for k in sub)
        convs = {k: v for k, v in state.items() if k not in loaded and not k.startswith('fc.')}
        convs = self._per_modality_convs(convs, own)
        for key, value in convs.items():
            if key not in own:
                raise KeyError(f'{path}: unexpected key {key} for ResNet-{self.depth}')
            self._check_shape(path, key, value.shape, own[key].shape)
        missing = [k for k, v in own.items() if k.endswith('weight') and 'fusion' not in k
                   and k not in convs and k not in loaded and not any(
                       k.startswith(n + '.') for n in norms)]
        if missing:
            raise KeyError(f'{path} lacks {len(missing)} weights of ResNet-{self.depth}, e.g. '
                           f'{missing[0]}')
        self.load_state_dict(convs, strict=False)

    def _per_modality_convs(self, convs: dict, own: dict) -> dict:
        """With private convolutions, ``conv1.weight`` -> ``conv1.convs.<m>.weight`` for every
        modality ``m`` (each copy starts from the one ImageNet convolution)."""
        if self.conv_sharing != 'private':
            return convs
        out = {}
        for key, value in convs.items():
            module, _, param = key.rpartition('.')
            if key in own or f'{module}.convs.0.{param}' not in own:
                out[key] = value
                continue
            out.update({f'{module}.convs.{m}.{param}': value
                        for m in range(self.num_modalities)})
        return out

    def _builds(self, key: str) -> bool:
        """Whether a torchvision key belongs to the stages this network builds."""
        head = key.split('.', 1)[0]
        if head.startswith('layer') and head[5:].isdigit():
            return self.first_stage <= int(head[5:]) <= self.last_stage
        return head not in ('conv1', 'bn1') or self.first_stage == 1

    def _check_shape(self, path: str, key: str, got: torch.Size, want: torch.Size) -> None:
        if tuple(got) != tuple(want):
            raise ValueError(f'{path}: {key} has shape {tuple(got)}, ResNet-{self.depth} with '
                             f'width {self.width} needs {tuple(want)}')


@registry.MODELS.register_module()
class UnsharedResNet(BaseModule):
    """M separate single-modality ResNets (Table 1, row 1: unshared convs and norms).

    Same interface as :class:`MultiModalResNet`; each modality's slice goes through its own
    network (the loop over modalities is inherent: the weights differ).
    """

    def __init__(self, num_modalities: int = 2, fusion: dict | None = None, **resnet_kwargs):
        super().__init__()
        if fusion is not None and fusion.get('type', 'none') != 'none':
            raise ValueError('UnsharedResNet keeps the modalities apart; it takes no fusion')
        self.num_modalities = num_modalities
        self.streams = nn.ModuleList(MultiModalResNet(num_modalities=1, **resnet_kwargs)
                                     for _ in range(num_modalities))
        for index, stream in enumerate(self.streams):  # stream 0 starts as the shared encoder
            stream.init_prefix = f'streams.{index}.' if index else ''
        self.out_channels = self.streams[0].out_channels

    def fusion_modules(self) -> Iterator[FusionModule]:
        return iter(())

    def forward(self, x: Tensor) -> tuple[list[Tensor], LossDict]:
        per_modality = [stream(part)[0] for stream, part in
                        zip(self.streams, split_modalities(x, self.num_modalities))]
        return [torch.cat(level, dim=0) for level in zip(*per_modality)], {}

    def init_weights(self) -> None:
        for stream in self.streams:
            stream.init_weights()
