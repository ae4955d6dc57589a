"""Robustness to missing and degraded modalities in the report: the curves (mean IoU against
severity, one line per table row) and the report's section, both read from the CSV that
``run robustness`` writes (``results/<protocol>/robustness_<table>.csv``, columns
``table, row, seed, corruption, modality, severity, head, mIoU, ...``)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from fusionbench.report.figures import save_figure
from fusionbench.report.markdown import fmt, markdown_table

#: The head plotted and tabulated: the model's main prediction (the α-ensemble of a
#: two-modality model, the only head of a uni-modal one).
HEAD = 'primary'
#: Conditions with a single severity (a modality removed) are drawn as points in the first
#: panel; the others as curves from the clean point (severity 0).
CLEAN = 'clean'
DPI = 120


def _main_head(df: pd.DataFrame) -> pd.DataFrame:
    head = HEAD if HEAD in set(df['head']) else df['head'].iloc[0]
    return df[df['head'] == head]


def _panels(df: pd.DataFrame) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(point conditions, curve conditions)``: (corruption, modality) pairs, in CSV order,
    with one severity (a removed modality) or several (a curve)."""
    points, curves = [], []
    corrupted = df[df['corruption'] != CLEAN]
    for (corruption, modality), group in corrupted.groupby(['corruption', 'modality'],
                                                           sort=False):
        (points if group['severity'].nunique() == 1 else curves).append((corruption, modality))
    order = list(dict.fromkeys(corrupted['modality']))  # a modality's removals side by side
    return sorted(points, key=lambda p: order.index(p[1])), curves


def plot_robustness(df: pd.DataFrame, path: str | Path, title: str = '') -> Path:
    """Mean IoU (%) of the main head against severity: a first panel with each removed
    modality (points; clean for reference), then one panel per (corruption, modality) curve,
    one line per row (mean over seeds, ±1 sd band when several). Returns ``path`` (PNG)."""
    df = _main_head(df.copy())
    df['modality'] = df['modality'].fillna('')
    points, curves = _panels(df)
    rows = list(dict.fromkeys(df['row']))
    palette = dict(zip(rows, sns.color_palette('deep', len(rows))))
    panels = (1 if points else 0) + len(curves)
    fig = Figure(figsize=(3.6 * max(panels, 1) + 1.8, 3.8), layout='constrained')
    FigureCanvasAgg(fig)
    with sns.axes_style('whitegrid'):
        first = fig.add_subplot(1, max(panels, 1), 1)
        axes = [first, *(fig.add_subplot(1, panels, i + 1, sharey=first)
                         for i in range(1, panels))]  # one y scale: panels compare
    clean = df[df['corruption'] == CLEAN]
    if points:
        _point_panel(axes[0], df, clean, points, rows, palette)
    for ax, (corruption, modality) in zip(axes[1 if points else 0:], curves):
        part = df[(df['corruption'] == corruption) & (df['modality'] == modality)]
        start = clean.assign(corruption=corruption, modality=modality, severity=0.0)
        data = pd.concat([start, part], ignore_index=True)
        sns.lineplot(data=data, x='severity', y='mIoU', hue='row', hue_order=rows,
                     palette=palette, marker='o', errorbar='sd', ax=ax, legend=False)
        unit = str(part['unit'].iloc[0]) if 'unit' in part and len(part) else 'severity'
        ax.set(title=f'{corruption}: {modality}', xlabel=unit, ylabel='mIoU (%)')
    handles = [Line2D([], [], color=palette[r], marker='o', label=r) for r in rows]
    fig.legend(handles=handles, loc='outside right center', title='row', fontsize='small')
    if title:
        synthetic = 'synthetic' in df and bool(df['synthetic'].fillna(False).astype(bool).any())
        fig.suptitle(f'robustness, {title}' + (' (synthetic data)' if synthetic else ''))
    return save_figure(fig, path, dpi=DPI)  # the PNG plus its SVG and PDF


