"""The pix2pix U-Net generator for M stacked input domains, with fusion points in its encoder.

Architecture (Isola et al., CVPR 2017, appendix 6.1.1; the paper's §4.2 uses U-Net-256 "with the
consistent setups with [24]", BN replaced by instance norm):

* encoder, ``depth`` down-blocks ``k = 1..D``: ``[LeakyReLU(0.2)] -> Conv 4x4 stride 2 -> [norm]``,
  widths ``ngf * min(2^(k-1), 8)`` (U-Net-256: D = 8, ngf = 64: C64-C128-C256-C512-C512-C512-
  C512-C512). Block 1 has no activation before it and no norm, block D (the bottleneck, 1x1 at
  256 px) has no norm, as pix2pix. The norms of blocks 2..D-1 are **private per domain**
  (:class:`~fusionbench.modal.ModalityNorm` ``kind='in'``); the convolutions are shared;
* decoder, ``D`` up-blocks: ``ReLU -> ConvTranspose 4x4 stride 2 -> norm [-> Dropout(0.5)]`` on
  the concatenation of the previous output and the encoder's skip; the last up-block ends in
  ``tanh`` instead of a norm. Dropout sits in the first ``dropout_blocks`` (3) up-blocks, as the
  pix2pix paper's decoder ``CD512-CD1024-CD1024-C1024-...`` (its public code puts it in blocks
  2-4 instead; we follow the paper). Every decoder parameter, the instance norms included, is
  shared by the domains (§4.2: "share all other parameters including INs in the decoder").
* Convolutions followed by a norm carry no bias (our choice: the norm's affine β makes it
  redundant); the others do. Weights are initialised N(0, 0.02), norm γ N(1, 0.02), as pix2pix.

The domains run as one stacked batch ``[M*N, C, H, W]`` (modality-major, :mod:`fusionbench.modal`)
through the whole network, so the decoder yields one image per domain; with M >= 2 the
α-ensemble ``Σ_m softmax(α)_m · out_m`` over the detached per-domain outputs is added (as the
segmentor, :mod:`fusionbench.models.segmentor`: α learns only through the ensemble's loss).

Fusion points (``fusion=dict(type=..., layers=...)``, any method of the fusion registry):

* ``'block'`` methods (CEN) sit right after the private norm of an encoder conv and receive it
  (``norm=``), as in :mod:`fusionbench.models.resnet`; only blocks 2..D-1 have a norm;
* ``'stage'`` methods (aggregation baselines) sit at the output of a down-block (after its norm
  where it has one), before the skip is taken; they must keep the M streams (the "same setting"
  of Table 2: ``keep_streams=True``), since the decoder and the skips run per domain. A point's
  ``norm_kind`` is the encoder's norm there: ``'in'`` on blocks 2..D-1 and ``'none'`` on
  blocks 1 and D, so a method that adds a norm adds an instance norm, or none where pix2pix has
  none (a norm would fail on the 1 x 1 bottleneck with pix2pix's batch of 1).

``layers`` is a tuple of 1-based down-block indices or a name (paper §4.2: early = 1st conv
layer, middle = 4th, late = 8th, all layers), mapped onto a U-Net of depth ``D``:

=========  ==================  =============================================================
name       stage methods       block methods (need a norm: blocks 2..D-1)
=========  ==================  =============================================================
early      (1,)                (2,)       -- the first normalised conv
middle     (D // 2,)           (D // 2,)  -- 4 for U-Net-256, as the paper (2 for D = 3)
late       (D,)                (D - 1,)   -- the last normalised conv
all        (1, ..., D)         (2, ..., D - 1)
=========  ==================  =============================================================

For D = 8 the stage mapping is the paper's exactly; the block mapping moves early/late by one
block because pix2pix has no norm on the first and last encoder convs.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.fusion.base import FusionModule, FusionPoint, build_fusion, fusion_class
from fusionbench.modal import ModalityNorm, split_modalities

ENSEMBLE = 'ensemble'
# The paper's channel-exchanging settings for translation (§4.2): λ = 1e-3, θ = 1e-2.
CEN_TRANSLATION = dict(type='cen', threshold=1e-2, l1_weight=1e-3, layers='all')

_NAMED_LAYERS = {
    'stage': {'early': lambda d: (1,), 'middle': lambda d: (d // 2,), 'late': lambda d: (d,),
              'all': lambda d: tuple(range(1, d + 1))},
    'block': {'early': lambda d: (2,), 'middle': lambda d: (min(max(d // 2, 2), d - 1),),
              'late': lambda d: (d - 1,),
              'all': lambda d: tuple(range(2, d))},
}


def fusion_layers(layers: str | Sequence[int], depth: int, position: str) -> tuple[int, ...]:
    """Down-block indices (1-based) of a fusion spec on a U-Net of ``depth`` (module table).

    Raises ``ValueError`` for an unknown name, an index outside ``1..depth``, or a block method
    on a block without a norm (1 or ``depth``).
    """
    if isinstance(layers, str):
        table = _NAMED_LAYERS[position]
        if layers not in table:
            raise ValueError(f'fusion layers must be one of {sorted(table)} or a tuple of '
                             f'down-block indices, got {layers!r}')
        out = table[layers](depth)
    else:
        out = tuple(int(k) for k in layers)
    lo, hi = (2, depth - 1) if position == 'block' else (1, depth)
    bad = [k for k in out if not lo <= k <= hi]
    if bad or not out:
        why = ' (blocks 1 and D of the pix2pix encoder have no norm)' if position == 'block' else ''
        raise ValueError(f'fusion layers {list(out)}: {position} methods need down-blocks within '
                         f'{lo}..{hi} for a U-Net of depth {depth}{why}')
    return tuple(sorted(set(out)))


def init_pix2pix(module: nn.Module, gain: float = 0.02) -> None:
    """pix2pix's init: conv weights N(0, gain), norm γ N(1, gain), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (ModalityNorm, nn.InstanceNorm2d, nn.BatchNorm2d)) and getattr(
                m, 'weight', None) is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


