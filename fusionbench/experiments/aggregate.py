"""From run records to one table CSV: mean, std and Student-t interval per cell over seeds.

Each finished run writes one JSON record (``schema: 1``; see :data:`REQUIRED_KEYS`). A record
belongs to a row of a table spec when ``record['table'] == spec.name`` and
``record['row'] == row.id``; only ``status == 'ok'`` records enter the statistics.

A *table spec* is duck-typed (the tables module implements it)::

    spec.name              # 'table1'
    spec.rows              # objects with .id, .label, .paper_row (str | None), .note
    spec.metrics           # [(column, head, metric)]; value = record['metrics'][head][metric]
    spec.paper_columns     # {column: column of the paper's CSV}
    spec.constant_columns  # {column: callable(record) -> value}, identical across seeds
    spec.claims            # claims judged on the aggregated table
    spec.column_cells      # optional {column: cell}: the column reads the records of that
                           # cell of the row (Table 2 trains each row in two settings)
    row.column_cells       # optional per-row override of spec.column_cells

:func:`aggregate` returns one row per spec row, in the spec's order, with the stable columns
``row, label, n_seeds, n_failed``, then ``<c>_mean, <c>_std, <c>_ci95_t_low, <c>_ci95_t_high`` for
every metric column ``c`` (plus ``<c>_values``, the per-seed values ordered by seed, and
``<c>_seeds``, their seeds, when ``keep_values=True``), then the constant columns, then
``synthetic``. ``std`` is the sample standard deviation over seeds (ddof = 1): "±" means that
everywhere. ``ci95_t_*`` is the 95 % Student-t interval of the mean (:func:`t_interval`); with
another ``confidence`` the names carry that level (:func:`ci_names`).
"""
from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from fusionbench.analysis.files import atomic_write_text
from fusionbench.analysis.stats import ci_names, summarize

SCHEMA_VERSION = 1
REQUIRED_KEYS = frozenset({'schema', 'table', 'row', 'seed', 'status'})
MAIN_CELL = 'main'


