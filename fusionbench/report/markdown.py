"""The per-protocol markdown report: claim verdicts, tables beside the paper, plots, provenance.

This module formats; it computes nothing it could get wrong silently. :func:`render_report`
takes each table's aggregated DataFrame, its claim verdicts and its plot files (built by
:func:`fusionbench.experiments.outputs.table_outputs`, the one writer of the table CSVs and
plots) and writes ``reports/<protocol>.md``; :func:`render_index` lists the reports in
``reports/README.md``. Plots are linked relatively, so the layout
``results/<protocol>/plots/<table>*.png`` beside ``reports/<protocol>.md`` must hold.

The output is deterministic: no render time is written, keys are sorted, and numbers use fixed
decimals: each metric's declared ones (1 for percentages, 2 for FID / KID; 1 for parameters).
"""
from __future__ import annotations

import os
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fusionbench.analysis.claims import (CONTRADICTED, PAIRED, REPRODUCED, Claim, Verdict,
                                         familywise, headline, p_value_text, value_decimals)
from fusionbench.analysis.files import atomic_write_text
from fusionbench.analysis.paper import load_paper_table, paper_contrast, spec_paper_value
from fusionbench.analysis.stats import ci_names, paired_sd, seeds_needed

SYMBOLS = {REPRODUCED: '✅', CONTRADICTED: '❌', 'undecided': '❔'}
SYNTHETIC_WARNING = ('**These results are on synthetic data: they are not comparable in absolute '
                     "terms with the paper's NYUDv2 numbers.**")
INDEX_NAME = 'README.md'
MISSING = '—'


@dataclass(frozen=True)
class ReportTable:
    """One table's part of a report: what the pipeline computed, ready to format.

    ``frame`` is the aggregate (``keep_values=True``) of ``spec``'s records, ``verdicts`` pairs
    each of ``spec.claims`` with its :class:`~fusionbench.analysis.claims.Verdict`, ``plots``
    are the figure files already written for it.
    """
    spec: Any
    frame: pd.DataFrame
    verdicts: Sequence[tuple[Claim, Verdict]] = ()
    plots: Sequence[Path] = field(default_factory=tuple)
    #: ``{stem: path}`` of figures drawn for a section other than the table's own (e.g. CEN's
    #: γ dynamics, :mod:`fusionbench.report.dynamics`); linked by that section, not the table.
    figures: Mapping[str, Path] = field(default_factory=dict)
    #: The project's reference for the same table (its aggregate, as ``frame``), or None: the
    #: report then shows paper | reference | yours per cell.
    reference: pd.DataFrame | None = None


def render_report(protocol: str, reports_dir: str | Path, tables: Iterable[ReportTable],
                  records: Sequence[dict], protocol_description: str,
                  provenance: Mapping[str, Any] | None = None, *,
                  confidence: float = 0.95, extra_sections: Sequence[list[str]] = (),
                  extra_caveats: Sequence[str] = ()) -> Path:
    """Write ``reports_dir/<protocol>.md`` from ``tables`` and the protocol's ``records``.

    ``protocol_description`` is one line (data, backbone, budget). ``provenance`` adds caller-side
    facts (e.g. the command that rendered the report) to the provenance drawn from ``records``
    (which also list the failed runs). ``extra_sections``: further sections (markdown lines, e.g.
    :func:`fusionbench.report.dynamics.dynamics_section`), after the tables; ``extra_caveats``:
    further caveat bullets (e.g. :func:`fusionbench.report.dynamics.saturation_caveats`). Returns
    the report's path.
    """
    reports_dir = Path(reports_dir)
    sections, claim_lines, synthetic = [], [], False
    for table in tables:
        synthetic |= bool(table.frame['synthetic'].any())
        claim_lines += [_claim_line(c, v, table.spec) for c, v in table.verdicts]
        sections.append(_table_section(table.frame, table.spec, list(table.plots), reports_dir,
                                       confidence, table.reference))
    lines = [f'# fusionbench report — protocol `{protocol}`', '', protocol_description, '']
    if synthetic:
        lines += [SYNTHETIC_WARNING, '']
    lines += ['## Claims', '', *(claim_lines or ['No claims declared for these tables.']), '']
    lines += _familywise_section([(table.spec.name, table.verdicts) for table in tables],
                                 1 - confidence)
    lines += _seed_section([(c, v) for table in tables for c, v in table.verdicts])
    lines += _caveats_section(list(records), extra_caveats)
    for section in sections:
        lines += section
    for section in extra_sections:
        lines += section
    lines += _failures_section(list(records))
    lines += _provenance_section(list(records), provenance or {})
    path = reports_dir / f'{protocol}.md'
    atomic_write_text(path, '\n'.join(lines).rstrip() + '\n')
    return path


