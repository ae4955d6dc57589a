"""The fusion interface: one module per fusion point, built from a config, checked at build time.

A *fusion point* is a place in the multimodal backbone where modalities may exchange
information. There are two positions:

- ``'block'``: inside every residual block of the chosen stages, right after the norm of each
  of the block's 3×3 convolutions (where CEN exchanges channels; two per basic block, one per
  bottleneck). The module receives that norm, so it can read the private γ's. The backbone's
  blocks keep them in ``block.fusions``, ``{norm name: module}``.
- ``'stage'``: after the last block of a stage (where aggregation baselines fuse: early = after
  stage 2, middle = after stage 3, late = after stage 4, all = after stages 1-4).

A fusion module maps the stacked features ``[M*N, C, H, W]`` at its point to either
``[M*N, C, H, W]`` (``keeps_streams = True``: every modality's sub-network keeps propagating, as
in CEN and the "same setting" of Table 2) or ``[N, C, H, W]`` (``keeps_streams = False``: one
stream continues, the "commonly-used" aggregation setting). ``forward`` returns the features and
a dict of extra loss terms (CEN's ℓ1, an alignment loss), so the model never needs a special
case per method. :meth:`FusionModule.fusion_parameters` names the parameters that count as
"params used for fusion" in Table 2 (all of the module's own, by default).

A method registers its module class in :data:`fusionbench.registry.FUSIONS` with a decorator and
carries a :class:`FusionCard` as data.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from fusionbench import registry

FusionOutput = tuple[Tensor, dict[str, Tensor]]
POSITIONS = ('block', 'stage')
#: Fusion config keys that say where the modules go (read by the backbone, not the module):
#: ``stages`` (1..4) and, for block positions, ``after_norms`` (which 3×3 convs' norms, or
#: ``'first'``: the first 3×3 conv's) and ``blocks`` (which blocks of each stage, by index).
PLACEMENT_KEYS = ('stages', 'after_norms', 'blocks')
#: The stage sets of ``'stage'`` positions, by the paper's names (Table 2: early = after stage 2,
#: middle = after stage 3, late = after stage 4, all = after stages 1-4).
STAGE_SETS = {'early': (2,), 'middle': (3,), 'late': (4,), 'all': (1, 2, 3, 4)}
#: Table 2's two settings as module arguments, for methods that can merge or keep the streams:
#: ``common`` merges into one stream, ``same`` keeps every stream (see the module docstring).
MERGE_OR_KEEP = {'common': {'keep_streams': False}, 'same': {'keep_streams': True}}


@dataclass(frozen=True)
class FusionPoint:
    """Where a fusion module sits.

    Attributes:
        name: the point, e.g. ``'layer2.0.bn1'`` (after that norm of block ``layer2.0``) or
            ``'stage2'``.
        position: ``'block'`` or ``'stage'``.
        stage: ResNet stage 1..4.
        channels: ``C`` of the features at the point.
        num_modalities: ``M``.
        norm_sharing: ``'private'`` / ``'shared'`` norms of the backbone around the point.
        norm_kind: ``'bn'`` / ``'in'`` / ``'none'``: the kind of norm the backbone has at the
            point (a method that adds norms of its own uses the same kind, none for ``'none'``;
            the translation U-Net has instance norms, and none on its first and last encoder
            convs).
    """

    name: str
    position: str
    stage: int
    channels: int
    num_modalities: int
    norm_sharing: str = 'private'
    norm_kind: str = 'bn'


@dataclass(frozen=True)
class CardRow:
    """A row a method contributes to a table that lists configurations, not a stage grid
    (e.g. the §4.1 ablations): its id, label, the ``model.fusion`` arguments beyond ``type``
    (placement keys included), further cell overrides, and the paper's row key (None: not in
    the paper)."""

    id: str
    label: str
    fusion: dict = field(default_factory=dict)
    overrides: dict = field(default_factory=dict)
    paper_row: str | None = None


@dataclass(frozen=True)
class FusionCard:
    """A fusion method's model card, as data (shown by ``fusionbench list fusions``).

    The card also declares the method's grid, which the tables read (adding a method to a
    table is its card, nothing else):

    Attributes:
        name: the registry name (one name everywhere: config ``type``, row ids, plots).
        summary, paper: one line on the design and its source.
        position: ``'block'`` or ``'stage'`` (see :data:`POSITIONS`).
        settings: the settings it runs in (``'common'``: separate networks merged into one
            stream; ``'same'``: CEN's setting, every stream kept).
        parameter_free: no parameters of its own.
        extra: design constants worth showing.
        label: the display name (the paper's, e.g. ``'Align (MMD)'``; default ``name``).
        stages: the stage sets of :data:`STAGE_SETS` it supports, in order.
        setting_args: ``{setting: module kwargs}`` that select a setting (e.g.
            :data:`MERGE_OR_KEEP`); a setting not listed adds no argument.
        tables: the tables it enters (opt-in: ablation variants and user methods stay out of
            the paper's tables and claims unless their card names the table).
        paper_rows: ``{table: the paper's row key prefix}`` where the paper has the method
            (e.g. ``{'table2': 'align'}`` for the rows ``align_early`` ...); a method in
            ``tables`` without one is our addition, shown "not in the paper".
        inferred_design: the design is inferred from the paper's parameter counts (the
            parameter table allows 5 % instead of 0.1 M).
        rows: ``{table: (CardRow, ...)}``: the method's rows of tables that list
            configurations rather than a stage grid (the ``ablations`` table).
    """

    name: str
    summary: str
    paper: str
    position: str
    settings: tuple[str, ...] = ('same',)
    parameter_free: bool = False
    extra: dict = field(default_factory=dict)
    label: str = ''
    stages: tuple[str, ...] = ()
    setting_args: dict = field(default_factory=dict)
    tables: tuple[str, ...] = ()
    paper_rows: dict = field(default_factory=dict)
    inferred_design: bool = False
    rows: dict = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The display name: ``label``, else ``name``."""
        return self.label or self.name

    def fusion_cfg(self, stage: str, setting: str) -> dict:
        """The ``model.fusion`` config of this method at ``stage`` in ``setting``.

        Raises ``ValueError`` naming the method when it does not support the stage or setting.
        """
        if stage not in self.stages or setting not in self.settings:
            raise ValueError(f'fusion method {self.name!r} supports stages {list(self.stages)} '
                             f'and settings {list(self.settings)}, not ({stage!r}, {setting!r})')
        return dict(type=self.name, **self.setting_args.get(setting, {}),
                    stages=STAGE_SETS[stage])


class FusionModule(nn.Module):
    """Base class of a fusion method at one :class:`FusionPoint`.

    Subclasses set ``card`` and ``keeps_streams`` and implement :meth:`forward`.
    """

    card: FusionCard
    keeps_streams: bool = True

    def __init__(self, point: FusionPoint):
        super().__init__()
        self.point = point

    @property
    def num_modalities(self) -> int:
        return self.point.num_modalities

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        """``x``: ``[M*N, C, H, W]``; ``norm``: the norm just applied (block position) or None.

        Returns ``([M*N, C, H, W] or [N, C, H, W], {loss_name: scalar})``.
        """
        raise NotImplementedError

    def fusion_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters counted as "used for fusion" (Table 2's last column)."""
        return self.parameters()


@registry.FUSIONS.register_module(name='none')
class NoFusion(FusionModule):
    """Identity: modalities stay apart (Table 1's rows without exchange)."""

    card = FusionCard(name='none', summary='no fusion inside the encoder (identity)', paper='-',
                      position='block', parameter_free=True)

    def forward(self, x: Tensor, norm: nn.Module | None = None) -> FusionOutput:
        return x, {}


def fusion_class(cfg: dict) -> type[FusionModule]:
    """The registered class of a fusion config (unknown names fail in one line).

    The plugin modules of ``$FUSIONBENCH_PLUGINS`` are imported first (a user's methods).
    """
    registry.import_plugins()
    return registry.get(registry.FUSIONS, cfg['type'], kind='fusion', subclass_of=FusionModule)


def fusion_cards(table: str | None = None) -> list[FusionCard]:
    """The cards of every registered fusion method, by registry name, plugins included.

    ``table``: only the methods whose card opts in to that table (``card.tables``).
    """
    registry.import_plugins()
    names = registry.list_names(registry.FUSIONS, subclass_of=FusionModule)
    cards = [registry.FUSIONS.get(name).card for name in names]
    return [card for card in cards if table is None or table in card.tables]


def build_fusion(cfg: dict, point: FusionPoint, norm: nn.Module | None = None) -> FusionModule:
    """Build the fusion module of ``cfg`` at ``point`` and check its interface.

    The check runs the module once on a small random ``[M*2, C, 4, 4]`` batch (in eval mode, no
    gradient) and fails with a message naming the method and the expected shapes when the output
    shape, the modality count or the loss dict are wrong.
    """
    cfg = {k: v for k, v in cfg.items() if k not in PLACEMENT_KEYS}
    module = fusion_class(cfg)(point=point, **{k: v for k, v in cfg.items() if k != 'type'})
    check_fusion_interface(module, point, norm)
    return module


def check_fusion_interface(module: FusionModule, point: FusionPoint,
                           norm: nn.Module | None = None) -> None:
    """Raise ``TypeError`` naming the method when ``module`` breaks the fusion interface."""
    name = type(module).__name__
    m, c, n = point.num_modalities, point.channels, 2
    expected_rows = m * n if module.keeps_streams else n
    expected = (expected_rows, c, 4, 4)
    was_training = module.training
    module.eval()
    device = next((p.device for p in module.parameters()), torch.device('cpu'))
    try:
        with torch.no_grad():
            out = module(torch.randn(m * n, c, 4, 4, device=device), norm)
    except Exception as err:  # noqa: BLE001 - re-raised with the method's name
        raise TypeError(f'fusion method {name} at {point.name} failed on an input of shape '
                        f'[M*N, C, H, W] = {[m * n, c, 4, 4]}: {err}') from err
    finally:
        module.train(was_training)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict)):
        raise TypeError(f'fusion method {name} at {point.name} must return (features, '
                        f'loss_dict), got {type(out).__name__}')
    features = out[0]
    if tuple(features.shape) != expected:
        layout = '[M*N, C, H, W]' if module.keeps_streams else '[N, C, H, W]'
        raise TypeError(
            f'fusion method {name} at {point.name} (M={m}, C={c}, keeps_streams='
            f'{module.keeps_streams}) must return {layout} = {list(expected)} for an input of '
            f'[M*N, C, H, W] = {[m * n, c, 4, 4]}, got {list(features.shape)}')
