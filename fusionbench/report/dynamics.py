"""CEN's γ dynamics in the report: figures and the markdown section, from run records.

Every CEN run record keeps ``gamma_dynamics`` (:mod:`fusionbench.fusion.gamma_dynamics`: the
exchanged share of each exchange layer over training, each penalised γ's first crossing of θ,
the final |γ| histograms) and, on protocols that pretrain, the calibration's per-channel task
gradients (``pretraining.gradient``). From them this module draws, per protocol:

- ``plots/table1_gamma_share_<row>.png``: each exchange layer's share of penalised γ's under θ
  over training (mean over seeds, band: min–max over seeds), for the ``cen`` row and the
  shuffled-label control row;
- ``plots/table1_gamma_hist_<row>.png``: the final |γ| histograms, penalised vs other γ's, per
  stage (counts summed over the stage's layers and the seeds; the appendix's figure);
- ``plots/table1_crossing_order.png``: per layer, Spearman's ρ between crossing time and the
  channel's task-gradient magnitude (Theorem 1: positive when the task decides which channels
  are exchanged), ``cen`` vs control, mean over seeds with 95 % t-intervals;
- ``plots/lambda_sweep_exchange.png``: the λ sweep -- ensemble mIoU against the λ scale (log
  x) with and without exchange, and CEN's final exchanged share per stage against the scale;

and the report's section "CEN's γ dynamics" (:func:`dynamics_section`): the lockstep check of
every run, the final shares per stage, the crossing-order comparison with its verdict, the
validation-curve plateau flags, and the λ sweep. Rows are compared by per-seed differences
(seed k of one row against seed k of the other, common random numbers) with the Student-t
interval of their mean (:func:`fusionbench.analysis.stats.t_interval`). Each figure is drawn
only when the records it needs exist; the section says which records are missing instead.
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from fusionbench.analysis.stats import t_interval
from fusionbench.fusion.gamma_dynamics import HIST_BINS, comebacks, crossing_orders
from fusionbench.report.markdown import markdown_table
from fusionbench.report.plots import _figure, _save

TABLE1 = 'table1'
SWEEP = 'lambda_sweep'
CEN_ROW = 'cen'
#: Table 1's shuffled-label control row (:data:`fusionbench.experiments.tables.CONTROL_ROW`;
#: spelled out because the report layer does not import the experiment layer; a test checks
#: that the two agree).
CONTROL_ROW = 'cen_shuffled_labels'
#: The λ sweep's row ids: ``<base row>_x<scale>`` (see :func:`fusionbench.experiments.tables.
#: lambda_sweep`); the exchange row is ``cen``, the no-exchange row ``private_bn_l1_half``.
SWEEP_ROW = re.compile(r'^(?P<base>cen|private_bn_l1_half)_x(?P<scale>\d+(?:\.\d+)?)$')
SWEEP_EXCHANGE, SWEEP_NONE = 'cen', 'private_bn_l1_half'
MISSING = '—'
YES, NO, UNDECIDED = 'yes', 'no', 'undecided'


# ----------------------------------------------------------------------------- records
def row_records(records: Iterable[dict], table: str, row: str) -> list[dict]:
    """The finished (``status`` ok) main-cell records of ``table``'s ``row``, one per seed (the
    latest ``finished_at`` of a re-run), ordered by seed."""
    chosen: dict = {}
    for record in sorted((r for r in records if r.get('table') == table
                          and r.get('row') == row and r.get('status') == 'ok'
                          and r.get('cell', 'main') == 'main'),
                         key=lambda r: str(r.get('finished_at') or '')):
        chosen[record.get('seed')] = record
    return [chosen[s] for s in sorted(chosen, key=_seed_order)]


def _seed_order(seed) -> tuple[int, int, str]:
    """Integer seeds first, in order; any other seed after them, by its text."""
    return (0, seed, '') if isinstance(seed, int) else (1, 0, str(seed))


def with_dynamics(records: Iterable[dict]) -> list[dict]:
    """The records that carry a ``gamma_dynamics`` with layers, each layer with one share per
    sampled iteration (a record that does not is treated as one without dynamics)."""
    def usable(dynamics: dict) -> bool:
        layers = dynamics.get('layers') or {}
        count = len(dynamics.get('iterations') or [])
        return bool(layers) and all(len(layer.get('share') or []) == count
                                    and 'first_crossing' in layer for layer in layers.values())
    return [r for r in records if usable(r.get('gamma_dynamics') or {})]


def stage_of(point: str) -> str:
    """The backbone stage of an exchange point: ``'layer2.1.bn1'`` → ``'layer2'``."""
    return point.split('.')[0]


def stages(layers: Iterable[str]) -> list[str]:
    """The distinct stages of ``layers``, in first-seen (forward) order."""
    return list(dict.fromkeys(stage_of(name) for name in layers))


def final_shares(record: dict) -> dict[str, float]:
    """``{layer: share of penalised γ's under θ at the end of training}`` (NaN: no sample)."""
    layers = (record.get('gamma_dynamics') or {}).get('layers') or {}
    return {name: float(layer['share'][-1]) if layer.get('share') else math.nan
            for name, layer in layers.items()}


def stage_means(per_layer: Mapping[str, float]) -> dict[str, float]:
    """``{stage: mean over the stage's layers}`` (NaNs ignored; NaN when all are)."""
    out = {}
    for stage in stages(per_layer):
        values = [v for k, v in per_layer.items() if stage_of(k) == stage and v == v]
        out[stage] = float(np.mean(values)) if values else math.nan
    return out


def overall_mean(per_layer: Mapping[str, float]) -> float:
    """The mean over every layer (NaNs ignored; NaN when all are)."""
    values = [v for v in per_layer.values() if v == v]
    return float(np.mean(values)) if values else math.nan


def share_history(records: Sequence[dict]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(iterations [T], {layer: shares [S, T]})`` over the ``S`` records with dynamics, at the
    iterations every one of them sampled (seeds of one protocol sample the same ones)."""
    records = with_dynamics(records)
    if not records:
        return np.zeros(0, dtype=int), {}
    common = set(records[0]['gamma_dynamics']['iterations'])
    for record in records[1:]:
        common &= set(record['gamma_dynamics']['iterations'])
    iterations = np.array(sorted(common), dtype=int)
    layers: dict[str, list[list[float]]] = {}
    for record in records:
        dynamics = record['gamma_dynamics']
        index = {it: i for i, it in enumerate(dynamics['iterations'])}
        for name, layer in dynamics['layers'].items():
            layers.setdefault(name, []).append(
                [float(layer['share'][index[it]]) for it in iterations])
    return iterations, {k: np.array(v, dtype=float) for k, v in layers.items()
                        if len(v) == len(records)}


def merged_histograms(records: Sequence[dict], bins: int = HIST_BINS) -> dict[str, dict]:
    """``{stage: {'edges' [bins+1], 'penalised' [bins], 'other' [bins]}}``: the final |γ|
    histograms of a stage's layers summed over the layers and the records.

    Each layer's histogram has its own edges (0 to its largest |γ|); counts are moved to shared
    edges (0 to the largest edge of the stage) at their bin centres -- exact when the edges
    agree, else off by at most one source bin width (our choice: records keep counts, not γ's).
    """
    by_stage: dict[str, list[dict]] = {}
    for record in with_dynamics(records):
        for name, layer in record['gamma_dynamics']['layers'].items():
            hist = layer.get('hist') or {}
            if hist.get('edges'):
                by_stage.setdefault(stage_of(name), []).append(hist)
    out = {}
    for stage, hists in by_stage.items():
        top = max(float(h['edges'][-1]) for h in hists) or 1.0
        edges = np.linspace(0.0, top, bins + 1)
        merged = {'edges': edges, 'penalised': np.zeros(bins), 'other': np.zeros(bins)}
        for hist in hists:
            source = np.asarray(hist['edges'], dtype=float)
            centres = np.clip((source[:-1] + source[1:]) / 2, 0.0, top)
            for kind in ('penalised', 'other'):
                counts = np.asarray(hist.get(kind) or np.zeros(centres.size), dtype=float)
                if counts.size == centres.size:
                    merged[kind] += np.histogram(centres, edges, weights=counts)[0]
        out[stage] = merged
    return out


def crossing_rhos(records: Sequence[dict]) -> dict:
    """``{seed: {layer: ρ}}`` of :func:`~fusionbench.fusion.gamma_dynamics.crossing_orders` for
    the records that have both the dynamics and the calibration's gradients."""
    out = {}
    for record in with_dynamics(records):
        rhos = crossing_orders(record)
        if rhos:
            out[record.get('seed')] = rhos
    return out


# ----------------------------------------------------------------------------- statistics
@dataclass(frozen=True)
class Paired:
    """Per-seed differences ``a[seed] − b[seed]`` over the seeds both have (finite values) and
    the Student-t interval of their mean (NaN below 2 seeds)."""

    seeds: tuple
    differences: tuple[float, ...]
    mean: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        """``yes`` (interval above 0), ``no`` (below), else ``undecided``."""
        return decide(self.low, self.high)


def paired(a: Mapping, b: Mapping, confidence: float = 0.95) -> Paired:
    """:class:`Paired` differences of two ``{seed: value}`` maps, paired by seed."""
    seeds = tuple(s for s in a if s in b and _finite(a[s]) and _finite(b[s]))
    diffs = tuple(float(a[s]) - float(b[s]) for s in seeds)
    mean = float(np.mean(diffs)) if diffs else math.nan
    low, high = t_interval(diffs, confidence)
    return Paired(seeds, diffs, mean, low, high)


def decide(low: float, high: float) -> str:
    """``yes`` when an interval lies above 0, ``no`` when below, else ``undecided``."""
    if _finite(low) and low > 0:
        return YES
    if _finite(high) and high < 0:
        return NO
    return UNDECIDED


def mean_sd(values: Iterable[float], decimals: int = 2) -> str:
    """``mean ± sd`` over seeds (sample sd, ddof 1; the mean alone for one value; — for none)."""
    x = np.asarray([v for v in values if _finite(v)], dtype=float)
    if not x.size:
        return MISSING
    if x.size == 1:
        return f'{x[0]:.{decimals}f}'
    return f'{x.mean():.{decimals}f} ± {x.std(ddof=1):.{decimals}f}'


def interval_text(p: Paired, decimals: int = 2) -> str:
    """``+m [low, high] (n seeds)``; the mean alone below 2 seeds; — for none."""
    if not p.seeds:
        return MISSING
    if not _finite(p.low):
        return f'{p.mean:+.{decimals}f} (1 seed, no interval)'
    return (f'{p.mean:+.{decimals}f} [{p.low:+.{decimals}f}, {p.high:+.{decimals}f}] '
            f'({len(p.seeds)} seeds)')


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ----------------------------------------------------------------------------- figures
def _panels(n: int, width: float, height: float = 4.5) -> tuple[MplFigure, list]:
    """A figure with ``n`` side-by-side axes in seaborn's whitegrid style (this figure only)."""
    fig = MplFigure(figsize=(width, height), layout='constrained')
    FigureCanvasAgg(fig)
    with sns.axes_style('whitegrid'):
        axes = fig.subplots(1, max(n, 1), squeeze=False)[0]
    return fig, list(axes)


def _log_scale_axis(ax, scales: Sequence[float]) -> None:
    """A log-2 x axis ticked at the λ scales themselves (0.25, 0.5, 1, ...)."""
    ax.set_xscale('log', base=2)
    if scales:
        ax.set_xticks(list(scales), [f'{s:g}' for s in scales])
    ax.set_xlabel('λ scale (× the calibrated per-layer λ)')


def _level(confidence: float) -> str:
    """``'95 %'`` for 0.95."""
    return f'{confidence * 100:.10g} %'


def plot_share_history(records: Sequence[dict], title: str, path: str | Path) -> Path:
    """Each exchange layer's exchanged share over training: mean over seeds (line) and min–max
    over seeds (band). ``records``: one row's records with ``gamma_dynamics``."""
    iterations, layers = share_history(records)
    fig, ax = _figure(width=8.0)
    colors = sns.color_palette('viridis', len(layers))
    for (name, shares), color in zip(layers.items(), colors):
        ax.plot(iterations, shares.mean(axis=0), color=color, label=name, linewidth=1.4)
        if shares.shape[0] > 1:
            ax.fill_between(iterations, shares.min(axis=0), shares.max(axis=0), color=color,
                            alpha=0.15, linewidth=0)
    ax.set_xlabel('training iteration')
    ax.set_ylabel("share of penalised γ's with |γ| < θ")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f'{title}: exchanged share per layer (mean over {len(with_dynamics(records))} '
                 'seeds, band: min–max)', fontsize='medium')
    ax.legend(fontsize='x-small', ncols=2, bbox_to_anchor=(1.02, 1), loc='upper left')
    return _save(fig, path)


def threshold(records: Sequence[dict]) -> float | None:
    """The exchange threshold θ of the records' CEN config (``config.model.fusion.threshold``;
    None when absent or when the records disagree)."""
    values = {(((r.get('config') or {}).get('model') or {}).get('fusion') or {}).get('threshold')
              for r in records}
    value = values.pop() if len(values) == 1 else None
    return float(value) if _finite(value) else None


def plot_histograms(records: Sequence[dict], title: str, path: str | Path) -> Path:
    """Final |γ| histograms per stage, penalised vs other γ's (counts summed over the stage's
    layers and the seeds; :func:`merged_histograms`), with θ as a dashed line where known."""
    merged = merged_histograms(records)
    theta = threshold(with_dynamics(records))
    fig, axes = _panels(len(merged), width=3.2 * max(len(merged), 1) + 1, height=3.6)
    palette = sns.color_palette('deep', 2)
    for ax, (stage, hist) in zip(axes, merged.items()):
        edges = hist['edges']
        for kind, color in zip(('penalised', 'other'), palette):
            ax.stairs(hist[kind], edges, fill=True, alpha=0.55, color=color,
                      label=f"{kind} γ's")
        if theta is not None:
            ax.axvline(theta, color='black', linestyle='--', linewidth=1, label=f'θ = {theta:g}')
        ax.set_title(stage, fontsize='medium')
        ax.set_xlabel('|γ| at the end of training')
    axes[0].set_ylabel("γ's (counts summed over layers and seeds)")
    axes[0].legend(fontsize='small')
    fig.suptitle(f'{title}: final |γ| histograms ({len(with_dynamics(records))} seeds)',
                 fontsize='medium')
    return _save(fig, path)


def plot_crossing_order(groups: Mapping[str, Sequence[dict]], path: str | Path,
                        confidence: float = 0.95) -> Path:
    """Per layer, Spearman's ρ(crossing time, task-gradient magnitude) for each labelled group
    of records: mean over seeds with the Student-t interval at ``confidence``."""
    fig, ax = _figure(width=9.0)
    series = {label: crossing_rhos(records) for label, records in groups.items()}
    layers = list(dict.fromkeys(k for rhos in series.values() for per in rhos.values()
                                for k in per))
    x = np.arange(len(layers))
    palette = sns.color_palette('deep', len(series))
    for i, ((label, rhos), color) in enumerate(zip(series.items(), palette)):
        means, errors = [], [[], []]
        for layer in layers:
            values = [per.get(layer, math.nan) for per in rhos.values()]
            values = [v for v in values if _finite(v)]
            mean = float(np.mean(values)) if values else math.nan
            low, high = t_interval(values, confidence)
            means.append(mean)
            errors[0].append(mean - low if _finite(low) else 0.0)
            errors[1].append(high - mean if _finite(high) else 0.0)
        offset = (i - (len(series) - 1) / 2) * 0.25
        ax.errorbar(x + offset, means, yerr=np.array(errors), fmt='o', color=color, capsize=3,
                    label=f'{label} ({len(rhos)} seeds)')
    ax.axhline(0.0, color='grey', linewidth=0.8)
    ax.set_xticks(x, layers, rotation=45, ha='right', fontsize='small')
    ax.set_ylabel('Spearman ρ (crossing time, |E ∂L/∂γ|)')
    ax.set_title(f'crossing order vs task gradient (mean, {_level(confidence)} t-interval)',
                 fontsize='medium')
    ax.legend(fontsize='small')
    return _save(fig, path)


def sweep_rows(records: Iterable[dict]) -> dict[str, dict[float, list[dict]]]:
    """``{'cen' | 'private_bn_l1_half': {scale: records}}`` of the λ sweep's finished rows."""
    records = list(records)
    out: dict[str, dict[float, list[dict]]] = {}
    for row in sorted({r.get('row') for r in records if r.get('table') == SWEEP}, key=str):
        match = SWEEP_ROW.match(str(row))
        if match:
            chosen = row_records(records, SWEEP, row)
            if chosen:
                out.setdefault(match['base'], {})[float(match['scale'])] = chosen
    return {base: dict(sorted(scales.items())) for base, scales in out.items()}


def _by_seed(records: Iterable[dict], value: Callable[[dict], float]) -> dict:
    return {r.get('seed'): value(r) for r in records}


def _ensemble(record: dict) -> float:
    """``record['metrics']['ensemble']['mIoU']``; NaN when the run did not report it."""
    value = ((record.get('metrics') or {}).get('ensemble') or {}).get('mIoU')
    return math.nan if value is None else float(value)


def plot_lambda_sweep(records: Iterable[dict], path: str | Path,
                      confidence: float = 0.95) -> Path:
    """Two panels against the λ scale (log x): the ensemble mIoU with and without exchange
    (mean over seeds, Student-t interval), and CEN's final exchanged share per stage (mean over
    the stage's layers, then over seeds; bars: sd over seeds)."""
    rows = sweep_rows(records)
    fig, (left, right) = _panels(2, width=11.0)
    palette = sns.color_palette('deep', 2)
    for (base, label), color in zip(((SWEEP_EXCHANGE, 'exchange (CEN)'),
                                      (SWEEP_NONE, 'no exchange (private BNs + ℓ1)')), palette):
        scales = sorted(rows.get(base, {}))
        if not scales:
            continue
        means, errors = [], [[], []]
        for scale in scales:
            values = [v for v in (_ensemble(r) for r in rows[base][scale]) if _finite(v)]
            mean = float(np.mean(values)) if values else math.nan
            low, high = t_interval(values, confidence)
            means.append(mean)
            errors[0].append(mean - low if _finite(low) else 0.0)
            errors[1].append(high - mean if _finite(high) else 0.0)
        left.errorbar(scales, means, yerr=np.array(errors), marker='o', capsize=3, color=color,
                      label=label)
    every_scale = sorted({s for scales in rows.values() for s in scales})
    _log_scale_axis(left, every_scale)
    left.set_ylabel(f'ensemble mIoU, % (mean, {_level(confidence)} t-interval)')
    left.legend(fontsize='small')
    cen = rows.get(SWEEP_EXCHANGE, {})
    per_scale = {scale: [stage_means(final_shares(r)) for r in with_dynamics(recs)]
                 for scale, recs in cen.items()}
    names = list(dict.fromkeys(s for seeds in per_scale.values() for per in seeds for s in per))
    for stage, color in zip(names, sns.color_palette('viridis', len(names))):
        scales = [s for s in per_scale if any(stage in per for per in per_scale[s])]
        values = [[per[stage] for per in per_scale[s] if stage in per] for s in scales]
        right.errorbar(scales, [np.mean(v) for v in values],
                       yerr=[np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values],
                       marker='o', capsize=3, color=color, label=stage)
    _log_scale_axis(right, every_scale)
    right.set_ylim(-0.02, 1.02)
    right.set_ylabel('CEN: final exchanged share (mean over seeds, ± sd)')
    if names:
        right.legend(fontsize='small')
    fig.suptitle('λ sweep: exchange vs no exchange', fontsize='medium')
    return _save(fig, path)


@dataclass(frozen=True)
class Figure:
    """A figure of this module: its file name under ``plots/``, whether ``records`` (one
    table's) suffice to draw it, and how."""

    name: str
    ready: Callable[[list[dict]], bool]
    draw: Callable[[list[dict], Path], Path]


def _row_dynamics(row: str) -> Callable[[list[dict]], bool]:
    return lambda records: bool(with_dynamics(row_records(records, TABLE1, row)))


def _crossing_ready(records: list[dict]) -> bool:
    return bool(crossing_rhos(row_records(records, TABLE1, CEN_ROW))
                and crossing_rhos(row_records(records, TABLE1, CONTROL_ROW)))


def _sweep_ready(records: list[dict]) -> bool:
    return bool(sweep_rows(records))


#: ``{table: its figures}`` (the table's records are what each figure is drawn from); read-only.
FIGURES: Mapping[str, tuple[Figure, ...]] = MappingProxyType({
    TABLE1: tuple(
        figure for row in (CEN_ROW, CONTROL_ROW) for figure in (
            Figure(f'table1_gamma_share_{row}', _row_dynamics(row),
                   lambda recs, path, row=row: plot_share_history(
                       row_records(recs, TABLE1, row), f'table1 {row}', path)),
            Figure(f'table1_gamma_hist_{row}', _row_dynamics(row),
                   lambda recs, path, row=row: plot_histograms(
                       row_records(recs, TABLE1, row), f'table1 {row}', path)))
    ) + (Figure('table1_crossing_order', _crossing_ready,
                lambda recs, path: plot_crossing_order(
                    {CEN_ROW: row_records(recs, TABLE1, CEN_ROW),
                     f'{CONTROL_ROW} (control)': row_records(recs, TABLE1, CONTROL_ROW)},
                    path)),),
    SWEEP: (Figure('lambda_sweep_exchange', _sweep_ready, plot_lambda_sweep),),
})


def table_figures(table: str, records: Sequence[dict]) -> list[tuple[str, Callable]]:
    """``[(file name stem, draw(path))]`` of the figures of ``table`` its ``records`` allow
    (none for other tables); the caller writes each to ``plots/<stem>.png``."""
    records = list(records)
    return [(figure.name, lambda path, figure=figure: figure.draw(records, Path(path)))
            for figure in FIGURES.get(table, ()) if figure.ready(records)]


# ----------------------------------------------------------------------------- the section
def dynamics_section(records: Sequence[dict], figures: Mapping[str, Path],
                     reports_dir: str | Path, confidence: float = 0.95) -> list[str]:
    """The report's "CEN's γ dynamics" section (markdown lines; [] when the protocol has no
    record of Table 1 or the λ sweep). ``figures``: ``{stem: path}`` of the figures written."""
    records = [r for r in records if r.get('table') in (TABLE1, SWEEP)]
    if not records:
        return []
    level = _level(confidence)
    link = _linker(figures, Path(reports_dir))
    lines = ["## CEN's γ dynamics", '',
             "What the paper's mechanism predicts (Theorem 1): within a layer the penalised γ's "
             'cross θ at different times, those of channels the task needs least first; a '
             'uniform decay crosses them all together (lockstep). Intervals in this section: '
             f'paired t, {level} (Student-t interval of the mean of per-seed differences, seed '
             'k of one row against seed k of the other); "±": standard deviation over seeds.',
             '']
    lines += _lockstep_lines(records)
    lines += _comeback_lines(records)
    lines += _share_lines(records, link)
    lines += _crossing_lines(records, link, confidence)
    lines += _plateau_lines(records)
    lines += _sweep_lines(records, link, confidence)
    return lines


def _linker(figures: Mapping[str, Path], reports_dir: Path) -> Callable[[str], list[str]]:
    def link(stem: str) -> list[str]:
        if stem not in figures:
            return []
        rel = Path(os.path.relpath(figures[stem], reports_dir)).as_posix()
        return [f'![{stem}]({rel})', '']
    return link


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [*markdown_table(header, rows), '']


def _dynamic_rows(records: Sequence[dict]) -> list[tuple[str, str, list[dict]]]:
    """``(table, row, records with dynamics)`` of every row that has some, in table order."""
    keys = sorted({(r['table'], r['row']) for r in records},
                  key=lambda k: (k[0] != TABLE1, k[0], k[1]))
    out = []
    for table, row in keys:
        chosen = with_dynamics(row_records(records, table, row))
        if chosen:
            out.append((table, row, chosen))
    return out


#: A stage whose mean end-of-run exchanged share reaches this is called saturated (our choice:
#: with ≥ 90 % of the penalised channels exchanged, CEN is close to a fixed swap there).
SATURATED_SHARE = 0.9


def fusion_config(record: dict) -> dict:
    """The record's fusion config: ``model.fusion`` (segmentation) or ``model.generator.fusion``
    (translation's U-Net); {} when neither."""
    model = (record.get('config') or {}).get('model') or {}
    return model.get('fusion') or (model.get('generator') or {}).get('fusion') or {}


def exchanges(record: dict) -> bool:
    """Whether the record's fusion exchanges channels (CEN with ``exchange`` other than
    ``'none'``; CEN's default is to exchange): rows that only track γ (ℓ1 without exchange) do
    not."""
    fusion = fusion_config(record)
    return fusion.get('type') == 'cen' and fusion.get('exchange', 'directed') != 'none'


def no_exchange_caveats(records: Sequence[dict]) -> list[str]:
    """Caveat bullets for CEN rows in which no channel was ever exchanged: every finished run's
    ``gamma_sparsity['mean']`` (share of penalised γ's under θ at the end) is 0. Such a row is
    CEN's architecture (private norms, shared convolutions, ensemble) without its mechanism, so
    a verdict on it says nothing about channel exchanging."""
    by_row: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        if r.get('status') == 'ok' and exchanges(r) and isinstance(r.get('gamma_sparsity'), dict):
            by_row.setdefault((str(r.get('table')), str(r.get('row'))), []).append(r)
    lines = []
    for (table, row), chosen in sorted(by_row.items()):
        if all(float(r['gamma_sparsity'].get('mean', math.nan)) == 0.0 for r in chosen):
            theta = fusion_config(chosen[0]).get('threshold')
            lines.append(f'- **no exchange** (`{table}` `{row}`): in all {len(chosen)} run(s) no '
                         f'penalised γ ended under θ = {theta}: the row is CEN\'s architecture '
                         'without channel exchanging, and its verdicts do not test the mechanism')
    return lines


def saturation_caveats(records: Sequence[dict], level: float = SATURATED_SHARE) -> list[str]:
    """Report caveat lines (markdown bullets) for rows whose exchange saturated: the stages
    whose end-of-run exchanged share, averaged over the stage's layers and the row's seeds, is
    ≥ ``level``. There a claim that "exchanging helps" measures exchanging itself more than
    CEN's data-driven choice of channels, which the γ-dynamics section tests apart."""
    lines = []
    for table, row, chosen in _dynamic_rows(records):
        chosen = [r for r in chosen if exchanges(r)]
        if not chosen:
            continue
        per_seed = [stage_means(final_shares(r)) for r in chosen]
        means = {stage: float(np.nanmean([p.get(stage, math.nan) for p in per_seed]))
                 for stage in dict.fromkeys(s for p in per_seed for s in p)}
        full = {stage: m for stage, m in means.items() if m >= level}
        if full:
            lines.append(
                f'- **saturated exchange** (`{table}` `{row}`): '
                + ', '.join(f'{stage} {m:.2f}' for stage, m in full.items())
                + f' of the penalised channels exchanged at the end (mean over {len(chosen)} '
                  f'seed(s); ≥ {level:.2f} counts as saturated): there the row is close to a '
                  'fixed swap of the penalised channels, so a verdict on it measures '
                  'exchanging more than which channels the data chose; see "CEN\'s γ '
                  'dynamics" (crossing order) for the latter')
    return lines


def _lockstep_lines(records: Sequence[dict]) -> list[str]:
    lines = ['### Lockstep check', '']
    rows = _dynamic_rows(records)
    if not rows:
        return lines + ['Missing: no finished run of Table 1 or the λ sweep carries '
                        '`gamma_dynamics` (records made before γ dynamics were recorded); '
                        're-run them to check for lockstep.', '']
    body = []
    for table, row, chosen in rows:
        flagged = [f"{len(r['gamma_dynamics'].get('lockstep_layers') or [])}/"
                   f"{len(r['gamma_dynamics']['layers'])}" for r in chosen]
        total = sum(len(r['gamma_dynamics'].get('lockstep_layers') or []) for r in chosen)
        layers = sum(len(r['gamma_dynamics']['layers']) for r in chosen)
        body.append([table, f'`{row}`', ', '.join(str(r.get('seed')) for r in chosen),
                     ', '.join(flagged), 'none' if not total else f'{total}/{layers} layers'])
    return lines + ['Layers flagged as lockstep per run (flagged/exchange layers, per seed in '
                    'the order of the seeds column; a layer is flagged when at least half of '
                    "its penalised γ's crossed θ and their 10th–90th percentile crossing "
                    'iterations lie within 10 % of the run or 5 iterations).', '',
                    *_table(['table', 'row', 'seeds', 'flagged per seed', 'lockstep'], body)]


def _comeback_lines(records: Sequence[dict]) -> list[str]:
    """Theorem 1's check: of the penalised γ's that crossed θ, the share that came back above
    θ (at least once during training; at the end), per row, summed over seeds and layers."""
    lines = ['### Do exchanged channels come back? (Theorem 1)', '']
    body = []
    for table, row, chosen in _dynamic_rows(records):
        counts = [c for r in chosen for c in (comebacks(layer) for layer in
                                              r['gamma_dynamics']['layers'].values())
                  if c is not None]
        if not counts:
            continue
        per_stage: dict[str, list[dict]] = {}
        for r in chosen:
            for name, layer in r['gamma_dynamics']['layers'].items():
                found = comebacks(layer)
                if found is not None:
                    per_stage.setdefault(stage_of(name), []).append(found)
        crossed = sum(c['crossed'] for c in counts)
        stage_shares = [f"{stage} {_share(*_totals(found, 'came_back'))}"
                        for stage, found in per_stage.items()]
        body.append([table, f'`{row}`', str(len(chosen)), str(crossed),
                     _share(*_totals(counts, 'came_back')),
                     _share(*_totals(counts, 'above_at_end')), ', '.join(stage_shares)])
    if not body:
        return lines + ['Missing: no run record counts the returns above θ (records made before '
                        'the count); re-run a CEN row to check.', '']
    return lines + ["Theorem 1: a penalised γ attracted to 0 stays there. Of the penalised γ's "
                    'that crossed θ (summed over seeds and exchange layers), the share that came '
                    'back to |γ| ≥ θ at least once during training (checked every iteration), '
                    'and the share above θ after the last iteration.', '',
                    *_table(['table', 'row', 'seeds', "crossed γ's", 'came back', 'above θ at '
                             'the end', 'came back, per stage'], body)]


def _totals(counts: Sequence[dict], key: str) -> tuple[int, int]:
    """``(Σ key, Σ crossed)`` over :func:`comebacks` results."""
    return sum(c[key] for c in counts), sum(c['crossed'] for c in counts)


def _share(part: int, whole: int) -> str:
    return MISSING if not whole else f'{part / whole:.2f} ({part}/{whole})'


def _share_lines(records: Sequence[dict], link) -> list[str]:
    lines = ['### Exchanged share at the end of training', '']
    rows = [(t, r, c) for t, r, c in _dynamic_rows(records) if t == TABLE1]
    if not rows:
        return lines + ['Missing: no finished Table 1 run with `gamma_dynamics`.', '']
    names = list(dict.fromkeys(s for _, _, chosen in rows for r in chosen
                               for s in stage_means(final_shares(r))))
    body = []
    for _, row, chosen in rows:
        per_seed = [stage_means(final_shares(r)) for r in chosen]
        body.append([f'`{row}`', str(len(chosen)),
                     *(mean_sd(p.get(s, math.nan) for p in per_seed) for s in names),
                     mean_sd(overall_mean(final_shares(r)) for r in chosen)])
    lines += ["Share of penalised γ's with |γ| < θ after the last iteration, mean over the "
              "stage's exchange layers (mean ± sd over seeds; rows without exchange: the share that "
              "would be exchanged). A stage at 1.00 saturated: every penalised channel is "
              "exchanged.", '',
              *_table(['row', 'seeds', *names, 'all layers'], body)]
    for row in (CEN_ROW, CONTROL_ROW):
        lines += link(f'table1_gamma_share_{row}') + link(f'table1_gamma_hist_{row}')
    return lines


def _crossing_lines(records: Sequence[dict], link, confidence: float) -> list[str]:
    lines = ['### Crossing order vs task gradient', '']
    cen = crossing_rhos(row_records(records, TABLE1, CEN_ROW))
    control = crossing_rhos(row_records(records, TABLE1, CONTROL_ROW))
    missing = [f'`{row}`' for row, rhos in ((CEN_ROW, cen), (CONTROL_ROW, control)) if not rhos]
    if missing:
        return lines + [f'Missing: Table 1 row(s) {" and ".join(missing)} with both '
                        '`gamma_dynamics` and the calibration\'s task gradients '
                        '(`pretraining.gradient`, recorded by protocols that pretrain); the '
                        'crossing-order comparison needs both rows.', '',
                        f'Crossing order follows the task gradient better than under shuffled '
                        f'labels: {UNDECIDED} (missing records).', '']
    names = list(dict.fromkeys(stage_of(k) for per in (*cen.values(), *control.values())
                               for k in per))
    body = []
    for stage in [*names, 'all layers']:
        def value(per: dict, stage=stage) -> float:
            return overall_mean(per) if stage == 'all layers' else stage_means(per).get(
                stage, math.nan)
        a = {s: value(per) for s, per in cen.items()}
        b = {s: value(per) for s, per in control.items()}
        diff = paired(a, b, confidence)
        body.append([stage, mean_sd(a.values()), mean_sd(b.values()), interval_text(diff),
                     diff.verdict])
    overall = paired({s: overall_mean(p) for s, p in cen.items()},
                     {s: overall_mean(p) for s, p in control.items()}, confidence)
    lines += ["Spearman's ρ between each penalised γ's first crossing of θ and its channel's "
              'task-gradient magnitude |E ∂L/∂γ| (calibration); positive: the channels the task '
              'holds up least cross first. Per seed, ρ is averaged over the stage\'s layers; '
              f'the difference pairs `{CEN_ROW}` seed k with `{CONTROL_ROW}` seed k.', '',
              *_table(['stage', f'ρ `{CEN_ROW}`', f'ρ `{CONTROL_ROW}`',
                       f'{CEN_ROW} − control (paired t, {_level(confidence)})', 'above 0'], body),
              'Crossing order follows the task gradient better than under shuffled labels: '
              f'**{overall.verdict}** (all layers: {interval_text(overall)}, paired t, '
              f'{_level(confidence)}).', '']
    return lines + link('table1_crossing_order')


def _plateau_lines(records: Sequence[dict]) -> list[str]:
    lines = ['### Convergence (validation-curve plateau)', '']
    keys = sorted({(r['table'], r['row']) for r in records},
                  key=lambda k: (k[0] != TABLE1, k[0], k[1]))
    body = []
    for table, row in keys:
        chosen = [r for r in row_records(records, table, row) if r.get('plateau')]
        if not chosen:
            continue
        flags = [r['plateau'].get('plateaued') for r in chosen]
        threshold = chosen[0]['plateau'].get('threshold')
        body.append([table, f'`{row}`', f'{sum(f is True for f in flags)}/{len(chosen)}',
                     mean_sd((r['plateau'].get('gain') for r in chosen), 2),
                     MISSING if threshold is None else f'< {threshold:g}'])
    if not body:
        return lines + ['Missing: no finished run records a validation curve (`plateau`); '
                        'protocols without validation during training cannot show convergence.',
                        '']
    return lines + ["A run is at a plateau when the last fifth of training improved its "
                    "validation mIoU (the model's main prediction) by less than the threshold (points); gain: mean ± "
                    'sd over seeds.', '',
                    *_table(['table', 'row', 'plateaued seeds', 'gain in the last fifth',
                             'threshold'], body)]


def _sweep_lines(records: Sequence[dict], link, confidence: float) -> list[str]:
    lines = ['### λ sweep', '']
    rows = sweep_rows(records)
    if not rows.get(SWEEP_EXCHANGE) or not rows.get(SWEEP_NONE):
        have = ', '.join(f'`{base}_x…`' for base in sorted(rows)) or 'none'
        protocol = next((r['protocol'] for r in records if r.get('protocol')), '<protocol>')
        return lines + ['Missing: the λ sweep needs finished `cen_x<scale>` and '
                        f'`private_bn_l1_half_x<scale>` rows (present: {have}); run '
                        f'`python -m fusionbench run lambda_sweep --protocol {protocol}`.', '']
    cen, none = rows[SWEEP_EXCHANGE], rows[SWEEP_NONE]
    scales = sorted(set(cen) | set(none))
    names = list(dict.fromkeys(s for recs in cen.values() for r in with_dynamics(recs)
                               for s in stage_means(final_shares(r))))
    body = []
    for scale in scales:
        a = _by_seed(cen.get(scale, []), _ensemble)
        b = _by_seed(none.get(scale, []), _ensemble)
        diff = paired(a, b, confidence)
        per_seed = [stage_means(final_shares(r)) for r in with_dynamics(cen.get(scale, []))]
        body.append([f'{scale:g}', mean_sd(a.values(), 1), mean_sd(b.values(), 1),
                     interval_text(diff, 1), diff.verdict,
                     *(mean_sd(p.get(s, math.nan) for p in per_seed) for s in names)])
    return lines + ['Every calibrated per-layer λ scaled by the factor (1: the protocol\'s '
                    'default). Ensemble mIoU (%, mean ± sd over seeds); exchange − no exchange: '
                    f'paired t, {_level(confidence)}; shares: CEN\'s final exchanged share per stage '
                    '(mean ± sd over seeds).', '',
                    *_table(['λ scale', 'CEN', 'no exchange',
                             f'exchange − no exchange (paired t, {_level(confidence)})',
                             'above 0', *(f'share {s}' for s in names)], body),
                    *link('lambda_sweep_exchange')]