def render_index(reports_dir: str | Path) -> Path:
    """Write ``reports_dir/README.md`` listing every protocol report (with its claim tally)."""
    reports_dir = Path(reports_dir)
    lines = ['# fusionbench reports', '',
             'One report per protocol: our runs beside the numbers reported by Wang et al. '
             '(NeurIPS 2020), with a verdict per claim of the paper.', '']
    reports = sorted(p for p in reports_dir.glob('*.md') if p.name != INDEX_NAME)
    lines += [_index_line(p) for p in reports] or ['No reports yet.']
    return atomic_write_text(reports_dir / INDEX_NAME, '\n'.join(lines) + '\n')


# ----------------------------------------------------------------------------- formatting
def fmt(value: Any, decimals: int = 1, signed: bool = False) -> str:
    """A number with fixed ``decimals`` (``+`` sign when ``signed``); ``—`` for None/NaN."""
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f'{value:{"+" if signed else ""}.{decimals}f}'


def _decimals(spec: Any, column: str) -> int:
    """Decimals of ``column``: 0 for a count (``*_count``: exact, e.g. Table 2's fusion
    parameters, averaged over seeds as floats), else the spec's (its metrics' declared ones),
    else by the column's name (:func:`~fusionbench.analysis.claims.value_decimals`)."""
    if column.endswith('_count'):
        return 0
    decimals = getattr(spec, 'decimals', None)
    return decimals(column) if callable(decimals) else value_decimals(column)


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub-flavoured markdown table (``|`` in cells escaped)."""
    def line(cells: list[str]) -> str:
        return '| ' + ' | '.join(str(c).replace('|', '\\|') for c in cells) + ' |'
    return [line(header), line(['---'] * len(header)), *(line(r) for r in rows)]


# ----------------------------------------------------------------------------- claims
def _claim_line(claim: Claim, verdict: Verdict, spec: Any) -> str:
    paper = _paper_margin(claim, verdict, spec)
    paper_text = f'; paper: {paper}' if paper else ''
    return (f'- {SYMBOLS[verdict.status]} **{verdict.status}** — {claim.text} '
            f'(`{claim.id}`): {verdict.detail}{paper_text}')


def _familywise_section(families: Sequence[tuple[str, Sequence[tuple[Claim, Verdict]]]],
                        alpha: float = 0.05) -> list[str]:
    """Which decided verdicts stand when each table's claims are held together at ``alpha``
    (Holm; :func:`~fusionbench.analysis.claims.familywise`), for tables with ≥ 2 tested
    claims. [] when there is none."""
    lines = []
    for table, verdicts in families:
        family = [f for f in familywise(verdicts, alpha) if f.p == f.p]
        decided = [f for f in family if f.verdict.status in (REPRODUCED, CONTRADICTED)]
        if len(family) < 2 or not decided:
            continue
        stand = [f for f in decided if f.stands]
        fall = [f for f in decided if not f.stands]
        text = (f'- `{table}` ({len(family)} claims): {len(stand)} of {len(decided)} decided '
                f'verdicts stand')
        if stand:
            text += ': ' + ', '.join(f'`{f.claim.id}` {SYMBOLS[f.verdict.status]} (p_Holm '
                                     f'{p_value_text(f.p_holm)})' for f in stand)
        if fall:
            text += ('; undecided at this level: ' + ', '.join(
                f'`{f.claim.id}` {SYMBOLS[f.verdict.status]} (p {p_value_text(f.p)} → p_Holm '
                f'{p_value_text(f.p_holm)})' for f in fall))
        lines.append(text)
    if not lines:
        return []
    return ['### Held together per table', '',
            f"Each verdict above is decided at its own {1 - alpha:.0%} level. Holding each "
            f"table's claims together (Holm's correction, family-wise α = {alpha:g}; a claim's "
            'p: the largest over its tests, or the smallest contradicting one times the number '
            'of tests):', '', *lines, '']


def _paper_margin(claim: Claim, verdict: Verdict, spec: Any) -> str:
    """The paper's value of the test the verdict quotes (else of its smallest pair margin)."""
    if verdict.comparisons:
        quoted = headline(verdict.comparisons)
        tests = [(quoted.label, quoted.terms)]
    else:
        tests = [(test.label, test.terms) for test in claim.tests()]
    margins = []
    for label, terms in tests:
        value = paper_contrast(spec, terms)
        if value is None:
            return ''
        margins.append((value, label))
    margin, label = min(margins)
    return f'{label} = {fmt(margin, _decimals(spec, claim.column), signed=True)}'


