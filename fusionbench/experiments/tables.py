"""The paper's tables as data: rows × cells × seeds, each cell a config plus overrides.

A :class:`TableSpec` lists its rows; a row has one or more *cells* (Table 2 runs each baseline
in two settings), each a config file under ``configs/`` plus dotted overrides. The grid runs
every (row, cell, seed); aggregation reads the metric columns off the records; the report puts
the paper's number (``reported/<table>.csv``, column ``paper_columns[c]``) beside ours.
Tables register as factory functions in :data:`fusionbench.registry.TABLES`.

Table 2's method rows are not listed here: they are generated from the fusion methods'
cards (:class:`~fusionbench.fusion.base.FusionCard`: ``tables``, ``stages``, ``settings``,
``setting_args``, ``paper_rows``), like timm's ``list_models``, so a method enters the table, its
parameter table and its claims by registering a card that opts in -- from ``baselines/`` or
from a user's package named in ``$FUSIONBENCH_PLUGINS``. Each cell is one of two base configs
(``configs/table2/{common,same}_...``) plus the ``model.fusion`` override of the method × stage ×
setting (mmsegmentation's configs-as-diffs).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fusionbench import registry
from fusionbench.fusion.base import STAGE_SETS, FusionCard, fusion_cards

MAIN_CELL = 'main'
#: The paper's Tables 1-3 are semantic segmentation (:mod:`fusionbench.tasks.segmentation`).
SEGMENTATION = 'segmentation'


@dataclass(frozen=True)
class Cell:
    """One trained model: a config file (relative to ``configs/``) and dotted overrides."""

    config: str
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """A table row: its id (the paper's row key where the paper has it) and its cells.

    ``column_cells`` overrides the table's ``column_cells`` for this row, e.g. Table 2's
    uni-modal rows read their "commonly-used" columns from their only cell. ``method`` /
    ``stage``: the fusion method's registry name and its stage set, where the row has them.
    """

    id: str
    label: str
    cells: dict[str, Cell]
    paper_row: str | None = None
    note: str = ''
    column_cells: dict[str, str] = field(default_factory=dict)
    method: str | None = None
    stage: str | None = None


@dataclass(frozen=True)
class Metric:
    """A reported column: ``record['metrics'][head][metric]`` of the row's cell ``cell``.

    ``metric``: a metric name the table's task declares (:class:`~fusionbench.tasks.base.
    MetricInfo`: direction, decimals); None (the default) is the task's primary metric
    (segmentation: mIoU), resolved by the :class:`TableSpec`.
    """

    column: str
    head: str
    metric: str | None = None
    cell: str = MAIN_CELL


@dataclass(frozen=True)
class TableSpec:
    """A table: rows, metric columns, the paper's matching columns, claims.

    ``column_cells``: ``{column: cell}`` -- the column reads that cell's records of each row
    (Table 2 trains each row in two settings); ``plots``: extra figures,
    ``[{'name', 'x_col', 'y_col', 'hue_col', 'style_col'}]`` (see the report's plots);
    ``task``: the registered task (:data:`fusionbench.registry.TASKS`) whose metrics the columns
    report -- it names each metric's direction and decimals. Raises ``KeyError`` (one line) for a
    metric the task does not declare.
    """

    name: str
    title: str
    rows: list[Row]
    metric_specs: list[Metric]
    paper_columns: dict[str, str]
    constant_columns: dict[str, Callable[[dict], Any]] = field(default_factory=dict)
    claims: list = field(default_factory=list)
    column_cells: dict[str, str] = field(default_factory=dict)
    plots: list[dict] = field(default_factory=list)
    task: str = SEGMENTATION

    def __post_init__(self) -> None:
        from dataclasses import replace

        from fusionbench.tasks.base import get_task

        task = get_task(self.task)
        resolved = [replace(m, metric=task.metric(m.metric).name) for m in self.metric_specs]
        object.__setattr__(self, 'metric_specs', resolved)

    def metric_info(self, column: str):
        """The :class:`~fusionbench.tasks.base.MetricInfo` of metric column ``column`` (ours,
        or its paper counterpart in ``paper_columns``); None for a constant column."""
        from fusionbench.tasks.base import get_task

        ours = {paper: column for column, paper in self.paper_columns.items()}
        column = column if any(m.column == column for m in self.metric_specs) \
            else ours.get(column, column)
        for m in self.metric_specs:
            if m.column == column:
                return get_task(self.task).metric(m.metric)
        return None

    def decimals(self, column: str) -> int:
        """Decimals ``column`` is printed with: its metric's, else 1 (parameters in M, 0.1 M
        as the paper)."""
        info = self.metric_info(column)
        return 1 if info is None else info.decimals

    @property
    def metrics(self) -> list[tuple[str, str, str]]:
        """``(column, head, metric)`` triples (the aggregation's duck type)."""
        return [(m.column, m.head, m.metric) for m in self.metric_specs]

    def row(self, row_id: str) -> Row:
        for row in self.rows:
            if row.id == row_id:
                return row
        raise KeyError(f'{self.name} has no row {row_id!r}; rows: {[r.id for r in self.rows]}')

    def cells(self) -> list[tuple[Row, str, Cell]]:
        """Every (row, cell name, cell) of the table, in order."""
        return [(row, name, cell) for row in self.rows for name, cell in row.cells.items()]


@dataclass(frozen=True)
class ParamsColumn:
    """A constant column: ``record['params'][key]`` in millions (0.1 M as the paper).

    ``key`` says which count it shows (``python -m fusionbench params <table>`` reads it).
    """

    key: str

    def __call__(self, record: dict) -> float:
        return round(record['params'][self.key] / 1e6, 1)


def params_m(key: str) -> Callable[[dict], float]:
    """A constant column: ``record['params'][key]`` in millions (see :class:`ParamsColumn`)."""
    return ParamsColumn(key)


def get_table(name: str) -> TableSpec:
    """The registered table ``name`` (unknown names fail in one line)."""
    return registry.get(registry.TABLES, name, kind='table')()


T1 = 'table1/{}_refinenet-r101_300e_nyudv2-40.py'
#: Table 1's configs are three files: ``private-bn`` (the base: shared convolutions, private BNs,
#: no fusion), ``shared-bn`` (also the pretraining config) and ``cen-directed-l1half`` (CEN, also
#: the λ calibration config); the other rows are one override on one of them.
T1_UNSHARED = {'model.backbone.type': 'UnsharedResNet'}  # on private-bn: one encoder per modality
T1_NO_EXCHANGE = {'model.fusion.exchange': 'none'}  # on CEN: half-channel ℓ1 kept, no exchange
T1_L1_ALL = {'model.fusion.exchange': 'all', 'model.fusion.l1': 'all'}  # on CEN
#: Table 1's rows: (row id, label, config name in :data:`T1`, overrides), in the paper's order.
T1_ROWS = (
    ('unshared', 'unshared convs, unshared BNs', 'private-bn', T1_UNSHARED),
    ('shared_bn', 'shared convs, shared BNs', 'shared-bn', {}),
    ('private_bn', 'shared convs, private BNs', 'private-bn', {}),
    ('private_bn_l1_half', 'private BNs + half-channel ℓ1, no exchange', 'cen-directed-l1half',
     T1_NO_EXCHANGE),
    ('cen', 'private BNs + half-channel ℓ1 + exchange (CEN)', 'cen-directed-l1half', {}),
    ('cen_l1_all', 'private BNs + all-channel ℓ1 + exchange', 'cen-directed-l1half', T1_L1_ALL),
)
#: Table 1's control row (not in the paper): CEN with shuffled training labels.
CONTROL_ROW = 'cen_shuffled_labels'
#: The λ sweep's factors on the calibrated per-layer λ (1: the protocol's default).
LAMBDA_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)


@registry.TABLES.register_module(name='table1')
def table1() -> TableSpec:
    """Table 1: the validity of each component of CEN (convs / BNs sharing, ℓ1, exchange)."""
    from fusionbench.analysis.claims import PAPER_CLAIMS

    return TableSpec(
        name='table1',
        title='Table 1: different versions of CEN (mean IoU, %)',
        rows=[
            *[Row(row_id, label, {MAIN_CELL: Cell(T1.format(config), copy.deepcopy(overrides))},
                  paper_row=row_id)
              for row_id, label, config, overrides in T1_ROWS],
            Row(CONTROL_ROW, 'control: CEN trained on shuffled labels (not in the paper)',
                {MAIN_CELL: Cell(T1.format('cen-directed-l1half'),
                                 {'shuffle_train_labels': 1})},
                note="our control of CEN's γ dynamics: the training scenes keep their images "
                     "but carry another scene's labels, so the task gradient has no task signal; "
                     'the crossing order of its γ\'s is compared with the cen row\'s'),
        ],
        metric_specs=[Metric('rgb_miou', 'rgb'), Metric('depth_miou', 'depth'),
                      Metric('ensemble_miou', 'ensemble')],
        paper_columns={'rgb_miou': 'rgb_miou', 'depth_miou': 'depth_miou',
                       'ensemble_miou': 'ensemble_miou'},
        constant_columns={'params_total_m': params_m('total')},
        claims=list(PAPER_CLAIMS.get('table1', [])),
    )


class ConfigValue:
    """A constant column read from the record's resolved config at a dotted ``key``."""

    def __init__(self, key: str, default: Any = None):
        self.key = key
        self.default = default

    def __call__(self, record: dict) -> Any:
        value: Any = record.get('config') or {}
        for part in self.key.split('.'):
            if not isinstance(value, dict) or part not in value:
                return self.default
            value = value[part]
        return value


@registry.TABLES.register_module(name='lambda_sweep')
def lambda_sweep() -> TableSpec:
    """Sensitivity of Table 1's exchange verdict to λ (CEN and no exchange, λ × 1/4 … 4).

    CEN and the same model without exchange
    (private BNs + half-channel ℓ1) with every calibrated λ_l scaled by 1/4 … 4 (the γ learning
    rates stay, so the ℓ1 travel scales too). Not a table of the paper: it shows whether the
    paper's conclusion depends on our choice of λ. Rows at scale 1 train the same configs as
    Table 1's cells (the same run ids: ``run`` adopts Table 1's records for them).
    """
    rows = []
    for scale in LAMBDA_SCALES:
        for row_id, label, overrides in (('cen', 'CEN (exchange)', {}),
                                         ('private_bn_l1_half', 'no exchange (private BNs + ℓ1)',
                                          T1_NO_EXCHANGE)):
            rows.append(Row(f'{row_id}_x{scale:g}', f'{label}, λ × {scale:g}',
                            {MAIN_CELL: Cell(T1.format('cen-directed-l1half'),
                                             {**copy.deepcopy(overrides),
                                              'pretraining': {'l1_scale': scale}})}))
    return TableSpec(
        name='lambda_sweep',
        title='λ sweep: CEN vs no exchange with the calibrated λ scaled (mean IoU, %)',
        rows=rows,
        metric_specs=[Metric('rgb_miou', 'rgb'), Metric('depth_miou', 'depth'),
                      Metric('ensemble_miou', 'ensemble')],
        paper_columns={},
        constant_columns={'l1_scale': ConfigValue('pretraining.l1_scale', 1.0),
                          'exchange': ConfigValue('model.fusion.exchange', 'none')},
        plots=[{'name': 'lambda', 'x_col': 'l1_scale', 'y_col': 'ensemble_miou',
                'hue_col': 'exchange', 'style_col': 'exchange'}])


# ----------------------------------------------------------------------------- Table 3
@dataclass(frozen=True)
class ReportedTableSpec(TableSpec):
    """A table whose report also lists rows of the paper that fusionbench does not run.

    ``paper_table``: the paper CSV the numbers come from (default: ``name``);
    ``reported_rows``: its row keys shown as reported (other methods' numbers, as printed).
    """

    paper_table: str = ''
    reported_rows: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.paper_table:
            object.__setattr__(self, 'paper_table', self.name)


#: Table 3's rows from other papers (``ours`` is False in reported/table3.csv).
TABLE3_LITERATURE = (
    'fcn32s_vgg16', 'refinenet_resnet101_rgb', 'refinenet_resnet152_rgb', 'fusenet_vgg16',
    'acnet_resnet50', 'ssma_resnet50', 'ssma_resnet101', 'cbn_resnet101', '3dgnn_resnet101',
    'scn_resnet152', 'cfn_resnet152', 'rdfnet_resnet101', 'rdfnet_resnet152')

#: The head Table 3 reads: the model's main prediction (CEN's ensemble, or the RGB-only head);
#: :data:`fusionbench.experiments.run.PRIMARY_HEAD` of the records.
PRIMARY = 'primary'

#: Table 3's multi-scale test, a cell override on a single-scale paper config: every head's
#: logits averaged over the input rescaled by 0.75 / 1 / 1.25, each with its mirror image (the
#: paper's "multi-scale strategy [28, 31]"). The paper does not list its scales; these are ours
#: (a common choice).
MULTISCALE_TEST = {'model.test_cfg': dict(mode='whole', scales=(0.75, 1.0, 1.25), flip=True)}
SINGLE, MULTI = 'single', 'multi'
#: A Table 3 row's overrides per test mode (single-scale: the configs' own ``test_cfg``); each
#: cell gets a copy, so a merge into one config cannot reach another.
TABLE3_TEST = {SINGLE: {}, MULTI: MULTISCALE_TEST}

#: Table 3's rows we run: (row id, label, config stem, test mode, paper row, note). ``{s101}`` /
#: ``{s152}`` is the schedule and dataset suffix of the config name; a multi-scale row is its
#: single-scale config with :data:`MULTISCALE_TEST`.
_TABLE3_ROWS = (
    ('cen_refinenet101_ss', 'CEN RefineNet ResNet-101, single-scale',
     'cen_refinenet-r101_{s101}', SINGLE, 'cen_refinenet101_single', ''),
    ('cen_refinenet101_ms', 'CEN RefineNet ResNet-101, multi-scale',
     'cen_refinenet-r101_{s101}', MULTI, 'cen_refinenet101_multi', ''),
    ('cen_refinenet152_ss', 'CEN RefineNet ResNet-152, single-scale',
     'cen_refinenet-r152_{s152}', SINGLE, None, 'not in the paper'),
    ('cen_refinenet152_ms', 'CEN RefineNet ResNet-152, multi-scale',
     'cen_refinenet-r152_{s152}', MULTI, 'cen_refinenet152_multi', ''),
    ('cen_pspnet152_ss', 'CEN PSPNet ResNet-152, single-scale',
     'cen_pspnet-r152_{s152}', SINGLE, None, 'not in the paper'),
    ('cen_pspnet152_ms', 'CEN PSPNet ResNet-152, multi-scale',
     'cen_pspnet-r152_{s152}', MULTI, 'cen_pspnet152_multi', ''),
    ('rgb_refinenet101_ms', 'RGB-only RefineNet ResNet-101, multi-scale',
     'rgb_refinenet-r101_{s101}', MULTI, 'refinenet_resnet101_rgb',
     "paper: the original RefineNet's reported number"),
    ('rgb_refinenet152_ms', 'RGB-only RefineNet ResNet-152, multi-scale',
     'rgb_refinenet-r152_{s152}', MULTI, 'refinenet_resnet152_rgb',
     "paper: the original RefineNet's reported number"),
)

_TABLE3_NOTES = {
    'cen_refinenet101_ms': 'the single-scale row\'s training repeated (the grid trains each row)',
    'cen_refinenet152_ms': 'the single-scale row\'s training repeated',
    'cen_pspnet152_ms': 'the single-scale row\'s training repeated',
}


def _table3(name: str, dataset: str, prefix: str, title: str) -> ReportedTableSpec:
    """Table 3 on one data set (``prefix``: the paper CSV's column prefix, nyu / sun)."""
    suffix = {'nyudv2-40': {'s101': '300e_nyudv2-40', 's152': '450e_nyudv2-40'},
              'sunrgbd-37': {'s101': '60e_sunrgbd-37', 's152': '60e_sunrgbd-37'}}[dataset]
    rows = []
    for row_id, label, stem, test, paper_row, note in _TABLE3_ROWS:
        notes = [n for n in (note, _TABLE3_NOTES.get(row_id, '')) if n]
        cell = Cell(f'paper/{stem.format(**suffix)}.py', copy.deepcopy(TABLE3_TEST[test]))
        rows.append(Row(row_id, label, {MAIN_CELL: cell}, paper_row=paper_row,
                        note='; '.join(notes)))
    columns = [(f'{prefix}_pixel_acc', 'aAcc'), (f'{prefix}_mean_acc', 'mAcc'),
               (f'{prefix}_miou', 'mIoU')]
    return ReportedTableSpec(
        name=name, title=title, rows=rows,
        metric_specs=[Metric(column, PRIMARY, metric) for column, metric in columns],
        paper_columns={column: column for column, _ in columns},
        constant_columns={'params_total_m': params_m('total')},
        claims=_table3_claims(name, f'{prefix}_miou'),
        paper_table='table3', reported_rows=TABLE3_LITERATURE)


def _table3_claims(table: str, miou: str) -> list:
    from fusionbench.analysis.claims import Claim
    return [
        Claim(f'{table}.multiscale_helps', table, 'Multi-scale testing raises the mIoU of '
              'CEN RefineNet-101 over single-scale testing', 'greater', miou,
              ('cen_refinenet101_ms', 'cen_refinenet101_ss')),
        Claim(f'{table}.rgbd_beats_rgb', table, 'CEN on RGB-D beats the RGB-only RefineNet of '
              'the same backbone (ResNet-101)', 'greater', miou,
              ('cen_refinenet101_ms', 'rgb_refinenet101_ms')),
        Claim(f'{table}.deeper_helps', table, 'CEN RefineNet with ResNet-152 beats ResNet-101 '
              '(multi-scale)', 'greater', miou, ('cen_refinenet152_ms', 'cen_refinenet101_ms')),
        Claim(f'{table}.pspnet_best', table, 'CEN PSPNet ResNet-152 is the best of our rows '
              '(multi-scale)', 'greater_all', miou,
              ('cen_pspnet152_ms', 'cen_refinenet152_ms', 'cen_refinenet101_ms',
               'rgb_refinenet152_ms', 'rgb_refinenet101_ms')),
    ]


@registry.TABLES.register_module(name='table3')
def table3() -> TableSpec:
    """Table 3: CEN against the state of the art on NYUDv2 (pixel acc., mean acc., mean IoU)."""
    return _table3('table3', 'nyudv2-40', 'nyu',
                   'Table 3: comparison with the state of the art on NYUDv2 (40 classes, %; '
                   'CEN rows: the α-ensemble head; RGB rows: the RGB head; ResNet-101 / -152 are '
                   'ResNet-18 / -34 on the mini and smoke protocols)')


@registry.TABLES.register_module(name='table3_sunrgbd')
def table3_sunrgbd() -> TableSpec:
    """Table 3's SUN RGB-D half (for the paper protocol: on synthetic data it repeats table3)."""
    return _table3('table3_sunrgbd', 'sunrgbd-37', 'sun',
                   'Table 3: comparison with the state of the art on SUN RGB-D (37 classes, %; '
                   'CEN rows: the α-ensemble head; RGB rows: the RGB head)')


# ----------------------------------------------------------------------------- Table 2
#: Table 2's base config per setting; a row's cell applies its method × stage as overrides.
T2_BASE = 'table2/{}_refinenet-r101_300e_nyudv2-40.py'
T2_COMMON, T2_SAME = 'common', 'same'
T2_SETTINGS = (T2_COMMON, T2_SAME)
T2_STAGES = tuple(STAGE_SETS)
#: The uni-modal rows' overrides on the ``same`` base (depth broadened to 3 channels by
#: repetition, the paper's footnote 3).
T2_UNIMODAL = {
    'rgb': {'model.modalities': ('rgb',)},
    'depth': {'model.modalities': ('depth',),
              'model.data_preprocessor': dict(type='MultiModalDataPreprocessor',
                                              modalities=('depth',), channels=3)},
}


@dataclass(frozen=True)
class RowValue:
    """A constant column read off the table's rows: ``{row id: value}`` (None elsewhere)."""

    values: dict

    def __call__(self, record: dict) -> Any:
        return self.values.get(str(record['row']))


def _table2_fusion_count(record: dict) -> int:
    """Constant column ``fusion_params_count``: the exact count (the plots' x; the 0.1 M steps of
    ``fusion_params_m`` flatten the small protocols' models to 0)."""
    return int(record['params']['fusion'])


def method_rows(card: FusionCard, table: str, settings: tuple[str, ...] = T2_SETTINGS,
                base: str = T2_BASE) -> list[Row]:
    """A method's rows of ``table``: one per stage of its card, one cell per setting.

    Row id ``<card.name>_<stage>``; ``paper_row`` the paper's key (``card.paper_rows[table]``)
    or None (our addition, noted). Each cell is ``base.format(setting)`` with the override
    ``model.fusion = card.fusion_cfg(stage, setting)``.
    """
    paper_key = card.paper_rows.get(table)
    return [Row(f'{card.name}_{stage}', f'{card.display} ({stage})',
                {setting: Cell(base.format(setting),
                               {'model.fusion': card.fusion_cfg(stage, setting)})
                 for setting in settings if setting in card.settings},
                paper_row=f'{paper_key}_{stage}' if paper_key else None,
                note='' if paper_key else f"not in the paper's {_table_title(table)}",
                method=card.name, stage=stage)
            for stage in card.stages]


def _table_title(table: str) -> str:
    """``'table2'`` -> ``'Table 2'`` (the paper's way of naming it)."""
    return f'Table {table[len("table"):]}' if table.startswith('table') else table


def table_cards(table: str) -> tuple[list[FusionCard], list[FusionCard]]:
    """The fusion methods that opt in to ``table``: (the paper's, in the paper's row order;
    our additions, by name)."""
    from fusionbench.analysis.paper import load_paper_table

    cards = fusion_cards(table)
    ours = [c for c in cards if table not in c.paper_rows]
    paper = [c for c in cards if table in c.paper_rows]
    order = list(load_paper_table(table)['row'])

    def first_row(card: FusionCard) -> int:
        prefix = f'{card.paper_rows[table]}_'
        return min((i for i, row in enumerate(order) if str(row).startswith(prefix)),
                   default=len(order))

    return sorted(paper, key=first_row), ours


@registry.TABLES.register_module(name='table2')
def table2() -> TableSpec:
    """Table 2: CEN against concat / align / self-attention (+ averaging) in both settings.

    Each baseline row has two cells: ``common`` (the commonly-used setting: separate networks,
    :mod:`fusionbench.models.separate_streams`) and ``same`` (CEN's setting: shared convs, private
    BNs, every stream kept). The uni-modal rows and CEN have one cell (``same``); the uni-modal
    networks are the same in both settings, so their commonly-used columns read that cell.
    """
    from fusionbench.analysis.claims import table2_claims
    from fusionbench.tasks.base import get_task

    def unimodal(modality: str) -> Row:
        return Row(f'unimodal_{modality}', f'uni-modal {modality}',
                   {T2_SAME: Cell(T2_BASE.format(T2_SAME), T2_UNIMODAL[modality])},
                   paper_row=f'unimodal_{modality}',
                   column_cells={'common_miou': T2_SAME, 'params_common_m': T2_SAME},
                   method='unimodal')

    paper_cards, our_cards = table_cards('table2')
    cen = Row('cen', 'CEN (channel exchanging)', {T2_SAME: Cell(T1.format('cen-directed-l1half'))},
              paper_row='cen', method='cen')
    rows = [unimodal('rgb'), unimodal('depth'),
            *[row for card in paper_cards for row in method_rows(card, 'table2')], cen,
            *[row for card in our_cards for row in method_rows(card, 'table2')]]
    metrics = [Metric('common_miou', PRIMARY, cell=T2_COMMON),
               Metric('rgb_miou', 'rgb', cell=T2_SAME),
               Metric('depth_miou', 'depth', cell=T2_SAME),
               Metric('ensemble_miou', 'ensemble', cell=T2_SAME)]
    params = {'params_common_m': (params_m('total'), T2_COMMON),
              'params_same_m': (params_m('total'), T2_SAME),
              'fusion_params_m': (params_m('fusion'), T2_SAME)}
    plot = dict(x_col='fusion_params_count', hue_col='method', style_col='stage')
    return TableSpec(
        name='table2',
        title='Table 2: fusion baselines in the commonly-used setting (separate networks) and in '
              "CEN's setting (shared convs, private BNs, every stream kept): mean IoU (%) and "
              'parameters (M)',
        rows=rows,
        metric_specs=metrics,
        paper_columns={'common_miou': 'common_miou', 'rgb_miou': 'same_rgb_miou',
                       'depth_miou': 'same_depth_miou', 'ensemble_miou': 'same_ensemble_miou',
                       'params_common_m': 'common_params_m', 'params_same_m': 'same_params_m',
                       'fusion_params_m': 'fusion_params_m'},
        constant_columns={**{name: getter for name, (getter, _) in params.items()},
                          'fusion_params_count': _table2_fusion_count,
                          'method': RowValue({r.id: r.method for r in rows}),
                          'stage': RowValue({r.id: r.stage for r in rows})},
        column_cells={**{m.column: m.cell for m in metrics},
                      **{name: cell for name, (_, cell) in params.items()},
                      'fusion_params_count': T2_SAME},
        claims=table2_claims([r.id for card in paper_cards for r in method_rows(card, 'table2')],
                             our_cards, get_task(SEGMENTATION).metric().higher_is_better),
        plots=[dict(name='miou_vs_fusion_params', y_col='ensemble_miou', **plot),
               dict(name='common_miou_vs_fusion_params', y_col='common_miou', **plot)],
    )


# ----------------------------------------------------------------------------- §4.1 ablations
ABLATIONS = 'ablations'


def ablation_rows() -> list[Row]:
    """The ``ablations`` table's rows: CEN (Table 1's cell), every row of every fusion card that
    opts in to the table (:class:`~fusionbench.fusion.base.CardRow`: Table 1's private-BN config
    plus ``model.fusion`` and the row's other overrides, the configs-as-diffs of Table 2), and
    the concat-fusion ensemble (CEN's cell with :data:`~fusionbench.models.concat_ensemble.
    CONCAT_ENSEMBLE`). Ordered as the paper's ``reported/ablations.csv``; rows not in the
    paper (a plugin's) after them, by id, noted "not in the paper's §4.1".
    """
    from fusionbench.analysis.paper import load_paper_table
    from fusionbench.models.concat_ensemble import CONCAT_ENSEMBLE

    cen = Cell(T1.format('cen-directed-l1half'))
    rows = [Row('cen', 'CEN (channel exchanging)', {MAIN_CELL: cen}, paper_row='cen',
                method='cen'),
            Row('concat_ensemble', 'CEN with a concat-fusion block instead of the ensemble of '
                'experts', {MAIN_CELL: Cell(cen.config, copy.deepcopy(CONCAT_ENSEMBLE))},
                paper_row='concat_ensemble', method='cen')]
    for card in fusion_cards(ABLATIONS):
        for spec in card.rows.get(ABLATIONS, ()):
            overrides = {'model.fusion': dict(type=card.name, **copy.deepcopy(spec.fusion)),
                         **copy.deepcopy(spec.overrides)}
            rows.append(Row(spec.id, spec.label,
                            {MAIN_CELL: Cell(T1.format('private-bn'), overrides)},
                            paper_row=spec.paper_row,
                            note='' if spec.paper_row else "not in the paper's §4.1",
                            method=card.name))
    ids = [row.id for row in rows]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f'ablations: fusion cards declare the row ids {duplicated} twice')
    order = {key: index for index, key in enumerate(load_paper_table(ABLATIONS)['row'])}
    return sorted(rows, key=lambda r: (order.get(r.paper_row, len(order)), r.id))


@registry.TABLES.register_module(name=ABLATIONS)
def ablations() -> TableSpec:
    """The paper's additional ablations (§4.1): CEN against each variant of its design, on the
    same base config, backbone, data and seeds (NYUDv2, RefineNet-101, single-scale in the
    paper; the protocol's otherwise). Columns as Table 1: per-modality and ensemble mean IoU;
    the paper reports the ensemble only."""
    from fusionbench.analysis.claims import ablation_claims
    from fusionbench.tasks.base import get_task

    rows = ablation_rows()
    return TableSpec(
        name=ABLATIONS,
        title='§4.1 additional ablations: CEN against variants of its design (mean IoU, %)',
        rows=rows,
        metric_specs=[Metric('rgb_miou', 'rgb'), Metric('depth_miou', 'depth'),
                      Metric('ensemble_miou', 'ensemble')],
        paper_columns={'ensemble_miou': 'ensemble_miou'},
        constant_columns={'params_total_m': params_m('total'),
                          'method': RowValue({r.id: r.method for r in rows})},
        claims=ablation_claims([r.id for r in rows if r.id != 'cen'],
                               {r.id for r in rows if r.paper_row is None},
                               get_task(SEGMENTATION).metric().higher_is_better))


# ----------------------------------------------------------------------------- Tables 4-5
#: The translation task (:mod:`fusionbench.tasks.translation`): FID / KID ×100, lower is better.
TRANSLATION = 'translation'
T4_BASE = 'table4/cen_pix2pix-unet256_200e_taskonomy-{}.py'
#: Table 4's two translation tasks: (row-id prefix of reported/table4.csv, label, config).
T4_TASKS = (('shade_texture_to_rgb', 'Shade+Texture → RGB', T4_BASE.format('shade-texture')),
            ('depth_normal_to_rgb', 'Depth+Normal → RGB', T4_BASE.format('depth-normal')))
#: Table 5's rows: (row id of reported/table5.csv, label, config).
T5_BASE = 'table5/{}pix2pix-unet256_200e_taskonomy-{}.py'
T5_ROWS = (
    ('depth', 'Depth', T5_BASE.format('', 'depth')),
    ('normal', 'Normal', T5_BASE.format('', 'normal')),
    ('texture', 'Texture', T5_BASE.format('', 'texture')),
    ('shade', 'Shade', T5_BASE.format('', 'shade')),
    ('depth_normal', 'Depth+Normal (CEN)', T4_BASE.format('depth-normal')),
    ('depth_normal_texture', 'Depth+Normal+Texture (CEN)',
     T5_BASE.format('cen_', 'depth-normal-texture')),
    ('depth_normal_texture_shade', 'Depth+Normal+Texture+Shade (CEN)',
     T5_BASE.format('cen_', 'depth-normal-texture-shade')),
)


@dataclass(frozen=True)
class FeatureExtractor:
    """A constant column: which network FID / KID were computed with, from the record's
    ``feature_extractor`` (``'surrogate'`` numbers are not comparable with the paper's Inception
    FID / KID; ``'inception'`` carries the first 12 hex digits of the weights file's SHA-256)."""

    def __call__(self, record: dict) -> str:
        ext = record.get('feature_extractor') or {}
        label = ext.get('label') or 'unknown'
        return f"{label} ({ext['sha256'][:12]})" if ext.get('sha256') else label


def _translation_metrics() -> list[Metric]:
    """Table 4-5 columns: the model's main output (CEN's ensemble, or the only domain's image);
    FID and KID have the paper's columns, L1 / PSNR / SSIM are ours (the synthetic scenes have
    ground-truth RGB)."""
    return [Metric('fid', PRIMARY, 'FID'), Metric('kid_x100', PRIMARY, 'KID'),
            Metric('l1', PRIMARY, 'L1'), Metric('psnr', PRIMARY, 'PSNR'),
            Metric('ssim', PRIMARY, 'SSIM')]


TRANSLATION_TITLE = ('FID and KID ×100 (lower is better) of the main output (CEN: the '
                     'α-ensemble), L1 / PSNR / SSIM against the ground truth; column `extractor`: '
                     "the feature network of FID / KID -- `surrogate` numbers are not comparable "
                     "with the paper's Inception numbers, only their ranking is")


def translation_rows(card: FusionCard, prefix: str, task_label: str, config: str) -> list[Row]:
    """A fusion method's Table 4 rows on one translation task: one per stage of its card.

    Row id ``<prefix>.<card.name>_<stage>``; ``paper_row`` ``<prefix>.<paper key>_<stage>``
    (``card.paper_rows['table4']``) or None (our addition). The cell is ``config`` with
    ``model.generator.fusion`` the method at that stage (``layers``: early / middle / late /
    all, mapped onto the U-Net by :func:`~fusionbench.tasks.translation.generator.
    fusion_layers`), every domain's stream kept (the U-Net decodes each stream).
    """
    paper_key = card.paper_rows.get('table4')
    rows = []
    for stage in card.stages:
        # replaces the config's CEN fusion (not merged into it)
        fusion = dict(_delete_=True, type=card.name, **card.setting_args.get('same', {}),
                      layers=stage)
        rows.append(Row(f'{prefix}.{card.name}_{stage}', f'{task_label}: {card.display} ({stage})',
                        {MAIN_CELL: Cell(config, {'model.generator.fusion': fusion})},
                        paper_row=f'{prefix}.{paper_key}_{stage}' if paper_key else None,
                        note='' if paper_key else "not in the paper's Table 4",
                        method=card.name, stage=stage))
    return rows


@registry.TABLES.register_module(name='table4')
def table4() -> TableSpec:
    """Table 4: CEN against the aggregation baselines at early / middle / late / all layers on
    two translation tasks (Shade+Texture → RGB, Depth+Normal → RGB), FID / KID ×100.

    The baseline rows come from the fusion cards that opt in with ``tables`` including
    ``'table4'`` (the paper's methods first, in its order: concat, average, align,
    self-attention); CEN exchanges at every normalised encoder layer (the config's).
    """
    from fusionbench.analysis.claims import table4_claims
    from fusionbench.analysis.paper import load_paper_table
    from fusionbench.tasks.base import get_task

    cards = fusion_cards('table4')
    order = list(dict.fromkeys(load_paper_table('table4')['method']))
    cards.sort(key=lambda c: (order.index(c.paper_rows['table4'])
                              if c.paper_rows.get('table4') in order else len(order), c.name))
    rows, baselines = [], {}
    for prefix, label, config in T4_TASKS:
        task_rows = [row for card in cards for row in translation_rows(card, prefix, label, config)]
        baselines[prefix] = [row.id for row in task_rows]
        rows += [*task_rows, Row(f'{prefix}.cen', f'{label}: CEN', {MAIN_CELL: Cell(config)},
                                 paper_row=f'{prefix}.cen', method='cen')]
    return TableSpec(
        name='table4', title=f'Table 4: multimodal image translation to RGB. {TRANSLATION_TITLE}',
        rows=rows, metric_specs=_translation_metrics(),
        paper_columns={'fid': 'fid', 'kid_x100': 'kid_x100'},
        constant_columns={'extractor': FeatureExtractor(), 'params_total_m': params_m('total'),
                          'method': RowValue({r.id: r.method for r in rows}),
                          'stage': RowValue({r.id: r.stage for r in rows})},
        claims=table4_claims(baselines, get_task(TRANSLATION).metric('FID').higher_is_better),
        task=TRANSLATION)


@registry.TABLES.register_module(name='table5')
def table5() -> TableSpec:
    """Table 5: RGB from one, two, three and four domains (Depth, Normal, Texture, Shade alone;
    Depth+Normal, +Texture, +Shade with CEN), FID / KID ×100."""
    from fusionbench.analysis.claims import PAPER_CLAIMS

    rows = [Row(row_id, label, {MAIN_CELL: Cell(config)}, paper_row=row_id)
            for row_id, label, config in T5_ROWS]
    return TableSpec(
        name='table5',
        title=f'Table 5: translation to RGB from more and more domains. {TRANSLATION_TITLE}',
        rows=rows, metric_specs=_translation_metrics(),
        paper_columns={'fid': 'fid', 'kid_x100': 'kid_x100'},
        constant_columns={'extractor': FeatureExtractor(), 'params_total_m': params_m('total')},
        claims=list(PAPER_CLAIMS.get('table5', [])), task=TRANSLATION)