def _point_panel(ax, df, clean, points, rows, palette) -> None:
    labels = [CLEAN, *(f'{m}: {c}' for c, m in points)]
    parts = [clean, *(df[(df['corruption'] == c) & (df['modality'] == m)] for c, m in points)]
    width = 0.7 / max(len(rows), 1)
    for i, row in enumerate(rows):
        values = [part.loc[part['row'] == row, 'mIoU'].astype(float) for part in parts]
        means = [v.mean() if len(v) else np.nan for v in values]
        sds = [v.std(ddof=1) if len(v) > 1 else 0.0 for v in values]
        x = np.arange(len(labels)) - 0.35 + width * (i + 0.5)
        ax.errorbar(x, means, yerr=sds, fmt='o', color=palette[row], markersize=5, capsize=2)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha='right')
    ax.set(title='modality removed', ylabel='mIoU (%)')


def robustness_section(results_dir: str | Path, reports_dir: str | Path) -> list[str]:
    """The report's "Robustness to missing and degraded modalities" section (markdown lines)
    from every ``robustness_<table>.csv`` in ``results_dir`` (a protocol's results folder);
    [] when there is none. Per table: the main head's mean IoU per row under each condition at
    its strongest severity (mean ± sd over seeds), and the curves' figure."""
    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    files = sorted(results_dir.glob('robustness_*.csv'))
    if not files:
        return []
    lines = ['## Robustness to missing and degraded modalities (beyond the paper)', '',
             'Trained cells evaluated on the held-out test split, without retraining, with one '
             'modality removed, with Gaussian noise of rising σ (in units of the modality\'s '
             'own std on the training split) and with depth holes of rising coverage; '
             f'mean IoU (%) of the model\'s main prediction (head `{HEAD}`: the α-ensemble of a '
             'two-modality row), mean ± sd over seeds. Written by `python -m fusionbench run '
             'robustness`.', '']
    for path in files:
        df = pd.read_csv(path)
        if df.empty:
            continue
        lines += _table_lines(df, path, results_dir, reports_dir)
    return lines


def _table_lines(df: pd.DataFrame, path: Path, results_dir: Path, reports_dir: Path) -> list[str]:
    df = _main_head(df)
    df = df.assign(modality=df['modality'].fillna(''))
    table = str(df['table'].iloc[0])
    columns = [(CLEAN, '', 0.0)]
    for (corruption, modality), group in df[df['corruption'] != CLEAN].groupby(
            ['corruption', 'modality'], sort=False):
        columns.append((corruption, modality, float(group['severity'].max())))
    header = ['row', 'seeds', *(_column_label(df, c) for c in columns)]
    body = []
    for row in dict.fromkeys(df['row']):
        part = df[df['row'] == row]
        cells = []
        for corruption, modality, severity in columns:
            values = part[(part['corruption'] == corruption) & (part['modality'] == modality)
                          & np.isclose(part['severity'].astype(float), severity)]['mIoU']
            values = values.astype(float)
            cells.append('—' if values.empty else fmt(values.mean()) + (
                f' ± {fmt(values.std(ddof=1))}' if len(values) > 1 else ''))
        body.append([row, str(part['seed'].nunique()), *cells])
    figure = results_dir / 'plots' / f'robustness_{table}.png'
    lines = [f'### {table}', '', *markdown_table(header, body), '']
    units = '; '.join(f'{c}: {u}' for c, u in df[df['corruption'] != CLEAN].groupby(
        'corruption', sort=False)['unit'].first().items() if df[df['corruption'] == c][
        'severity'].nunique() > 1)
    lines += [f'The strongest severity of each curve is shown (severity: {units}); every '
              f'severity is in `{Path(os.path.relpath(path, reports_dir)).as_posix()}`.', '']
    if figure.is_file():
        lines += [f'![robustness_{table}]({Path(os.path.relpath(figure, reports_dir)).as_posix()})',
                  '']
    return lines


def _column_label(df: pd.DataFrame, column: tuple[str, str, float]) -> str:
    corruption, modality, severity = column
    if corruption == CLEAN:
        return CLEAN
    part = df[(df['corruption'] == corruption) & (df['modality'] == modality)]
    if part['severity'].nunique() == 1:
        return f'{modality} {corruption}'
    return f'{modality} {corruption} {severity:g}'