# ----------------------------------------------------------------------------- tables
def _table_section(df: pd.DataFrame, spec: Any, plots: list[Path], reports_dir: Path,
                   confidence: float, reference: pd.DataFrame | None = None) -> list[str]:
    """The table: per metric column the paper's number, the reference's and yours (with a
    reference), else yours beside the paper's and, on real data only, Δ = yours − paper (on
    synthetic data absolute values are not comparable with the paper's, only effects are)."""
    columns = [name for name, _, _ in spec.metrics] + list(spec.constant_columns)
    rows = {row.id: row for row in spec.rows}
    with_paper = [c for c in columns if c in spec.paper_columns]
    synthetic = bool(df['synthetic'].any())
    theirs = ({} if reference is None else
              {cells['row']: cells for cells in reference.to_dict('records')})
    header = ['row', 'seeds'] + (['reference seeds'] if reference is not None else [])
    for column in columns:
        if reference is not None and column not in spec.constant_columns:
            header += ([f'{column} paper'] if column in with_paper else []) + \
                [f'{column} reference', f'{column} yours']
        else:
            header += [column] + (['paper'] if column in with_paper else []) + \
                (['Δ'] if column in with_paper and not synthetic else [])
    notes = any(getattr(row, 'note', '') for row in spec.rows)
    body = [_table_row(record, rows[record['row']], spec, columns, with_paper, synthetic,
                       theirs.get(record['row'], {}) if reference is not None else None) +
            ([getattr(rows[record['row']], 'note', '') or ''] if notes else [])
            for record in df.to_dict('records')]
    lines = [f'## {getattr(spec, "title", None) or spec.name}', '',
             *markdown_table(header + (['note'] if notes else []), body), '',
             _legend(spec, with_paper, confidence, synthetic, reference is not None), '']
    if not df['n_seeds'].sum():
        lines += ['No results yet for this table.', '']
    lines += _reported_rows_section(spec)
    for plot in plots:
        link = Path(os.path.relpath(plot, reports_dir)).as_posix()
        lines += [f'![{plot.stem}]({link})', '']
    return lines


def _table_row(cells: dict, row: Any, spec: Any, columns: list[str], with_paper: list[str],
               synthetic: bool = False, reference: dict | None = None) -> list[str]:
    failed = f' (+{cells["n_failed"]} failed)' if cells['n_failed'] else ''
    name = f'`{cells["row"]}`' if cells['label'] == cells['row'] else \
        f'{cells["label"]} (`{cells["row"]}`)'
    out = [name, f'{cells["n_seeds"]}{failed}']
    if reference is not None:
        out.append(str(reference.get('n_seeds', 0)))
    for column in columns:
        decimals = _decimals(spec, column)
        ours = cells.get(f'{column}_mean', cells.get(column))
        paper = spec_paper_value(spec, row, column) if column in with_paper else None
        if reference is not None and column not in spec.constant_columns:
            out += ([fmt(paper, decimals)] if column in with_paper else []) + \
                [_ours_cell(reference, column, decimals) if reference else MISSING,
                 _ours_cell(cells, column, decimals)]
            continue
        out.append(_ours_cell(cells, column, decimals))
        if column in with_paper:
            out.append(fmt(paper, decimals))
            if not synthetic:
                delta = ours - paper if paper is not None and _is_number(ours) else None
                out.append(fmt(delta, decimals, signed=True))
    return out