class DownBlock(nn.Module):
    """``[LeakyReLU] -> Conv 4x4/2 -> [private norm]`` then the fusion point, if any.

    Shapes: ``[M*N, C_in, H, W]`` -> ``[M*N, C_out, H/2, W/2]``.
    """

    def __init__(self, c_in: int, c_out: int, num_modalities: int, act: bool, norm: bool):
        super().__init__()
        self.act = nn.LeakyReLU(0.2) if act else nn.Identity()
        self.conv = nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not norm)
        self.norm = ModalityNorm(c_out, num_modalities, kind='in') if norm else None
        self.fusion: FusionModule | None = None

    @property
    def fusions(self) -> nn.ModuleDict:
        """``{'norm': fusion}`` for a block-position fusion (the ResNet blocks' layout, which
        :func:`~fusionbench.fusion.gamma_dynamics.exchange_layers` reads), else empty."""
        block = self.fusion is not None and self.norm is not None and \
            self.fusion.card.position == 'block'
        return nn.ModuleDict({'norm': self.fusion} if block else {})

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        x = self.conv(self.act(x))
        if self.norm is not None:
            x = self.norm(x)
        if self.fusion is None:
            return x, {}
        return self.fusion(x, self.norm)


class UpBlock(nn.Module):
    """``ReLU -> ConvTranspose 4x4/2 -> norm [-> Dropout 0.5]`` or ``-> tanh`` (outermost).

    Shapes: ``[R, C_in, H, W]`` -> ``[R, C_out, 2H, 2W]`` (shared by all rows).
    """

    def __init__(self, c_in: int, c_out: int, outermost: bool, dropout: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.ReLU(),
                                   nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=outermost)]
        layers.append(nn.Tanh() if outermost else nn.InstanceNorm2d(c_out, affine=True))
        if dropout and not outermost:
            layers.append(nn.Dropout(0.5))
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


