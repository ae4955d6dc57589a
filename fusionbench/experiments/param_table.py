"""A table's parameter columns, ours beside the paper's, cell by cell (``fusionbench params``).

For every row and every parameter column of a table spec (constant columns that are
:class:`~fusionbench.experiments.tables.ParamsColumn`: "Params in total", "Params used for
fusion"), the row's cell that feeds the column is built for real from its config under the
protocol (the paper protocol: LW-RefineNet-ResNet-101, 40 classes) and counted with
:func:`~fusionbench.evaluation.params.parameter_counts`; the paper's number comes from
``reported/<table>.csv``. Only the random initialisation of convolutions is skipped while
building (it does not change a count and is most of the build time); models are built one at a
time and dropped.

Tolerances (:func:`tolerance_m`): 0.1 M -- the paper rounds to 0.1 M and its uni-modal, CEN and
concat numbers follow from the architecture -- except for the rows whose fusion design is
inferred from the counts themselves (the fusion cards with ``inferred_design``: align,
self-attention), 5 %.

Observations on Table 2 (reported by :func:`print_param_table`): with the concat module at
2·C² (+BN), 11 of 12 concat cells agree with the paper after rounding; the early cells (0.6 M
fusion, 118.8 / 120.1 M) and the all-stage cells (11.2 M, 129.4 M vs 171.7 M) cannot all hold for
any per-stage module, since 171.7 M caps the all-stage fusion at 11.15 M while 0.6 M early needs
≥ 11.17 M.
"""
from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass

from torch import nn

from fusionbench.evaluation.params import parameter_counts
from fusionbench.experiments.aggregate import column_cell
from fusionbench.analysis.paper import spec_paper_value
from fusionbench.experiments.protocols import Protocol, get_protocol
from fusionbench.experiments.config_check import build_model, resolve_config
from fusionbench.experiments.tables import ParamsColumn, TableSpec, get_table
from fusionbench.fusion.base import fusion_cards

ABS_TOLERANCE_M = 0.1
REL_TOLERANCE = 0.05


@dataclass(frozen=True)
class ParamCell:
    """One parameter cell: our count (from the built model) and the paper's (M, or None)."""

    row: str
    label: str
    column: str
    cell: str
    key: str
    ours: int
    paper_m: float | None
    #: the row's fusion method and whether its card says its design is inferred from the
    #: paper's counts (5 % tolerance)
    method: str | None = None
    inferred: bool = False

    @property
    def ours_m(self) -> float:
        return self.ours / 1e6

    @property
    def delta_m(self) -> float | None:
        return None if self.paper_m is None else self.ours_m - self.paper_m

    @property
    def tolerance_m(self) -> float | None:
        return None if self.paper_m is None else tolerance_m(self.paper_m, self.inferred)

    @property
    def ok(self) -> bool | None:
        """Within tolerance of the paper (None where the paper has no number)."""
        if self.paper_m is None:
            return None
        return abs(self.delta_m) <= self.tolerance_m + 1e-9


def tolerance_m(paper_m: float, inferred: bool = False) -> float:
    """Allowed |ours - paper| in M: 5 % for an inferred design (the method's card says
    ``inferred_design``), else 0.1 M."""
    return REL_TOLERANCE * paper_m if inferred else ABS_TOLERANCE_M


@contextlib.contextmanager
def no_random_init() -> Iterator[None]:
    """Skip convolutions' random init while building (the tensors exist, uninitialised)."""
    saved = nn.Conv2d.reset_parameters
    nn.Conv2d.reset_parameters = lambda self: None
    try:
        yield
    finally:
        nn.Conv2d.reset_parameters = saved


def cell_counts(config: str, protocol: Protocol, overrides: dict | None = None) -> dict[str, int]:
    """:func:`parameter_counts` of the model of ``config`` under ``protocol`` (built for real)."""
    cfg = resolve_config(config, protocol, seed=0, overrides=overrides)
    with no_random_init():
        model = build_model(cfg)
    counts = parameter_counts(model)
    del model
    gc.collect()
    return counts