def _ours_cell(cells: dict, column: str, decimals: int) -> str:
    if f'{column}_mean' not in cells:  # a constant column
        return fmt(cells.get(column), decimals)
    mean, std = cells[f'{column}_mean'], cells.get(f'{column}_std')
    if not _is_number(mean):
        return MISSING
    if not _is_number(std):  # one seed: no spread to show (a "± 0" would claim there is none)
        return fmt(mean, decimals)
    return f'{fmt(mean, decimals)} ± {fmt(std, decimals)}'


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _legend(spec: Any, with_paper: list[str], confidence: float, synthetic: bool = False,
            reference: bool = False) -> str:
    who = 'Yours and the reference' if reference else 'Ours'
    text = (f'{who}: mean ± standard deviation over seeds (± is the std everywhere; the table '
            f'CSV adds the {confidence:.0%} Student-t interval of the mean, columns '
            f'`*_{ci_names(confidence)[0][:-4]}_low/high`; seeds: runs that finished, failed '
            'runs counted apart). Verdicts: paired t-intervals of per-seed differences (Welch '
            'where rows share fewer than 2 seeds).')
    if reference:
        text += (" Reference: the project's committed runs of the same protocol (`reference/`); "
                 'whether yours agree with them: "Against the reference" below.')
    if with_paper:
        source = _paper_source(spec)
        text += f' Paper: {source}.'
        text += (' No Δ = ours − paper: synthetic numbers are not comparable with the paper\'s '
                 'in absolute terms; the claims above compare effects (row differences).'
                 if synthetic else ' Δ = ours − paper.')
    return text


def _reported_rows_section(spec: Any) -> list[str]:
    """The paper's rows fusionbench does not run (``spec.reported_rows``), numbers as printed."""
    keys = list(getattr(spec, 'reported_rows', ()) or ())
    if not keys:
        return []
    table = load_paper_table(getattr(spec, 'paper_table', spec.name)).set_index('row')
    columns = list(dict.fromkeys(spec.paper_columns.values()))
    labels = [c for c in ('modality', 'approach', 'backbone') if c in table.columns]
    body = [[f'`{key}`', *(fmt(table.at[key, c]) for c in labels),
             *(fmt(table.at[key, c], _decimals(spec, c)) for c in columns)] for key in keys]
    return [f"The paper's other rows, not run by fusionbench ({_paper_source(spec)}; "
            '— where the paper prints "-"):', '',
            *markdown_table(['paper row', *labels, *columns], body), '']


def _paper_source(spec: Any) -> str:
    table = load_paper_table(getattr(spec, 'paper_table', spec.name))
    return ', '.join(sorted(set(table['source'])))


# ----------------------------------------------------------------------------- failures, provenance
def _failures_section(records: list[dict]) -> list[str]:
    failed = sorted((r for r in records if r.get('status') == 'failed'),
                    key=lambda r: (r['table'], r['row'], str(r['seed'])))
    if not failed:
        return []
    body = [[r['table'], f'`{r["row"]}`', str(r['seed']), str(r.get('error') or MISSING)]
            for r in failed]
    return ['## Failed runs', '', *markdown_table(['table', 'row', 'seed', 'error'], body), '']


