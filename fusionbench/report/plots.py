"""Figures for the reports, drawn from aggregated tables (see :mod:`fusionbench.experiments.aggregate`).

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas — pyplot's global state
and interactive backends are never touched, and nothing is ever shown.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fusionbench.analysis.paper import spec_paper_value
from fusionbench.analysis.stats import CI_HIGH, CI_LOW
from fusionbench.report.figures import save_figure

SYNTHETIC_NOTE = 'synthetic data'
DPI = 120
_MISSING = '—'


def plot_heads(df: pd.DataFrame, spec: Any, path: str | Path) -> Path:
    """Grouped bars: each metric column's mean per row with its 95 % t-interval; on real data
    the paper's values as hollow dots (on synthetic data the absolute values are not comparable
    with the paper's: its effects are drawn beside ours by :mod:`fusionbench.report.effects`).

    ``df`` is :func:`~fusionbench.experiments.aggregate.aggregate`'s output for ``spec``.
    Returns the written ``path`` (PNG, parent folders created).
    """
    columns = [name for name, _, _ in spec.metrics]
    _require(df, ['row', 'label', *(f'{c}_{s}' for c in columns for s in ('mean', CI_LOW,
                                                                        CI_HIGH))])
    labels = {name: metric_label(head, metric) for name, head, metric in spec.metrics}
    synthetic = _is_synthetic(df)
    rows_by_id = {row.id: row for row in spec.rows}
    x = np.arange(len(df))
    width = 0.8 / max(len(columns), 1)
    fig, ax = _figure(width=max(6.0, 0.9 * len(df) * max(len(columns), 1) ** 0.5 + 3),
                      height=5.0)
    palette = sns.color_palette('deep', len(columns))
    for i, (column, color) in enumerate(zip(columns, palette)):
        offset = x - 0.4 + width * (i + 0.5)
        mean = df[f'{column}_mean'].to_numpy(dtype=float)
        ax.bar(offset, mean, width, yerr=_ci_errors(df, column), color=color,
               label=labels[column], capsize=3, error_kw={'elinewidth': 1})
        if synthetic:
            continue
        paper = [spec_paper_value(spec, rows_by_id[r], column) if r in rows_by_id else None
                 for r in df['row']]
        paper = np.array([np.nan if v is None else v for v in paper], dtype=float)
        if not np.isnan(paper).all():
            ax.scatter(offset, paper, marker='o', s=40, facecolors='none', edgecolors='black',
                       linewidths=1.2, zorder=3,
                       label='paper (reported)' if not _has_label(ax, 'paper (reported)') else None)
    ax.set_xticks(x, df['label'].astype(str), rotation=30, ha='right')
    metrics = sorted({metric for _, _, metric in spec.metrics})
    ax.set_ylabel(f"{', '.join(metrics)}: mean over seeds")
    ax.set_title(_title(f'{short_title(spec)} (bars: 95 % t-interval of the mean)', df),
                 fontsize='medium')
    ax.legend(fontsize='small', loc='upper left', bbox_to_anchor=(1.01, 1))
    return _save(fig, path)


def short_title(spec: Any, limit: int = 60) -> str:
    """The spec's title for a figure when it fits on one line (``limit`` characters), else its
    name."""
    title = getattr(spec, 'title', None) or ''
    return title if title and len(title) <= limit else spec.name


def metric_label(head: str, metric: str) -> str:
    """A metric column's label for figures: ``('rgb', 'mIoU')`` -> ``'RGB mIoU'`` (heads of up
    to 3 letters are acronyms: RGB, HHA; longer ones stay as named: depth, ensemble)."""
    return f"{head.upper() if len(head) <= 3 else head} {metric}"


def plot_metric_vs_params(df: pd.DataFrame, x_col: str, y_col: str, hue_col: str,
                          style_col: str, path: str | Path) -> Path:
    """Scatter ``y_col`` against ``x_col`` (e.g. mean IoU vs fusion parameters), one marker per row.

    A column name resolves to ``<name>_mean`` when ``df`` holds aggregated statistics for it; the
    y axis then gets CI error bars. Rows with no ``hue_col`` / ``style_col`` value are drawn as
    ``'—'``. Returns the written ``path``.
    """
    x, y = _resolve(df, x_col), _resolve(df, y_col)
    _require(df, [x, y, hue_col, style_col])
    data = df.dropna(subset=[x, y]).copy()
    for column in (hue_col, style_col):
        data[column] = data[column].astype(object).where(data[column].notna(), _MISSING).map(str)
    fig, ax = _figure(width=7.0)
    if y != y_col:
        ax.errorbar(data[x], data[y], yerr=_ci_errors(data, y_col), fmt='none', ecolor='grey',
                    elinewidth=1, capsize=3, zorder=1)
    sns.scatterplot(data=data, x=x, y=y, hue=hue_col, style=style_col, s=80, ax=ax, zorder=2)
    ax.set_xlabel(x_col)
    ax.set_ylabel(y_col + (' (mean, 95 % t-interval)' if y != y_col else ''))
    ax.set_title(_title(f'{y_col} vs {x_col}', df))
    ax.legend(fontsize='small', bbox_to_anchor=(1.02, 1), loc='upper left')
    return _save(fig, path)


def _figure(width: float, height: float = 4.5) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width, height), layout='constrained')
    FigureCanvasAgg(fig)
    with sns.axes_style('whitegrid'):  # applied to this axes only, no global theme
        ax = fig.add_subplot()
    return fig, ax


def _save(fig: Figure, path: str | Path) -> Path:
    return save_figure(fig, path, dpi=DPI)  # the PNG plus its SVG and PDF


def _ci_errors(df: pd.DataFrame, column: str) -> np.ndarray:
    """``[[mean - low], [high - mean]]`` of the 95 % t-interval, 0 where unknown (``yerr``)."""
    mean = df[f'{column}_mean'].to_numpy(dtype=float)
    low = mean - df[f'{column}_{CI_LOW}'].to_numpy(dtype=float)
    high = df[f'{column}_{CI_HIGH}'].to_numpy(dtype=float) - mean
    return np.nan_to_num(np.clip(np.vstack([low, high]), 0, None))


def _resolve(df: pd.DataFrame, column: str) -> str:
    """``column`` itself when present, else its aggregated ``<column>_mean`` when present."""
    if column not in df.columns and f'{column}_mean' in df.columns:
        return f'{column}_mean'
    return column


def _require(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f'missing column(s) {missing}; the table has {list(df.columns)}')


def _has_label(ax: Any, label: str) -> bool:
    return label in ax.get_legend_handles_labels()[1]


def _is_synthetic(df: pd.DataFrame) -> bool:
    return 'synthetic' in df.columns and bool(df['synthetic'].fillna(False).astype(bool).any())


def _title(text: str, df: pd.DataFrame) -> str:
    return f'{text} ({SYNTHETIC_NOTE})' if _is_synthetic(df) else text