def param_columns(spec: TableSpec) -> dict[str, str]:
    """``{column: count key}`` of the spec's parameter columns."""
    return {name: getter.key for name, getter in spec.constant_columns.items()
            if isinstance(getter, ParamsColumn)}


def param_rows(table: str | TableSpec, protocol: Protocol | str = 'paper',
               rows: list[str] | None = None) -> list[ParamCell]:
    """Every parameter cell of ``table`` (only ``rows`` when given), ours and the paper's."""
    spec = get_table(table) if isinstance(table, str) else table
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    columns = param_columns(spec)
    inferred = {card.name for card in fusion_cards() if card.inferred_design}
    cache: dict[tuple, dict[str, int]] = {}
    out = []
    for row in spec.rows:
        if rows and row.id not in rows:
            continue
        for column, key in columns.items():
            cell = column_cell(spec, column, row) or next(iter(row.cells))
            if cell not in row.cells:
                continue
            spec_cell = row.cells[cell]
            ident = (spec_cell.config, repr(sorted(spec_cell.overrides.items())))
            if ident not in cache:
                cache[ident] = cell_counts(spec_cell.config, protocol, spec_cell.overrides)
            out.append(ParamCell(row.id, row.label, column, cell, key, cache[ident][key],
                                 spec_paper_value(spec, row, column), row.method,
                                 row.method in inferred))
    return out


def format_param_table(cells: list[ParamCell], title: str, judge: bool = True) -> list[str]:
    """The lines :func:`print_param_table` prints (``judge``: mark cells against tolerance)."""
    mark = {True: 'ok', False: 'OUT', None: ''} if judge else {True: '', False: '', None: ''}
    width = max([18, *(len(c.row) for c in cells)])
    lines = [title, f'{"row":{width}s} {"column":16s} {"cell":6s} {"ours (M)":>9s} {"paper":>7s} '
                    f'{"Δ":>7s} {"tol.":>5s}']
    for c in cells:
        paper = f'{c.paper_m:7.1f}' if c.paper_m is not None else f'{"—":>7s}'
        delta = f'{c.delta_m:+7.2f}' if c.delta_m is not None else f'{"":>7s}'
        tol = f'{c.tolerance_m:5.2f}' if judge and c.tolerance_m is not None else f'{"":>5s}'
        lines.append(f'{c.row:{width}s} {c.column:16s} {c.cell:6s} {c.ours_m:9.2f} {paper} {delta} '
                     f'{tol} {mark[c.ok]}'.rstrip())
    if not judge:
        return lines
    compared = [c for c in cells if c.ok is not None]
    out = [c for c in compared if not c.ok]
    lines.append(f'{len(compared)} cells compared with the paper: '
                 + (f'{len(out)} outside tolerance' if out else 'all within tolerance')
                 + f' ({ABS_TOLERANCE_M} M; {REL_TOLERANCE:.0%} for the inferred designs: '
                   f'{", ".join(sorted({c.method for c in cells if c.inferred}))})')
    return lines


def print_param_table(table: str, protocol: Protocol | str = 'paper') -> int:
    """Print ``table``'s parameter cells, ours beside the paper's.

    Under the paper protocol each cell is judged against :func:`tolerance_m` and the return
    value is 1 if any is outside it; other protocols build smaller models, so nothing is judged
    (returns 0).
    """
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    cells = param_rows(table, protocol)
    judge = protocol.name == 'paper'
    title = f'{table}: parameters, ours (built, {protocol.name} protocol) beside the paper\'s'
    if not judge:
        title += ' (not judged: the paper counts LW-RefineNet-ResNet-101; use --protocol paper)'
    for line in format_param_table(cells, title, judge):
        print(line)
    return 0 if not judge or all(c.ok is not False for c in cells) else 1