def provenance_summary(records: list[dict]) -> dict[str, str]:
    """Where and how the records were produced: commits, devices, dates, versions, wall time."""
    if not records:
        return {'runs': '0'}
    status = Counter(r.get('status') for r in records)
    commits = Counter(_commit(r) for r in records)
    devices = Counter(str(r.get('device') or 'unknown') for r in records)
    versions: dict[str, set[str]] = {}
    for record in records:
        for package, version in (record.get('versions') or {}).items():
            versions.setdefault(package, set()).add(str(version))
    dates = sorted(str(r[k]) for r in records for k in ('started_at', 'finished_at') if r.get(k))
    walls = [float(r['wall_time_s']) for r in records if r.get('wall_time_s') is not None]
    summary = {
        'runs': ', '.join(f'{n} {s}' for s, n in sorted(status.items(), key=str)),
        'git commits': _counted(commits),
        'devices': _counted(devices),
        'datasets': _counted(Counter(_dataset(r) for r in records)),
        'dates': f'{dates[0]} → {dates[-1]}' if dates else MISSING,
        'versions': '; '.join(f'{p} {" / ".join(sorted(v))}' for p, v in sorted(versions.items())),
    }
    if walls:
        summary['wall time'] = (f'{sum(walls):.1f} s in total, median {statistics.median(walls):.1f}'
                                ' s per run')
    return summary


def _dataset(record: dict) -> str:
    """The record's ``dataset``, else its resolved config's test data set: ``type`` and
    ``data_root`` (run records keep the whole resolved config, not a separate dataset key)."""
    if record.get('dataset'):
        return str(record['dataset'])
    config = record.get('config') if isinstance(record.get('config'), dict) else {}
    dataset = (config.get('test_dataloader') or {}).get('dataset') or {}
    if not isinstance(dataset, dict) or not dataset.get('type'):
        return 'unknown'
    root = dataset.get('data_root')
    return f"{dataset['type']} ({root})" if root else str(dataset['type'])


#: The difference the seed count is sized for, in the claim column's unit (the valid-default
#: issue's target: a 2-point mIoU difference decidable; our choice of 80 % power).
SEED_EFFECT, SEED_POWER = 2.0, 0.8
#: The metric whose claims the seed count is sized for (an effect in its points).
SEED_METRIC = 'mIoU'


def _seed_section(verdicts: Sequence[tuple[Claim, Verdict]], confidence: float = 0.95,
                  effect: float = SEED_EFFECT, power: float = SEED_POWER) -> list[str]:
    """How many seeds the claims need: per paired comparison, the standard deviation of its
    per-seed differences (from its interval) and the seeds with which a true ``effect``-point
    difference is decided with ``power`` (:func:`~fusionbench.analysis.stats.seeds_needed`),
    for the claims on :data:`SEED_METRIC` columns. [] when no such claim has a paired comparison
    of ≥ 2 seeds."""
    from fusionbench.tasks.base import metric_of_column

    rows, needs = [], []
    for claim, verdict in verdicts:
        info = metric_of_column(claim.column)
        if info is None or info.name != SEED_METRIC:  # the effect is sized in mIoU points
            continue
        for c in verdict.comparisons:
            if c.method != PAIRED or c.n_higher < 2 or not c.higher or not c.lower:
                continue
            sd = paired_sd(c.ci_low, c.ci_high, c.n_higher, confidence)
            need = seeds_needed(sd, effect, confidence, power)
            needs.append(need)
            # the test's label names each side's column where it is not the claim's (Table 2:
            # CEN's ensemble against a baseline's commonly-used-setting mIoU)
            rows.append([f'`{claim.id}`', c.label or f'{c.higher} − {c.lower}', str(c.n_higher),
                         fmt(sd, 2), MISSING if need is None else str(need)])
    if not rows:
        return []
    most = max((n for n in needs if n is not None), default=None)
    summary = (f'The largest need is {most} seeds.' if most is not None and None not in needs
               else 'Some comparison needs more than 100 seeds (or has no spread estimate).')
    return ['### Seeds', '',
            f'Per paired comparison: the standard deviation of its per-seed differences (estimated '
            f'from the seeds at hand) and the '
            f'seeds with which a true {effect:g}-point difference would be decided '
            f'({confidence:.0%} paired t-interval excluding 0) with {power:.0%} power. '
            + summary, '',
            *markdown_table(['claim', 'comparison', 'seeds', 'sd of differences',
                             f'seeds for {effect:g} points'], rows), '']


