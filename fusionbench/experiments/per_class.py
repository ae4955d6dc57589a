"""A segmentation table's accuracy columns and its per-class CSV, from run records.

Two parts of a table's outputs, written by :func:`fusionbench.experiments.outputs.table_outputs`
(the one writer of a table's files) from the same records as the table CSV:

- **Accuracy columns** (:func:`add_accuracy_columns`): beside each mIoU column ``<base>_miou``
  of the table, ``<base>_pixel_acc`` (mmseg's ``aAcc``) and ``<base>_mean_acc`` (``mAcc``) of
  the same head and cell, with the statistics of every metric column (``_mean``, ``_std``,
  ``_ci95_t_low``, ``_ci95_t_high``, ``_values``, ``_seeds``): the paper's Table 3 columns
  (pixel acc., mean acc., mIoU) for every head of every segmentation table. A column the table
  already declares (Table 3's own) is not repeated.
- **Per-class CSV** ``<table>_per_class.csv`` (:func:`class_frame`, :func:`write_class_csv`):
  long ("tidy") format, one line per (row, cell, head, metric, class) with ``n_seeds``,
  ``mean``, ``std``, the Student-t interval of the mean (:func:`~fusionbench.analysis.stats.
  summarize`, the table CSV's method and column names), the per-seed ``values`` and their
  ``seeds``, and ``synthetic``. It reads the records' per-class keys ``<metric>.<class>``
  (``metrics[head]['IoU.<class>']``, %, :mod:`fusionbench.evaluation.metrics`); a table whose
  records carry none (translation tables, records made before per-class results were kept)
  gets no file.

Source: the columns of the paper's Table 3 (pixel acc., mean acc., mIoU) and mmseg's metric
names (``aAcc``, ``mAcc``, per class ``IoU`` / ``Acc``).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fusionbench.analysis.stats import ci_names, summarize
from fusionbench.experiments.aggregate import (MAIN_CELL, column_cell, metric_value,
                                               records_for, write_table_csv)

#: mmseg's summary accuracies -> the readable stem of their columns (the paper's Table 3:
#: "Pixel Acc.", "Mean Acc."), in the paper's column order.
ACCURACY_COLUMNS = {'aAcc': 'pixel_acc', 'mAcc': 'mean_acc'}
#: The metric whose columns get accuracy columns beside them, and its column suffix.
SOURCE_METRIC, SOURCE_SUFFIX = 'mIoU', '_miou'
#: mmseg's per-class metric names, read as record keys ``'<name>.<class>'`` (records keep
#: ``IoU`` per class; ``Acc`` per class is read where a record has it).
CLASS_METRICS = ('IoU', 'Acc')
#: File name of a table's per-class CSV, beside ``<table>.csv``.
CLASS_CSV = '{table}_per_class.csv'


# ----------------------------------------------------------------------------- accuracy columns
def accuracy_metrics(spec: Any) -> list[tuple[str, str, str, str]]:
    """``(column, head, metric, source column)`` of the accuracy columns of ``spec``: one per
    mIoU column and accuracy of :data:`ACCURACY_COLUMNS`, named ``<base>_<stem>`` (``rgb_miou``
    -> ``rgb_pixel_acc``, ``rgb_mean_acc``). [] for a table without mIoU columns (translation)."""
    declared = {name for name, _, _ in spec.metrics}
    out = []
    for column, head, metric in spec.metrics:
        if metric != SOURCE_METRIC:
            continue
        base = column.removesuffix(SOURCE_SUFFIX)
        for accuracy, stem in ACCURACY_COLUMNS.items():
            name = f'{base}_{stem}'
            if name not in declared:
                out.append((name, head, accuracy, column))
    return out


def accuracy_columns(records: Iterable[dict], spec: Any, keep_values: bool = True,
                     confidence: float = 0.95) -> pd.DataFrame:
    """The accuracy columns of :func:`accuracy_metrics`, one row per spec row (spec order):
    ``<c>_mean, <c>_std, <c>_ci<level>_t_low/high`` (+ ``<c>_values, <c>_seeds`` with
    ``keep_values``) over the ``ok`` records of the source column's cell, as
    :func:`~fusionbench.experiments.aggregate.aggregate` computes a metric column. A seed
    whose record lacks the accuracy is left out (NaN statistics when none has it)."""
    records = [r for r in records if r.get('table') == spec.name]
    stats = ('mean', 'std', *ci_names(confidence)) + (('values', 'seeds') if keep_values else ())
    metrics = accuracy_metrics(spec)
    rows = []
    for row in spec.rows:
        ok = records_for(records, spec, row.id)
        out: dict[str, Any] = {}
        for name, head, metric, source in metrics:
            seeds, values = _seeded(_in_cell(ok, column_cell(spec, source, row)), head, metric)
            out.update({f'{name}_{stat}': v
                        for stat, v in summarize(values, confidence=confidence).items()})
            if keep_values:
                out[f'{name}_values'], out[f'{name}_seeds'] = values, seeds
        rows.append(out)
    return pd.DataFrame(rows, columns=[f'{name}_{stat}' for name, *_ in metrics
                                       for stat in stats])


def add_accuracy_columns(df: pd.DataFrame, records: Iterable[dict], spec: Any,
                         confidence: float = 0.95) -> pd.DataFrame:
    """``df`` (:func:`~fusionbench.experiments.aggregate.aggregate`'s frame of ``spec``) with
    the accuracy columns inserted after its metric columns (before the constant columns and
    ``synthetic``); ``df`` itself when the table has none. Per-seed columns are added when
    ``df`` has them."""
    metrics = accuracy_metrics(spec)
    if not metrics:
        return df
    keep_values = any(f'{name}_values' in df.columns for name, _, _ in spec.metrics)
    extra = accuracy_columns(records, spec, keep_values, confidence)
    prefixes = tuple(f'{name}_' for name, _, _ in spec.metrics)
    last = max(i for i, c in enumerate(df.columns) if c.startswith(prefixes))
    columns = list(df.columns)
    return pd.concat([df[columns[:last + 1]], extra.set_axis(df.index),
                      df[columns[last + 1:]]], axis=1)


# ----------------------------------------------------------------------------- per-class CSV
def class_columns(confidence: float = 0.95) -> list[str]:
    """The columns of the per-class CSV, in order."""
    return ['row', 'label', 'cell', 'head', 'metric', 'class', 'n_seeds', 'mean', 'std',
            *ci_names(confidence), 'values', 'seeds', 'synthetic']


def class_frame(records: Iterable[dict], spec: Any, confidence: float = 0.95) -> pd.DataFrame:
    """Per-class statistics over seeds of ``spec``'s ``ok`` records, long format
    (:func:`class_columns`); empty (columns only) when no record has a per-class key.

    Lines run over the spec's rows (spec order), each row's cells (the row's order), its heads
    (the table's metric heads first, then the others as the records list them), the metrics
    of :data:`CLASS_METRICS`, and the classes in the data set's order (that of the record
    listing the most classes, then any other). Every class of the table is listed for every
    (row, cell, head, metric) that has per-class values; a seed that left a class out (its
    union was empty: neither labelled nor predicted, so its IoU is undefined) does not count
    in ``n_seeds`` and the statistics of that class, which are NaN where no seed has it.
    ``std`` has ddof = 1; the interval is the Student-t interval of the mean.
    """
    records = [r for r in records if r.get('table') == spec.name]
    low, high = ci_names(confidence)
    classes = _class_order(r for r in records if r.get('status') == 'ok')
    spec_heads = [head for _, head, _ in spec.metrics]
    lines = []
    for row in spec.rows:
        ok = records_for(records, spec, row.id)
        for cell in _cells(row, ok):
            chosen = _in_cell(ok, cell)
            heads = dict.fromkeys(spec_heads + [h for r in chosen for h in _metrics(r)])
            for head in heads:
                for metric in CLASS_METRICS:
                    if not any(_class_keys(r, head, metric) for r in chosen):
                        continue
                    for name in classes.get(metric, ()):
                        seeds, values = _seeded(chosen, head, f'{metric}.{name}')
                        summary = summarize(values, confidence=confidence)
                        lines.append({
                            'row': row.id, 'label': row.label, 'cell': cell, 'head': head,
                            'metric': metric, 'class': name, 'n_seeds': len(values),
                            'mean': summary['mean'], 'std': summary['std'],
                            low: summary[low], high: summary[high], 'values': values,
                            'seeds': seeds,
                            'synthetic': any(bool(r.get('synthetic')) for r in chosen)})
    return pd.DataFrame(lines, columns=class_columns(confidence))


def class_csv_path(out_dir: str | Path, table: str) -> Path:
    """Where ``table``'s per-class CSV lives: ``<out_dir>/<table>_per_class.csv``."""
    return Path(out_dir) / CLASS_CSV.format(table=table)


def write_class_csv(records: Iterable[dict], spec: Any, out_dir: str | Path,
                    confidence: float = 0.95) -> Path | None:
    """Write :func:`class_frame` to :func:`class_csv_path` (atomically, list cells as JSON
    arrays, as the table CSV); return the path, or None when the records carry no per-class
    values. Then a per-class CSV left by an earlier write is removed: it came from other
    records than the table CSV beside it, and would contradict it."""
    path = class_csv_path(out_dir, spec.name)
    frame = class_frame(records, spec, confidence)
    if frame.empty:
        path.unlink(missing_ok=True)
        return None
    return write_table_csv(frame, path)


# ----------------------------------------------------------------------------- helpers
def _metrics(record: dict) -> dict:
    metrics = record.get('metrics')
    return metrics if isinstance(metrics, dict) else {}


def _class_keys(record: dict, head: str, metric: str) -> list[str]:
    """The class names of ``record``'s ``<metric>.<class>`` keys of ``head``, in its order."""
    values = _metrics(record).get(head)
    prefix = f'{metric}.'
    return [key[len(prefix):] for key in values or {} if key.startswith(prefix)] \
        if isinstance(values, dict) else []


def _class_order(records: Iterable[dict]) -> dict[str, list[str]]:
    """``{metric: classes}``: the data set's class order, read from the records (the longest
    listing first: a run lists the classes with a non-empty union in the data set's order)."""
    listings: dict[str, list[list[str]]] = {}
    for record in records:
        for head in _metrics(record):
            for metric in CLASS_METRICS:
                names = _class_keys(record, head, metric)
                if names:
                    listings.setdefault(metric, []).append(names)
    return {metric: list(dict.fromkeys(name for names in sorted(found, key=len, reverse=True)
                                       for name in names))
            for metric, found in listings.items()}


def _cells(row: Any, records: Sequence[dict]) -> list[str]:
    """The row's cells that have records: the row's own order, then any other."""
    present = dict.fromkeys(r.get('cell', MAIN_CELL) for r in records)
    declared = [c for c in (getattr(row, 'cells', None) or {}) if c in present]
    return declared + [c for c in present if c not in declared]


def _in_cell(records: Sequence[dict], cell: str | None) -> list[dict]:
    return [r for r in records if cell is None or r.get('cell', MAIN_CELL) == cell]


def _seeded(records: Sequence[dict], head: str, metric: str) -> tuple[list, list[float]]:
    """``(seeds, values)`` of the records that report ``head/metric`` (missing ones left out)."""
    pairs = [(r.get('seed'), metric_value(r, head, metric)) for r in records]
    pairs = [(seed, value) for seed, value in pairs if not math.isnan(value)]
    return [seed for seed, _ in pairs], [value for _, value in pairs]
