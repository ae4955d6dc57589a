"""Fidelity: follow the paper's text, or reproduce what the authors' public code does.

The CEN paper (Wang et al., NeurIPS 2020) and its public code (github.com/yikaiw/CEN,
``semantic_segmentation/``) differ in details that change results. A config chooses with one
top-level key, read by :func:`apply_fidelity` when a run's config is resolved
(:func:`fusionbench.experiments.run.resolve_config`, after the protocol)::

    fidelity = 'paper'     # the default (also when the key is absent): the paper's text
    fidelity = 'official'  # the public code's behaviour

``'official'`` rewrites the resolved config (nothing else reads the key):

- frozen BN statistics: ``model.backbone.norm_eval = True`` -- every BN in eval mode during
  training, so both modalities are normalised with the (ImageNet) running statistics; γ and β
  stay private per modality and trained (public ``config.py`` ``FREEZE_BN = True``;
  ``main.py`` ``train()`` puts every ``BatchNorm2d`` in eval mode);
- RefineNet decoder: residual conv units add ``relu(x)`` (the in-place ReLU of
  ``models/model.py`` ``RCUBlock``) and upsample with ``align_corners=True``
  (:mod:`fusionbench.models.refinenet`);
- ℓ1: λ = 2e-4 (``config.py`` ``LAMDA``), added once per output head, ``M + 1`` times
  (``main.py`` adds it inside the loop over the outputs); the scope stays the config's
  (``l1='half'``: each modality's own half, as the public code's ``slim_params``). A protocol
  with its own λ (:attr:`~fusionbench.experiments.protocols.Protocol.l1_weight`) keeps it;
- learning-rate stages: three equal stages (``NUM_SEGM_EPOCHS = [100] * 3``) with the
  optimisers re-created at each (momentum reset) and the public code's rates, relative to the
  first stage's: encoder 1, 1/2, 1/5 (``LR_ENC = [5e-4, 2.5e-4, 1e-4]``), decoder 1, 1/2, 7/30
  (``LR_DEC = [3e-3, 1.5e-3, 7e-4]``), instead of halving every third of the schedule
  (:class:`~fusionbench.hooks.LRStagesHook`; the config's ``param_scheduler`` is dropped). On
  an iteration budget (the small protocols) the stages are thirds of the iterations.

The exchange scope is the config's: the public code exchanges over all channels
(``models/modules.py`` ``Exchange``) while penalising half of them, which is
``fusion=dict(type='cen', exchange='all', l1='half')`` -- a config choice, not a fidelity mode.
The README's "Paper text vs public code" table lists every difference with its evidence.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

FIDELITY_KEY = 'fidelity'


@dataclass(frozen=True)
class Fidelity:
    """One fidelity mode: the config rewrites it stands for.

    Attributes:
        name: the value of the config's ``fidelity`` key.
        description: one line.
        backbone: keys set on ``model.backbone``.
        decode_head: ``{decoder type: keys set on model.decode_head}``.
        fusion: ``{fusion type: keys set on model.fusion}``; ``l1_weight`` is skipped when the
            protocol sets its own λ.
        lr_stages: stage factors for :class:`~fusionbench.hooks.LRStagesHook`
            (``encoder_factors``, ``decoder_factors``), or None to keep the config's schedule.
    """

    name: str
    description: str
    backbone: dict = field(default_factory=dict)
    decode_head: dict = field(default_factory=dict)
    fusion: dict = field(default_factory=dict)
    lr_stages: dict | None = None

    def apply(self, cfg, keep_l1_weight: bool = False):
        """Rewrite ``cfg`` (an mmengine Config, in place) for this mode; return it."""
        model = cfg.model
        if self.backbone and model.get('backbone') is not None:
            model.backbone.update(self.backbone)
        head = model.get('decode_head') or {}
        head.update(self.decode_head.get(head.get('type'), {}))
        fusion = model.get('fusion') or {}
        for key, value in self.fusion.get(fusion.get('type'), {}).items():
            if not (key == 'l1_weight' and keep_l1_weight):
                fusion[key] = value
        if self.lr_stages is not None:
            self._apply_lr_stages(cfg)
        return cfg

    def _apply_lr_stages(self, cfg) -> None:
        loop = cfg.train_cfg
        by_epoch = loop.get('type', 'EpochBasedTrainLoop') == 'EpochBasedTrainLoop'
        total = loop['max_epochs'] if by_epoch else loop['max_iters']
        stages = len(self.lr_stages['encoder_factors'])
        # stage boundaries: equal parts of the schedule (the public code: 3 × 100 of 300 epochs)
        ends = sorted({max(1, round(total * k / stages)) for k in range(1, stages)})
        if len(ends) != stages - 1 or ends[-1] >= total:
            raise ValueError(f"fidelity 'official' needs at least {stages} "
                             f"{'epochs' if by_epoch else 'iterations'} for its {stages} "
                             f'learning-rate stages, the config has {total}')
        cfg.param_scheduler = None
        hooks = [h for h in (cfg.get('custom_hooks') or []) if h.get('type') != 'LRStagesHook']
        cfg.custom_hooks = [*hooks, dict(type='LRStagesHook', ends=tuple(ends),
                                         by_epoch=by_epoch, reset_momentum=True,
                                         **self.lr_stages)]


PAPER = Fidelity(name='paper', description="the paper's text (§3-4): per-modality batch "
                 'statistics, λ 5e-3 once, LRs halved every third of the schedule')
OFFICIAL = Fidelity(
    name='official',
    description='the public code (yikaiw/CEN): frozen BN statistics, RefineNet relu-skip and '
                'align_corners=True, λ 2e-4 once per output head, 3 LR stages with optimiser '
                're-creation',
    backbone=dict(norm_eval=True),
    decode_head={'RefineNetDecoder': dict(residual='relu', align_corners=True)},
    # the §4.1 variants with CEN's ℓ1 (fusionbench.fusion.ablations) follow CEN's λ
    fusion={name: dict(l1_weight=2e-4, l1_repeats='heads')
            for name in ('cen', 'sum_exchange', 'discard_channels')},
    lr_stages=dict(encoder_factors=(1.0, 0.5, 0.2), decoder_factors=(1.0, 0.5, 7 / 30)))

#: The fidelity modes by name.
FIDELITIES = MappingProxyType({f.name: f for f in (PAPER, OFFICIAL)})


def get_fidelity(name: str) -> Fidelity:
    """The mode ``name``; ValueError (one line, naming the config key) for another value."""
    if name not in FIDELITIES:
        raise ValueError(f"config key {FIDELITY_KEY!r} must be one of {sorted(FIDELITIES)}, got "
                         f'{name!r}')
    return FIDELITIES[name]


def apply_fidelity(cfg, keep_l1_weight: bool = False):
    """Rewrite ``cfg`` for its ``fidelity`` key (absent: ``'paper'``, which changes nothing).

    ``keep_l1_weight``: the protocol sets λ itself; the mode does not touch it.
    Raises ValueError for an unknown mode or a schedule too short for the LR stages.
    """
    return get_fidelity(cfg.get(FIDELITY_KEY, 'paper')).apply(cfg, keep_l1_weight)