def _caveats_section(records: list[dict], extra: Sequence[str] = ()) -> list[str]:
    """What the finished runs' own checks say about the claims above (none: no section).

    - ``plateau.plateaued`` false: the validation mIoU still rose by at least the threshold
      over the last fifth of training (:mod:`fusionbench.plateau`), so the runs were stopped
      before converging and a difference between rows may be one of speed, not of end point.
    - ``gamma_dynamics.lockstep_layers``: exchange points whose penalised γ's all crossed θ
      together, i.e. a fixed swap of channels rather than CEN's data-driven selection
      (:mod:`fusionbench.fusion.gamma_dynamics`).
    - ``extra``: the caller's own bullets (e.g. saturated exchange), appended as given.
    """
    ok = [r for r in records if r.get('status') == 'ok']
    lines = []
    rising = [r for r in ok if (r.get('plateau') or {}).get('plateaued') is False]
    if rising:
        gains = [float(r['plateau'].get('gain', float('nan'))) for r in rising]
        threshold = rising[0]['plateau'].get('threshold')
        rows = ', '.join(f'`{row}` × {n}' for row, n in sorted(Counter(
            r['row'] for r in rising).items()))
        metric = rising[0]['plateau'].get('metric', 'mIoU')
        lines.append(f'- **not converged**: {len(rising)} of {len(ok)} runs had not plateaued '
                     f'(validation {metric} still improved by ≥ {fmt(threshold)} points over '
                     f'the last fifth of training; up to {fmt(max(gains), signed=True)}): {rows}; '
                     'a difference between rows may then be one of speed, not of end point, '
                     'and a verdict can change with the training budget')
    gamma = [r for r in ok if isinstance(r.get('gamma_dynamics'), dict)
             and r['gamma_dynamics'].get('layers')]
    lockstep = [r for r in gamma if r['gamma_dynamics'].get('lockstep_layers')]
    if lockstep:
        rows = ', '.join(
            f"`{row}` {min(ns)}–{max(ns)} of {total}" if min(ns) != max(ns)
            else f"`{row}` {ns[0]} of {total}"
            for (row, total), ns in sorted(_lockstep_counts(lockstep).items()))
        lines.append(f"- **γ lockstep**: in {len(lockstep)} of {len(gamma)} runs with CEN's γ "
                     'dynamics, all penalised γ\'s of some CEN points crossed θ together (where '
                     'channels are exchanged, a fixed swap, not a data-driven selection); points '
                     f'in lockstep per run: {rows}')
    lines += list(extra)
    if not lines:
        return []
    return ['## Caveats from the run records', '', *lines, '']


def _lockstep_counts(records: list[dict]) -> dict[tuple[str, int], list[int]]:
    counts: dict[tuple[str, int], list[int]] = {}
    for r in records:
        dynamics = r['gamma_dynamics']
        key = (str(r['row']), len(dynamics['layers']))
        counts.setdefault(key, []).append(len(dynamics['lockstep_layers']))
    return counts


def _commit(record: dict) -> str:
    git = record.get('git') or {}
    return f'{git.get("commit") or "unknown"} ({"dirty" if git.get("dirty") else "clean"})'


def _counted(counter: Counter) -> str:
    return ', '.join(f'{key} × {n}' for key, n in sorted(counter.items()))


def _provenance_section(records: list[dict], extra: Mapping[str, Any]) -> list[str]:
    facts = {**provenance_summary(records), **{str(k): str(v) for k, v in extra.items()}}
    return ['## Provenance', '', *(f'- {key}: {value}' for key, value in sorted(facts.items())), '']


# ----------------------------------------------------------------------------- index
def _index_line(report: Path) -> str:
    text = report.read_text(encoding='utf-8')
    lines = text.splitlines()
    title = lines[0].lstrip('# ').strip() if lines else report.stem
    description = lines[2].strip() if len(lines) > 2 else ''
    tally = ' '.join(f'{sum(l.startswith(f"- {sym} ") for l in lines)} {sym}'
                     for sym in SYMBOLS.values())
    synthetic = ' — synthetic data' if SYNTHETIC_WARNING in text else ''
    return f'- [{title}]({report.name}) — {description} — claims: {tally}{synthetic}'
