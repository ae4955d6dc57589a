"""Protocols: what a table's configs are run on -- data, model scale, budget.

A table row is a config written for the paper's setting (NYUDv2, RefineNet-ResNet-101, 300
epochs). A protocol turns it into a runnable job (its values here; how they enter a config is
the config's task's, :mod:`fusionbench.tasks`):

- ``paper``: the config as written (real data from local paths, the paper's schedule).
- ``mini``: the embedded default. Procedural RGB-D scenes (:mod:`fusionbench.data.scenes`),
  a ResNet-18 at width 1/4 with a RefineNet decoder at width 1/8, a short iteration budget on
  CPU (or GPU when present). Everything else of the row -- fusion method, norm sharing, ℓ1
  scope, θ, λ -- is kept as the config says.
- ``smoke``: the same at toy scale, for tests (a whole table in about a minute on 2 cores).

Protocol settings are data (:class:`Protocol`); :meth:`Protocol.apply` rewrites a config.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field

from mmengine.config import Config

from fusionbench import registry
from fusionbench.tasks.base import ProtocolAdapter, task_of


@dataclass(frozen=True)
class SyntheticData:
    """Procedural-scene splits of a protocol: train, validation and (optionally) held-out test.

    Each split is generated from its own seed, so the splits share no scene. ``test_scenes`` 0
    means no separate test split (the validation split is also the reported one).
    """

    train_scenes: int
    val_scenes: int
    size: int
    train_seed: int = 1
    val_seed: int = 2
    test_scenes: int = 0
    test_seed: int = 3

    def split(self, name: str) -> tuple[int, int]:
        """``(scenes, generator seed)`` of split ``name`` (train / val / test); the task's
        adapter turns it into its data set (:meth:`~fusionbench.tasks.base.ProtocolAdapter.
        datasets`). Raises ``KeyError`` for another name."""
        return {'train': (self.train_scenes, self.train_seed),
                'val': (self.val_scenes, self.val_seed),
                'test': (self.test_scenes, self.test_seed)}[name]


@dataclass(frozen=True)
class Pretraining:
    """How a protocol pretrains and calibrates (:mod:`fusionbench.experiments.pretrain` does it).

    Attributes:
        config: the row config pretrained (relative to ``configs/``); shared convs and BNs.
        data: its scenes (own generator seeds; the validation split is the protocol's).
        max_iters: pretraining iterations (batch and learning rates: the protocol's).
        calibration_config: the CEN config whose exchange layers are calibrated.
        calibration_batches: training batches averaged for ``E[∂L/∂γ]``.
        l1_travel: how far the ℓ1 term alone moves a γ over the fine-tuning run.
        l1_scale: factor on every calibrated λ_l (1: the median; the λ sweep varies it).
        momentum: the optimiser's momentum (SGD, as every schedule here).
    """

    config: str
    data: SyntheticData
    max_iters: int
    calibration_config: str
    calibration_batches: int = 16
    l1_travel: float = 1.5
    l1_scale: float = 1.0
    momentum: float = 0.9

    def as_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass(frozen=True)
class Protocol:
    """A protocol: data, model scale and budget applied on top of a row's config.

    The fields are values; the config's task's adapter (:mod:`fusionbench.tasks`) decides how
    each enters a config (e.g. segmentation reads ``model`` / ``depth_map`` as backbone and
    decoder scale, and ``encoder_lr`` as the backbone's rate).

    Attributes:
        name: registry name.
        description: one line -- data / backbone / budget (shown in reports).
        synthetic: results are on synthetic data (labelled so everywhere).
        seeds: default number of seeds per cell.
        data: synthetic splits, or None to keep the config's dataset (real data).
        model: dotted overrides of the model's scale, e.g. ``{'backbone.depth': 18}``.
        max_iters / batch_size / encoder_lr / decoder_lr / lr_halvings: the schedule (an
            iteration budget, with the learning rates halved ``lr_halvings`` times at even
            steps, the paper's step halving).
        clip_grad: max gradient norm, or None (the paper clips nothing).
        l1_weight: λ of the fusion's ℓ1 term (a number, or ``{fusion point name: λ}``), or
            None to keep the config's. From-scratch training on a short budget needs a larger
            λ than the paper's ImageNet-initialised 300 epochs for γ's to reach θ at all (see
            :func:`mini` and :data:`MINI_TRANSLATION`).
        depth_map: ``{paper depth: protocol depth}`` applied after ``model`` to the config's
            original ``backbone.depth`` -- keeps rows that differ only in depth apart (Table 3's
            ResNet-101 vs -152 become ResNet-18 vs -34 on the small protocols).
        from_scratch: drop the config's ImageNet weights (``backbone.pretrained``): the small
            protocols' backbones have no ImageNet checkpoint.
        val_points: validations on the validation split during training (evenly spaced, the
            last at the end), recorded as the run's validation curve with its plateau check
            (:mod:`fusionbench.plateau`); 0 validates once, after training.
        pretraining: pretrain (per seed, cached) and calibrate λ per layer before every run
            (:mod:`fusionbench.experiments.pretrain`), or None. The config then carries the
            spec as ``pretraining`` (keys a config sets itself win: a λ sweep's ``l1_scale``).
        tasks: ``{task name: {field: value}}``: the fields that differ for a task's configs
            (e.g. translation's image size, U-Net scale and budget), applied by
            :meth:`~fusionbench.tasks.base.ProtocolAdapter.specialise`; :meth:`for_task` is the
            protocol one task sees.
    """

    name: str
    description: str
    synthetic: bool
    seeds: int
    data: SyntheticData | None = None
    model: dict = field(default_factory=dict)
    max_iters: int | None = None
    batch_size: int | None = None
    encoder_lr: float | None = None
    decoder_lr: float | None = None
    lr_halvings: int = 2
    clip_grad: float | None = None
    l1_weight: float | dict | None = None
    eval_batch_size: int = 8
    depth_map: dict = field(default_factory=dict)
    from_scratch: bool = False
    val_points: int = 0
    pretraining: Pretraining | None = None
    tasks: dict = field(default_factory=dict)

    def for_task(self, task: str) -> Protocol:
        """This protocol as task ``task`` runs it (its :attr:`tasks` entry applied)."""
        from fusionbench.tasks.base import get_task
        return get_task(task).adapter.specialise(self)

    def default_performance(self) -> dict:
        """The speed switches this protocol asks for (resolved per device by
        :func:`~fusionbench.experiments.run.resolve_performance`; recorded in every record).

        The small synthetic protocols train in bf16 autocast over channels-last weights on
        CUDA (their numbers are meant for quick comparisons); real-data protocols (the paper's
        fidelity modes) keep float32 unless asked. CPUs always run float32 NCHW.
        """
        small = self.synthetic
        return {'amp': 'bf16' if small else 'fp32', 'channels_last': small, 'compile': False,
                'deterministic': False}

    def apply(self, cfg: Config) -> Config:
        """A copy of ``cfg`` rewritten for this protocol (the paper protocol changes nothing but
        the task's default evaluator, where the config names none).

        The protocol decides seeds, data splits, scale values and the iteration budget; the
        config's task (:func:`fusionbench.tasks.base.task_of`) decides how they enter the
        config, through its :class:`~fusionbench.tasks.base.ProtocolAdapter`. Raises
        :class:`~fusionbench.errors.ConfigError` when the config's task cannot be told or cannot
        run this protocol.
        """
        cfg = copy.deepcopy(cfg)
        adapter = task_of(cfg).adapter
        # the task's own data, scale and budget, where the protocol gives it some
        return adapter.specialise(self).apply_as_is(cfg, adapter)

    def apply_as_is(self, cfg: Config, adapter: ProtocolAdapter) -> Config:
        """:meth:`apply` with this protocol's fields as they are (``cfg`` edited in place)."""
        adapter.apply_model(self, cfg)
        adapter.apply_evaluator(cfg)
        if self.pretraining is not None:  # materialised at run time (needs the seed's artifact)
            cfg.pretraining = {'protocol': self.name, **self.pretraining.as_dict(),
                               **(cfg.get('pretraining') or {})}
        if self.data is not None:
            self._apply_data(cfg, adapter)
        if self.max_iters is not None:
            self._apply_schedule(cfg, adapter)
        return cfg

    def _apply_data(self, cfg: Config, adapter: ProtocolAdapter) -> None:
        datasets = adapter.datasets(self, cfg)
        cfg.train_dataloader = dict(
            batch_size=self.batch_size, num_workers=0, persistent_workers=False,
            sampler=dict(type='InfiniteSampler', shuffle=True), dataset=datasets['train'])
        cfg.val_dataloader = dict(
            batch_size=self.eval_batch_size, num_workers=0, persistent_workers=False,
            sampler=dict(type='DefaultSampler', shuffle=False), dataset=datasets['val'])
        cfg.test_dataloader = cfg.val_dataloader
        if 'test' in datasets:  # a held-out split for the reported numbers
            cfg.test_dataloader = dict(cfg.val_dataloader, dataset=datasets['test'])
        adapter.apply_data(self, cfg)

    def _apply_schedule(self, cfg: Config, adapter: ProtocolAdapter) -> None:
        adapter.apply_optimizer(self, cfg)
        val_interval = (max(1, self.max_iters // self.val_points) if self.val_points
                        else self.max_iters + 1)
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=self.max_iters,
                             val_interval=val_interval)
        step = max(1, self.max_iters // (self.lr_halvings + 1))
        cfg.param_scheduler = [dict(type='StepLR', step_size=step, gamma=0.5, by_epoch=False)]
        cfg.default_hooks.checkpoint.interval = max(1, self.max_iters // 2)
        cfg.default_hooks.checkpoint.by_epoch = False  # an iteration budget checkpoints by iters
        cfg.default_hooks.logger.interval = max(1, self.max_iters // 4)
        adapter.apply_hooks(self, cfg)


TINY_MODEL = {'backbone.depth': 18, 'backbone.width': 0.25, 'decode_head.width': 0.0625}
#: The small protocols' depths: ResNet-101 (and 50) -> 18 (TINY_MODEL), ResNet-152 -> 34, so
#: Table 3's deeper rows stay deeper (basic blocks: the same widths, so only depth differs).
TINY_DEPTHS = {152: 34}


#: pix2pix's optimiser rate for both networks (Adam, β1 0.5 in the configs).
PIX2PIX_LR = 2e-4


def _translation(description: str, data: SyntheticData, depth: int, ngf: int, ndf: int,
                 d_layers: int, max_iters: int, batch_size: int, val_points: int,
                 seeds: int, l1_weight: dict) -> dict:
    """A small protocol's fields for translation configs (:attr:`Protocol.tasks`): its own
    scenes and size, a U-Net of ``depth`` levels and ``ngf`` base filters, a PatchGAN of
    ``d_layers`` stride-2 layers and ``ndf`` filters, pix2pix's rate for both networks, no
    pretraining (pix2pix trains from scratch), CEN's λ per exchange level ``l1_weight`` (the
    γ's rate then follows, :func:`~fusionbench.tasks.translation.adapter.gamma_lr_mult`) and
    the config's θ (the paper's 1e-2)."""
    return dict(description=description, seeds=seeds, data=data, max_iters=max_iters,
                batch_size=batch_size,
                val_points=val_points, eval_batch_size=32, pretraining=None, l1_weight=l1_weight,
                clip_grad=None, depth_map={}, from_scratch=False, encoder_lr=PIX2PIX_LR,
                decoder_lr=PIX2PIX_LR,
                model={'generator.depth': depth, 'generator.ngf': ngf, 'discriminator.ndf': ndf,
                       'discriminator.num_layers': d_layers})


#: ``mini`` for translation (Tables 4-5), our choice, sized to the budget of the issue (``run
#: table4`` <= ~30 min, ``run table5`` <= ~15 min on a quiet 2-core machine, one single-threaded
#: process per core):
#:
#: - 32×32 scenes rendered as the paper's Taskonomy domains (depth, normal, reshading,
#:   edge_texture -> rgb), 320 training / 64 validation / 128 held-out test scenes (own seeds);
#: - a U-Net of 5 levels (32 -> 1 px) at 1/4 of pix2pix's width (ngf 16; widths 16-32-64-128-
#:   128), ~1 M generator parameters for M = 2; a PatchGAN with 2 stride-2 layers, ndf 16. The
#:   paper's fusion stages map onto the 5 levels by :func:`~fusionbench.tasks.translation.
#:   generator.fusion_layers`: aggregation baselines at early = level 1, middle = level 2, late =
#:   level 5 (the 1×1 bottleneck), all = levels 1-5; CEN exchanges after the normalised levels
#:   2-4 (pix2pix has no norm on the first and last encoder conv);
#: - 300 iterations of batch 8 (~7.5 epochs), Adam 2e-4 (β1 0.5) for both networks, halved
#:   at 1/3 and 2/3 of the run; 3 seeds per cell (5 would not fit the budget);
#: - 4 validations (L1 curve and plateau check), FID / KID / L1 / PSNR / SSIM on the test split.
#:
#: Measured CPU time per cell (one thread, 300 iterations, one process at a time, load average
#: 1-6 from other jobs; ``resource.getrusage``, setup and evaluation included). With 4
#: validations: CEN Depth+Normal 25.7 s, average all 26.6 s, align (MMD) early 43.0 s / late
#: 30.2 s, CEN Depth+Normal+Texture 33.9 s; with 5 (about +1.5 s): concat early 32.4 s,
#: self-attention all 38.3 s, align all 75.6 s, one domain alone 21.9 s, four domains (CEN)
#: 51.5 s. Extrapolated: Table 4 (34 cells × 3 seeds) ≈ 3,400 s of CPU, ≈ 28 min on 2 cores;
#: Table 5 (7 × 3) ≈ 580 s, ≈ 5 min; planning ``run table4`` takes 7 s. One measured CEN Depth+Normal
#: run of 600 iterations: the validation L1 of the ensemble stops falling after ~200 iterations
#: (0.136 at 200, 0.137 at 300, 0.140 at 600), the validation FID (surrogate) keeps falling
#: slowly (1.10 at 200, 0.97 at 300, 0.75 at 600): 300 iterations is at the L1 plateau, not at
#: FID's.
#:
#: CEN's λ and γ rate (the paper's λ 1e-3 with pix2pix's Adam 2e-4 exchanges nothing here: Adam
#: moves a γ by at most ~300 × 2e-4 × 7/12 = 0.035 in 300 iterations, and the measured records
#: had ``gamma_sparsity`` 0). Derived as for segmentation (Theorem 1: λ inside the spread of the
#: layer's per-channel task gradients), not tuned to an outcome:
#:
#: - λ per exchange level = the median over channels of ``|E ∂L/∂γ|`` of the generator's loss
#:   without the ℓ1 term, measured over 20 training batches on a CEN Depth+Normal model after
#:   the 300 iterations (seed 0, nothing exchanged): level 2 2.3e-2 (10-90 % of channels
#:   9.9e-3 … 7.4e-2), level 3 5.1e-3 (9.4e-4 … 1.4e-2), level 4 1.7e-3 (3.0e-4 … 4.2e-3); the
#:   per-batch standard deviation is 3-6× these means (Adam's noise floor). Used for every CEN
#:   translation row (Depth+Normal's values; the 3- and 4-domain rows share the levels);
#: - the γ's of the encoder norms learn at the rate with which Adam alone could move a γ by
#:   1.5 over the run (:func:`~fusionbench.tasks.translation.adapter.gamma_lr_mult`: ×42.9).
#:
#: Measured with both (one run per seed, 300 iterations): exchanged share at the end -- level 2
#: 16 % (seed 0) / 3 % (seed 1), levels 3-4 none: Adam's per-parameter normalisation leaves the
#: ℓ1 term, at a λ near the median gradient, a small drift against the gradient noise, so few
#: γ's travel to θ. For comparison, a uniform λ of 1e-2 at the same rate saturates level 4
#: (100 %), 11 % at level 3, 0 at level 2; 1e-3 exchanges nothing.
TRANSLATION_LAMBDA = {'down2': 2.3e-2, 'down3': 5.1e-3, 'down4': 1.7e-3}
MINI_TRANSLATION = _translation(
    'synthetic procedural scenes rendered as Taskonomy-style domains (320 train / 64 val / 128 '
    'held-out test, 32×32), pix2pix U-Net of 5 levels ×1/4 width (ngf 16) + PatchGAN (2 '
    'layers, ndf 16), 300 iterations of batch 8, Adam 2e-4; FID/KID on the test split',
    SyntheticData(train_scenes=320, val_scenes=64, size=32, test_scenes=128),
    depth=5, ngf=16, ndf=16, d_layers=2, max_iters=300, batch_size=8, val_points=4, seeds=3,
    l1_weight=TRANSLATION_LAMBDA)
#: ``smoke`` for translation: plumbing only.
SMOKE_TRANSLATION = _translation(
    'synthetic procedural scenes (16 train / 8 val / 8 test, 32×32), U-Net of 3 levels ngf 4, '
    '4 iterations of batch 2 (plumbing check, numbers meaningless)',
    SyntheticData(train_scenes=16, val_scenes=8, size=32, test_scenes=8),
    depth=3, ngf=4, ndf=4, d_layers=1, max_iters=4, batch_size=2, val_points=2, seeds=1,
    l1_weight=TRANSLATION_LAMBDA)


@registry.PROTOCOLS.register_module(name='paper')
def paper() -> Protocol:
    """The paper's protocol: the config as written (real data, full backbone and schedule)."""
    return Protocol(name='paper', synthetic=False, seeds=1,
                    description="the paper's protocol: the config's real dataset, backbone "
                                'and schedule')


#: The row pretrained for the small protocols (one network, shared BNs, no ℓ1) and the CEN row
#: whose exchange layers are calibrated.
PRETRAIN_CONFIG = 'table1/shared-bn_refinenet-r101_300e_nyudv2-40.py'
CALIBRATION_CONFIG = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'


@registry.PROTOCOLS.register_module(name='mini')
def mini() -> Protocol:
    """The embedded default: the paper's regime (pretraining, λ from task gradients, fine-tuning).

    The paper's regime (pretrained encoder, λ inside the task-gradient spread, fine-tuning) at a
    size a CPU trains.

    Pretraining (per seed, cached; :mod:`fusionbench.experiments.pretrain`): the shared-BN row
    trained for 1,200 iterations of batch 16 on 2,000 scenes of its own (generator seed 11) --
    the stand-in for ImageNet initialisation. Every row then loads its encoder (and its decoder
    where the architecture matches) and is fine-tuned for 600 iterations of batch 16 on 640
    scenes. λ per exchange layer is the median of the layer's per-channel task gradient
    ``|E ∂L/∂γ|`` measured on the pretrained model (Theorem 1: the data, not a uniform decay,
    decides which channels cross θ); the γ's at the exchange positions learn at the rate with
    which ℓ1 alone would move a γ by 1.5 over the run (the initial |γ| is ≈ 1). Both derived in
    the pretraining module's docstring. Reported numbers come from a held-out test split (160
    scenes, seed 3); the validation split (seed 2) is evaluated 10 times for the validation
    curve and the plateau check. Gradients are clipped at norm 10 (the norm-free RefineNet
    decoder spikes without; decoders of other architectures start from scratch).

    Translation configs (Tables 4-5) run mini with their own data, scale and budget
    (:data:`MINI_TRANSLATION`, in :attr:`Protocol.tasks`): no pretraining, 32×32 scenes, a
    5-level U-Net, 300 iterations, 3 seeds, CEN's λ per level from the task gradients.
    """
    return Protocol(
        name='mini', synthetic=True, seeds=5,
        description='synthetic procedural RGB-D scenes (640 train / 160 val / 160 held-out test, '
                    '64×64), ResNet-18 ×1/4 encoder + RefineNet ×1/16 decoder pretrained per '
                    'seed on 2,000 other scenes (shared BNs), fine-tuned 600 iterations of batch 16; λ per layer '
                    'from the task-gradient scale (Theorem 1); numbers on the test split',
        data=SyntheticData(train_scenes=640, val_scenes=160, size=64, test_scenes=160),
        val_points=10,
        model=TINY_MODEL, depth_map=TINY_DEPTHS, from_scratch=True, max_iters=600, batch_size=16,
        encoder_lr=0.02, decoder_lr=0.01, clip_grad=10.0, tasks={'translation': MINI_TRANSLATION},
        pretraining=Pretraining(
            config=PRETRAIN_CONFIG, calibration_config=CALIBRATION_CONFIG, max_iters=1200,
            data=SyntheticData(train_scenes=2000, val_scenes=160, size=64, train_seed=11)))


@registry.PROTOCOLS.register_module(name='smoke')
def smoke() -> Protocol:
    """A plumbing check at toy scale (a whole table in about a minute on 2 cores)."""
    return Protocol(
        name='smoke', synthetic=True, seeds=1,
        description='synthetic procedural RGB-D scenes (32 train / 16 val / 16 test, 32×32), '
                    'ResNet-18 ×1/8, 12 iterations of batch 4 (plumbing check, numbers '
                    'meaningless)',
        data=SyntheticData(train_scenes=32, val_scenes=16, size=32, test_scenes=16),
        val_points=2,
        model={'backbone.depth': 18, 'backbone.width': 0.125, 'decode_head.width': 0.0625},
        depth_map=TINY_DEPTHS, from_scratch=True, max_iters=12, batch_size=4, encoder_lr=0.02,
        decoder_lr=0.005, tasks={'translation': SMOKE_TRANSLATION})


def get_protocol(name: str) -> Protocol:
    """The registered protocol ``name`` (unknown names fail in one line)."""
    return registry.get(registry.PROTOCOLS, name, kind='protocol')()