@registry.MODELS.register_module()
class UNetGenerator(nn.Module):
    """pix2pix U-Net (U-Net-256 at depth 8) for M stacked domains; private encoder INs, fusion.

    Args:
        num_modalities: ``M`` (>= 1).
        in_channels: ``C`` of every input domain (stack domains with the same ``C``: repeat or
            pad single-channel domains before stacking).
        out_channels: output channels (3 for RGB).
        depth: down-/up-blocks ``D`` (8 = U-Net-256); inputs need ``H, W`` divisible by ``2^D``.
        ngf: base width (64).
        dropout_blocks: up-blocks with dropout, counted from the bottleneck (3).
        fusion: fusion config with ``layers`` (module table), e.g. :data:`CEN_TRANSLATION`;
            None or ``type='none'`` for no fusion.
        ensemble: add the α-ensemble (needs ``M >= 2``).

    Forward: ``[M*N, C, H, W]`` (values in [-1, 1]) -> ``({domain index or 'ensemble':
    [N, out_channels, H, W]}, fusion losses)``; per-domain keys are ``'0' .. 'M-1'``.

    Raises ``ValueError`` at build time for a bad depth/M/fusion layout, and at run time for an
    input whose size is not divisible by ``2^D`` or whose rows are not divisible by ``M``.
    """

    def __init__(self, num_modalities: int = 2, in_channels: int = 3, out_channels: int = 3,
                 depth: int = 8, ngf: int = 64, dropout_blocks: int = 3,
                 fusion: dict | None = None, ensemble: bool = True):
        super().__init__()
        if num_modalities < 1:
            raise ValueError(f'UNetGenerator needs num_modalities >= 1, got {num_modalities}')
        if depth < 3:
            raise ValueError(f'UNetGenerator depth must be >= 3 (normalised encoder blocks '
                             f'2..D-1), got {depth}')
        self.num_modalities = num_modalities
        self.depth = depth
        self.in_channels = in_channels
        self.out_channels = out_channels
        widths = [ngf * min(2 ** k, 8) for k in range(depth)]
        self.widths = tuple(widths)
        self.down = nn.ModuleList(
            DownBlock(in_channels if k == 0 else widths[k - 1], widths[k], num_modalities,
                      act=k > 0, norm=0 < k < depth - 1) for k in range(depth))
        ups = []
        for i in range(depth):          # up-block i goes from level depth-1-i to depth-2-i
            level = depth - 1 - i
            c_in = widths[level] * (1 if i == 0 else 2)
            outermost = level == 0
            c_out = out_channels if outermost else widths[level - 1]
            ups.append(UpBlock(c_in, c_out, outermost, dropout=i < dropout_blocks))
        self.up = nn.ModuleList(ups)
        self.use_ensemble = ensemble and num_modalities > 1
        if self.use_ensemble:
            self.alpha = nn.Parameter(torch.ones(num_modalities))
        init_pix2pix(self)
        if fusion is not None and fusion.get('type', 'none') != 'none':
            self._build_fusions(dict(fusion))

    def _build_fusions(self, cfg: dict) -> None:
        position = fusion_class(cfg).card.position
        layers = fusion_layers(cfg.pop('layers', 'all'), self.depth, position)
        for k in layers:
            block = self.down[k - 1]
            point = FusionPoint(f'down{k}', position, k, self.widths[k - 1],
                                self.num_modalities, 'private',
                                norm_kind='in' if block.norm is not None else 'none')
            module = build_fusion(cfg, point, block.norm if position == 'block' else None)
            if not module.keeps_streams:
                raise ValueError(
                    f'{type(module).__name__} at down{k} merges the domains into one stream; the '
                    'U-Net keeps one stream per domain (skips and decoder): use keep_streams=True')
            block.fusion = module

    @property
    def heads(self) -> tuple[str, ...]:
        """Output names: ``'0' .. 'M-1'`` then ``'ensemble'`` when used."""
        return tuple(str(m) for m in range(self.num_modalities)) + (
            (ENSEMBLE,) if self.use_ensemble else ())

    def fusion_modules(self) -> list[FusionModule]:
        return [b.fusion for b in self.down if b.fusion is not None]

    def forward(self, x: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        m, step = self.num_modalities, 2 ** self.depth
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f'UNetGenerator expects [M*N, {self.in_channels}, H, W], got '
                             f'{list(x.shape)}')
        if x.shape[-2] % step or x.shape[-1] % step:
            raise ValueError(f'UNetGenerator of depth {self.depth} needs H and W divisible by '
                             f'{step}, got {list(x.shape[-2:])}')
        split_modalities(x, m)   # checks the row count
        skips, losses = [], {}
        for block in self.down:
            x, block_losses = block(x)
            for name, value in block_losses.items():
                losses[name] = losses[name] + value if name in losses else value
            skips.append(x)
        y = self.up[0](skips[-1])
        for i, block in enumerate(self.up[1:], start=1):
            y = block(torch.cat([y, skips[self.depth - 1 - i]], dim=1))
        per_domain = split_modalities(y, m)                # [M, N, C_out, H, W]
        out = {str(k): per_domain[k] for k in range(m)}
        if self.use_ensemble:
            weights = torch.softmax(self.alpha, dim=0).view(-1, 1, 1, 1, 1)
            out[ENSEMBLE] = (weights * per_domain.detach()).sum(0)
        return out, losses
