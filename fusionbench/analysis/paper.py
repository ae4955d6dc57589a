"""The numbers reported in the channel-exchanging paper, as data.

Wang et al., "Deep Multimodal Fusion by Channel Exchanging", NeurIPS 2020, Tables 1-5, are
transcribed verbatim into ``<repo>/reported/table{1..5}.csv``. Every row carries a
``source`` column saying it is *reported* by the paper (not measured by fusionbench); a blank
cell is a "-" in the paper. Each table has a unique ``row`` key that the table specs refer to
(``row.paper_row``); Table 4 holds two tasks, so its keys are ``<task>.<method>_<stage>`` and
``<task>.cen``.

>>> paper_value('table1', 'cen', 'ensemble_miou')
51.1
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import pandas as pd

from fusionbench.paths import PAPER_DIR  # ``<repo>/reported``, the reference


def paper_tables(paper_dir: str | Path | None = None) -> tuple[str, ...]:
    """The paper tables shipped in ``paper_dir`` (default :data:`PAPER_DIR`): the stems of its
    ``*.csv`` files, sorted -- a new ``tableN.csv`` is a new table, nothing else to edit."""
    folder = Path(paper_dir or PAPER_DIR)
    return tuple(sorted(p.stem for p in folder.glob('*.csv'))) if folder.is_dir() else ()


#: The paper tables of :data:`PAPER_DIR` (``table1`` … ``table5``).
TABLES = paper_tables()

_BOOL_STRINGS = {'True': True, 'False': False}


def load_paper_table(name: str, paper_dir: str | Path | None = None) -> pd.DataFrame:
    """Return the paper's table ``name`` (``'table1'`` … ``'table5'``) as a new DataFrame.

    Numbers are floats (NaN where the paper prints "-"); flag columns (``exchange``, ``ours``,
    ``our_implementation``, ``multi_scale``) use pandas' nullable ``boolean`` dtype (``<NA>``
    where the paper does not say). ``paper_dir`` defaults to :data:`PAPER_DIR`.
    """
    return _cached_table(name, paper_dir).copy()


def paper_value(table: str, row: str, column: str) -> float | None:
    """The paper's number in ``table`` at ``row`` (a row key) and ``column``; None for "-".

    Unknown rows or columns raise :class:`KeyError` naming the valid ones, so a typo in a table
    spec fails loudly instead of silently showing no paper number.
    """
    df = _cached_table(table)
    if column not in df.columns:
        raise KeyError(f'{table} has no column {column!r}; columns: {", ".join(df.columns)}')
    matches = df.loc[df['row'] == row, column]
    if matches.empty:
        raise KeyError(f'{table} has no row {row!r}; rows: {", ".join(df["row"])}')
    value = matches.iloc[0]
    if pd.isna(value):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _cached_table(name: str, paper_dir: str | Path | None = None) -> pd.DataFrame:
    """The shared (cached, never to be mutated) DataFrame of table ``name``."""
    known = paper_tables(paper_dir)
    if known and name not in known:  # no folder at all: _read_table names the missing file
        raise KeyError(f'unknown paper table {name!r}; known: {", ".join(known)} '
                       f'(the CSV files of {Path(paper_dir or PAPER_DIR)})')
    return _read_table(Path(paper_dir or PAPER_DIR) / f'{name}.csv')


@functools.lru_cache(maxsize=None)
def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(
            f'paper table not found: {path} (the reported numbers ship in the repository under '
            'reported/; run from a source checkout)')
    df = pd.read_csv(path, dtype={'row': str}, keep_default_na=False, na_values=[''])
    for column in df.columns:
        if _is_flag_column(df[column]):
            df[column] = df[column].map(_to_flag).astype('boolean')
    if df['row'].duplicated().any():
        raise ValueError(f'{path}: duplicated row keys {sorted(df["row"][df["row"].duplicated()])}')
    return df


def _is_flag_column(series: pd.Series) -> bool:
    values = set(series.dropna().map(str))
    return bool(values) and values <= set(_BOOL_STRINGS)


def _to_flag(value: object) -> object:
    return pd.NA if pd.isna(value) else _BOOL_STRINGS[str(value)]


def spec_paper_value(spec: object, row: object, column: str) -> float | None:
    """The paper's number for ``column`` of a table spec's ``row``; None where it has none.

    None when the row is not in the paper (``row.paper_row is None``) or the column has no paper
    counterpart in ``spec.paper_columns``. The paper table is ``spec.paper_table`` when the spec
    defines it, else ``spec.name``.
    """
    paper_row = getattr(row, 'paper_row', None)
    paper_column = spec.paper_columns.get(column)
    if paper_row is None or paper_column is None:
        return None
    return paper_value(getattr(spec, 'paper_table', spec.name), paper_row, paper_column)


def paper_contrast(spec: object, terms) -> float | None:
    """The paper's value of a contrast ``Σ coef · value`` over ``terms`` (``(row id, column,
    coef)`` triples, as a claim's tests and comparisons carry them), or None when there are no
    terms or one has no paper number (a row or column the paper lacks)."""
    rows = {row.id: row for row in spec.rows}
    total = 0.0
    for row, column, coef in terms:
        value = spec_paper_value(spec, rows[row], column) if row in rows else None
        if value is None:
            return None
        total += coef * value
    return total if terms else None