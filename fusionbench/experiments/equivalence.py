"""Does a rerun agree with the reference? Paired equivalence tests (TOST) over a table's cells.

A rerun -- a fresh clone, another thread count, another machine -- is compared with the
reference run by run: seed ``k`` of a cell in one against seed ``k`` of the same cell in the
other (the same data order and initial weights, so the per-seed difference ``d_k = yours_k −
reference_k`` removes the seed-to-seed spread). "Inside every interval" is not a test of
agreement (it fails by chance as the cells multiply, and passes for noisy runs); equivalence is:

* **TOST** (Schuirmann's two one-sided tests) per (cell, metric column): H0 is ``|E d| ≥ δ``
  for the stated margin ``δ`` (in the metric's unit: points of mIoU for segmentation); it is
  rejected when both one-sided t-tests of ``mean d`` against ``−δ`` (greater) and ``+δ``
  (less) reject, i.e. ``p = max(p_low, p_high) < α`` -- the same as the ``1 − 2α`` t-interval of
  ``mean d`` lying inside ``(−δ, δ)``. One-sided tests: ``scipy.stats.ttest_1samp``.
* **Holm's step-down correction** over every compared (cell, column), so "all cells agree"
  holds at family-wise level ``α`` (:func:`fusionbench.analysis.stats.holm`).

A cell needs at least 2 paired seeds (a t-test has ``n − 1`` degrees of freedom); with fewer it
is reported as not testable, never as agreeing.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from fusionbench.analysis.stats import holm

#: Default margin δ for segmentation: 1 point of mIoU -- below the paper's smallest Table 1
#: effect it is meant to reproduce (shared vs private BNs at the ensemble: +2.8; our choice).
DEFAULT_MARGIN = 1.0
#: Family-wise error level of the whole comparison.
DEFAULT_ALPHA = 0.05


@dataclass(frozen=True)
class CellComparison:
    """One (row, cell, metric column) of a table, yours against the reference.

    ``mean_diff``: mean over paired seeds of ``yours − reference``; ``low``/``high``: its
    ``1 − 2α`` Student-t interval (the TOST interval); ``p``: the TOST p-value, ``p_holm`` the
    Holm-adjusted one; ``equivalent``: ``p_holm < α`` (None: fewer than 2 paired seeds).
    """

    table: str
    row: str
    cell: str
    column: str
    seeds: tuple
    mean_diff: float
    low: float
    high: float
    p: float
    p_holm: float
    equivalent: bool | None


def tost_paired(differences: Sequence[float], margin: float,
                alpha: float = DEFAULT_ALPHA) -> tuple[float, float, float]:
    """``(p, low, high)`` of the TOST of ``mean(differences)`` inside ``(−margin, margin)``.

    ``low``/``high``: the ``1 − 2α`` Student-t interval of the mean. Differences that are all
    equal (zero spread, e.g. bit-identical reruns) give ``p`` 0 when their value lies strictly
    inside the margin and 1 otherwise. Raises ``ValueError`` for fewer than 2 differences or a
    margin ≤ 0.
    """
    d = np.asarray([float(x) for x in differences], dtype=float)
    if d.size < 2:
        raise ValueError(f'TOST needs at least 2 paired differences, got {d.size}')
    if not margin > 0:
        raise ValueError(f'the equivalence margin must be > 0, got {margin}')
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return (0.0 if abs(mean) < margin else 1.0), mean, mean
    p_low = stats.ttest_1samp(d, -margin, alternative='greater').pvalue
    p_high = stats.ttest_1samp(d, margin, alternative='less').pvalue
    half = stats.t.ppf(1 - alpha, d.size - 1) * sd / math.sqrt(d.size)
    return float(max(p_low, p_high)), mean - half, mean + half


def paired_runs(records: Iterable[dict]) -> dict:
    """The ``ok`` records keyed by (table, row, cell, seed): what pairs a rerun with the
    reference."""
    return {(r.get('table'), r.get('row'), r.get('cell'), r.get('seed')): r
            for r in records if r.get('status') == 'ok'}


def compare_tables(yours: Iterable[dict], reference: Iterable[dict], specs: Sequence[Any],
                   margin: float = DEFAULT_MARGIN,
                   alpha: float = DEFAULT_ALPHA) -> list[CellComparison]:
    """Every (row, cell, metric column) of ``specs`` that both record sets have, compared.

    Records are matched by (table, row, cell, seed) among the ``ok`` ones; a column's value is
    ``record['metrics'][head][metric]`` as in the table (:mod:`~fusionbench.experiments.
    aggregate`). Holm's correction runs over every testable comparison together.
    """
    from fusionbench.experiments.aggregate import column_cell, metric_value

    mine, theirs = paired_runs(yours), paired_runs(reference)
    pending = []
    for spec in specs:
        for row, cell_name, _ in spec.cells():
            for column, head, metric in spec.metrics:
                wanted = column_cell(spec, column, row)
                if wanted is not None and wanted != cell_name:
                    continue
                seeds = sorted({k[3] for k in mine if k[:3] == (spec.name, row.id, cell_name)}
                               & {k[3] for k in theirs if k[:3] == (spec.name, row.id, cell_name)},
                               key=str)
                pairs = [(metric_value(mine[(spec.name, row.id, cell_name, s)], head, metric),
                          metric_value(theirs[(spec.name, row.id, cell_name, s)], head, metric))
                         for s in seeds]
                kept = [(s, a - b) for s, (a, b) in zip(seeds, pairs)
                        if not (math.isnan(a) or math.isnan(b))]
                if kept:
                    pending.append((spec.name, row.id, cell_name, column, kept))
    tested = []
    for table, row, cell, column, kept in pending:
        seeds, diffs = tuple(s for s, _ in kept), [d for _, d in kept]
        if len(diffs) >= 2:
            p, low, high = tost_paired(diffs, margin, alpha)
        else:
            p, low, high = math.nan, math.nan, math.nan
        tested.append([table, row, cell, column, seeds, float(np.mean(diffs)), low, high, p])
    testable = [i for i, t in enumerate(tested) if not math.isnan(t[-1])]
    adjusted = dict(zip(testable, holm([tested[i][-1] for i in testable])))
    return [CellComparison(*t, p_holm=adjusted.get(i, math.nan),
                           equivalent=(adjusted[i] < alpha) if i in adjusted else None)
            for i, t in enumerate(tested)]


#: What a record says about how its numbers were computed, beyond the code fingerprint:
#: ``(label, getter)``. A difference in any of these changes floating-point summation order
#: (threads, device, precision, library version), which training amplifies (our measurement:
#: README, "Across thread counts").
NUMERICS = (
    ('device', lambda r: r.get('device')),
    ('torch threads per process', lambda r: r.get('torch_threads')),
    ('precision', lambda r: (r.get('performance') or {}).get('amp')),
    ('deterministic algorithms', lambda r: (r.get('performance') or {}).get('deterministic')),
    ('torch', lambda r: (r.get('versions') or {}).get('torch')),
)


def numerics_notes(yours: Iterable[dict], reference: Iterable[dict]) -> list[str]:
    """One sentence per :data:`NUMERICS` entry whose values differ between the paired runs
    (same table, row, cell and seed, both ``ok``) of ``yours`` and ``reference``, then one on
    what that means; [] when they agree or nothing pairs. Values absent from a record (older
    schemas) are left out rather than reported as a difference."""
    mine, theirs = paired_runs(yours), paired_runs(reference)
    paired = sorted(set(mine) & set(theirs), key=str)
    notes = []
    for label, get in NUMERICS:
        a = sorted({str(get(mine[k])) for k in paired if get(mine[k]) is not None})
        b = sorted({str(get(theirs[k])) for k in paired if get(theirs[k]) is not None})
        if a and b and a != b:
            notes.append(f'yours ran with {label} {" / ".join(a)}, the reference with '
                         f'{" / ".join(b)}.')
    if notes:
        notes.append('Such runs differ in floating-point summation order, which training '
                     'amplifies into per-seed changes as large as a new seed: expect cells to '
                     'fail this test and compare the claims\' verdicts (`report`) instead, or '
                     "rerun with the reference's settings.")
    return notes


def numerics_paragraph(yours: Iterable[dict], reference: Iterable[dict]) -> str:
    """:func:`numerics_notes` as one markdown paragraph under a bold lead, or ''."""
    notes = numerics_notes(yours, reference)
    return '**Not computed alike.** ' + ' '.join(notes) if notes else ''


def summary_line(comparisons: Sequence[CellComparison], margin: float, alpha: float) -> str:
    """One line: how many comparisons are equivalent within ``±margin`` (Holm, level α)."""
    testable = [c for c in comparisons if c.equivalent is not None]
    agree = sum(c.equivalent for c in testable)
    untested = len(comparisons) - len(testable)
    line = (f'{agree} of {len(testable)} comparisons equivalent within ±{margin:g} '
            f'(paired TOST, Holm-corrected, family-wise α = {alpha:g})')
    if untested:
        line += f'; {untested} not testable (fewer than 2 paired seeds)'
    return line


def markdown_lines(comparisons: Sequence[CellComparison], margin: float, alpha: float,
                   decimals: int = 2) -> list[str]:
    """A markdown table of the comparisons, then :func:`summary_line`."""
    level = f'{(1 - 2 * alpha) * 100:g}'
    lines = [f'| table | row | cell | column | seeds | mean Δ (yours − reference) | '
             f'{level}% t-interval | p (TOST) | p (Holm) | equivalent |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']

    def num(x: float) -> str:
        return '—' if math.isnan(x) else f'{x:+.{decimals}f}'

    def pval(x: float) -> str:
        return '—' if math.isnan(x) else ('< 0.001' if x < 0.001 else f'{x:.3g}')

    for c in comparisons:
        verdict = {True: 'yes', False: 'no', None: 'not testable'}[c.equivalent]
        lines.append(f'| {c.table} | `{c.row}` | {c.cell} | {c.column} | {len(c.seeds)} | '
                     f'{num(c.mean_diff)} | [{num(c.low)}, {num(c.high)}] | {pval(c.p)} | '
                     f'{pval(c.p_holm)} | {verdict} |')
    return lines + ['', summary_line(comparisons, margin, alpha)]
