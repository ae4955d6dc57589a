"""The paper's tables as data: rows × cells × seeds, each cell a config plus overrides.

A :class:`TableSpec` lists its rows; a row has one or more *cells* (Table 2 runs each baseline
in two settings), each a config file under ``configs/`` plus dotted overrides. The grid runs
every (row, cell, seed); aggregation reads the metric columns off the records; the report puts
the paper's number (``results/paper/<table>.csv``, column ``paper_columns[c]``) beside ours.
Tables register as factory functions in :data:`fusionbench.registry.TABLES`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fusionbench import registry

MAIN_CELL = 'main'


@dataclass(frozen=True)
class Cell:
    """One trained model: a config file (relative to ``configs/``) and dotted overrides."""

    config: str
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """A table row: its id (the paper's row key where the paper has it) and its cells."""

    id: str
    label: str
    cells: dict[str, Cell]
    paper_row: str | None = None
    note: str = ''


@dataclass(frozen=True)
class Metric:
    """A reported column: ``record['metrics'][head][metric]`` of the row's cell ``cell``."""

    column: str
    head: str
    metric: str = 'mIoU'
    cell: str = MAIN_CELL


@dataclass(frozen=True)
class TableSpec:
    """A table: rows, metric columns, the paper's matching columns, claims."""

    name: str
    title: str
    rows: list[Row]
    metric_specs: list[Metric]
    paper_columns: dict[str, str]
    constant_columns: dict[str, Callable[[dict], Any]] = field(default_factory=dict)
    claims: list = field(default_factory=list)

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


def params_m(key: str) -> Callable[[dict], float]:
    """A constant column: ``record['params'][key]`` in millions (0.1 M as the paper)."""
    return lambda record: round(record['params'][key] / 1e6, 1)


def get_table(name: str) -> TableSpec:
    """The registered table ``name`` (unknown names fail in one line)."""
    return registry.get(registry.TABLES, name, kind='table')()


T1 = 'table1/{}_refinenet-r101_300e_nyudv2-40.py'


@registry.TABLES.register_module(name='table1')
def table1() -> TableSpec:
    """Table 1: the validity of each component of CEN (convs / BNs sharing, ℓ1, exchange)."""
    from fusionbench.experiments.claims import PAPER_CLAIMS

    def row(row_id: str, label: str, config: str) -> Row:
        return Row(row_id, label, {MAIN_CELL: Cell(T1.format(config))}, paper_row=row_id)

    return TableSpec(
        name='table1',
        title='Table 1: different versions of CEN (mean IoU, %)',
        rows=[
            row('unshared', 'unshared convs, unshared BNs', 'unshared-conv-bn'),
            row('shared_bn', 'shared convs, shared BNs', 'shared-bn'),
            row('private_bn', 'shared convs, private BNs', 'private-bn'),
            row('private_bn_l1_half', 'private BNs + half-channel ℓ1, no exchange',
                'private-bn-l1half'),
            row('cen', 'private BNs + half-channel ℓ1 + exchange (CEN)', 'cen-directed-l1half'),
            row('cen_l1_all', 'private BNs + all-channel ℓ1 + exchange', 'cen-all-l1all'),
        ],
        metric_specs=[Metric('rgb_miou', 'rgb'), Metric('depth_miou', 'depth'),
                      Metric('ensemble_miou', 'ensemble')],
        paper_columns={'rgb_miou': 'rgb_miou', 'depth_miou': 'depth_miou',
                       'ensemble_miou': 'ensemble_miou'},
        constant_columns={'params_total_m': params_m('total')},
        claims=list(PAPER_CLAIMS.get('table1', [])),
    )