# ----------------------------------------------------------------------------- records
def load_records(runs_dir: str | Path) -> list[dict]:
    """Read every run record (``*.json``, recursively) under ``runs_dir``, in path order.

    In-flight files (``*.tmp``) are skipped silently; unreadable JSON, non-records and records of
    another schema version (anything :func:`~fusionbench.experiments.records.read_record`
    rejects) are skipped with a :class:`UserWarning` naming the file.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f'no run records directory: {runs_dir}')
    records = []
    for path in sorted(p for p in runs_dir.rglob('*.json') if p.is_file()):
        record = _read_record(path)
        if record is not None:
            records.append(record)
    return records


def _read_record(path: Path) -> dict | None:
    # One validation for every reader of records (run, report, CSV): see records.read_record.
    from fusionbench.errors import RecordError
    from fusionbench.experiments.records import read_record
    try:
        return read_record(path)
    except RecordError as err:
        warnings.warn(f'skipping {err} (fix: `run` on its table reruns that cell)', stacklevel=3)
        return None


# ----------------------------------------------------------------------------- aggregation
def records_for(records: Iterable[dict], spec: Any, row_id: str,
                status: str | None = 'ok', cell: str | None = None) -> list[dict]:
    """Records of ``spec``'s row ``row_id`` (with ``status``; None = any), ordered by seed.

    ``cell`` keeps one cell of the row (records without a ``cell`` key are cell ``'main'``).
    When several ``ok`` records share a cell and seed (a re-run), the latest ``finished_at`` wins.
    """
    matched = [r for r in records
               if r.get('table') == spec.name and r.get('row') == row_id
               and (status is None or r.get('status') == status)
               and (cell is None or r.get('cell', MAIN_CELL) == cell)]
    matched.sort(key=lambda r: (_seed_key(r), str(r.get('finished_at') or '')))
    if status != 'ok':
        return matched
    return list({(r.get('cell', MAIN_CELL), _seed_key(r)): r for r in matched}.values())


def column_cell(spec: Any, column: str, row: Any = None) -> str | None:
    """The cell whose records feed ``column`` (None: every cell of the row).

    ``row.column_cells`` (when the row has it) overrides the table's ``column_cells``.
    """
    override = (getattr(row, 'column_cells', None) or {}).get(column)
    return override or (getattr(spec, 'column_cells', None) or {}).get(column)


def _seed_key(record: dict) -> tuple[int, int, str]:
    seed = record.get('seed')
    return (0, seed, '') if isinstance(seed, int) else (1, 0, str(seed))


def metric_value(record: dict, head: str, metric: str) -> float:
    """``record['metrics'][head][metric]`` as a float; NaN when the run did not report it."""
    try:
        value = record['metrics'][head][metric]
    except (KeyError, TypeError):
        return math.nan
    return math.nan if value is None else float(value)


def seed_values(records: Iterable[dict], spec: Any, row_id: str, column: str) -> list[float]:
    """Per-seed values (ordered by seed, NaNs dropped) of metric ``column`` for one row."""
    head, metric = _metric_source(spec, column)
    row = next((r for r in spec.rows if r.id == row_id), None)
    return _values(records_for(records, spec, row_id, cell=column_cell(spec, column, row)), head,
                   metric)


def _values(records: list[dict], head: str, metric: str) -> list[float]:
    values = (metric_value(r, head, metric) for r in records)
    return [v for v in values if not math.isnan(v)]


def _metric_source(spec: Any, column: str) -> tuple[str, str]:
    for name, head, metric in spec.metrics:
        if name == column:
            return head, metric
    raise KeyError(f'{spec.name} declares no metric column {column!r}; '
                   f'declared: {", ".join(name for name, _, _ in spec.metrics)}')


def aggregate(records: Iterable[dict], table_spec: Any, keep_values: bool = False,
              confidence: float = 0.95) -> pd.DataFrame:
    """One row per row of ``table_spec`` (spec order): seeds, failures, statistics, constants.

    ``n_seeds`` counts the distinct seeds with an ``ok`` record; ``n_failed`` the distinct seeds
    whose runs failed and that have no ``ok`` record. Rows without results keep NaN statistics.
    ``keep_values`` adds ``<c>_values`` and ``<c>_seeds`` (the seed of each value, so claims
    can pair rows seed by seed). Raises :class:`ValueError` if the table's records mix protocols.
    """
    records = [r for r in records if r.get('table') == table_spec.name]
    _check_single_protocol(records, table_spec.name)
    rows = [_aggregate_row(records, table_spec, row, keep_values, confidence)
            for row in table_spec.rows]
    return pd.DataFrame(rows, columns=table_columns(table_spec, keep_values, confidence))


def table_columns(table_spec: Any, keep_values: bool = False,
                  confidence: float = 0.95) -> list[str]:
    """The column names :func:`aggregate` returns for ``table_spec``, in order."""
    stats_names = ('mean', 'std', *ci_names(confidence)) + (
        ('values', 'seeds') if keep_values else ())
    metric_columns = [f'{name}_{stat}' for name, _, _ in table_spec.metrics
                      for stat in stats_names]
    return ['row', 'label', 'n_seeds', 'n_failed', *metric_columns,
            *table_spec.constant_columns, 'synthetic']


def _aggregate_row(records: list[dict], spec: Any, row: Any, keep_values: bool,
                   confidence: float) -> dict[str, Any]:
    ok = records_for(records, spec, row.id)
    ok_seeds = {_seed_key(r) for r in ok}
    failed_seeds = {_seed_key(r) for r in records_for(records, spec, row.id, status='failed')}
    out: dict[str, Any] = {'row': row.id, 'label': row.label, 'n_seeds': len(ok_seeds),
                           'n_failed': len(failed_seeds - ok_seeds)}
    for name, head, metric in spec.metrics:
        seeds, values = _seeded_values(_in_cell(ok, column_cell(spec, name, row)), head, metric)
        summary = summarize(values, confidence=confidence)
        out.update({f'{name}_{stat}': value for stat, value in summary.items()})
        if keep_values:
            out[f'{name}_values'] = values
            out[f'{name}_seeds'] = seeds
    for name, getter in spec.constant_columns.items():
        out[name] = _constant(_in_cell(ok, column_cell(spec, name, row)), getter,
                              f'{spec.name}/{row.id}/{name}')
    out['synthetic'] = any(bool(r.get('synthetic')) for r in ok)
    return out


def _seeded_values(records: list[dict], head: str, metric: str) -> tuple[list, list[float]]:
    """``(seeds, values)`` of the records that reported ``head/metric`` (NaNs dropped)."""
    pairs = [(r.get('seed'), metric_value(r, head, metric)) for r in records]
    pairs = [(seed, value) for seed, value in pairs if not math.isnan(value)]
    return [seed for seed, _ in pairs], [value for _, value in pairs]


def _in_cell(records: list[dict], cell: str | None) -> list[dict]:
    return [r for r in records if cell is None or r.get('cell', MAIN_CELL) == cell]


def _constant(records: list[dict], getter: Any, where: str) -> Any:
    values = [getter(r) for r in records]
    if not values:
        return math.nan
    if not all(_same(v, values[0]) for v in values[1:]):
        warnings.warn(f'{where}: constant column differs across seeds ({values}); '
                      'reporting the lowest seed\'s value', stacklevel=4)
    return values[0]


def _same(a: Any, b: Any) -> bool:
    both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    return both_nan or a == b


def _check_single_protocol(records: list[dict], table: str) -> None:
    protocols = sorted({str(r.get('protocol')) for r in records})
    if len(protocols) > 1:
        raise ValueError(f'{table}: records mix protocols {protocols}; '
                         'aggregate one protocol at a time')


# ----------------------------------------------------------------------------- output
def write_table_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` to ``path`` as CSV, atomically (see :func:`atomic_write_text`).

    List cells (the ``*_values`` columns) are written as JSON arrays.
    """
    out = df.copy()
    for column in out.columns:
        if out[column].map(lambda v: isinstance(v, list)).any():
            out[column] = out[column].map(json.dumps)
    return atomic_write_text(path, out.to_csv(index=False, float_format='%.6g'))
