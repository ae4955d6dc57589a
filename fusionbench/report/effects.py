"""The paper's effects beside ours: one figure per table of the row differences its claims test.

On synthetic data absolute values are not comparable with the paper's (other images, another
backbone scale); what is comparable is the *effects* the paper claims -- differences between rows
(CEN − no exchange, private − shared BNs, ...). This figure draws, per tested difference, our
estimate with its interval (the verdict's own: paired t, or Welch where rows share fewer than 2
seeds) beside the paper's difference of the same rows, on one shared axis in the metric's units.
The table's absolute values stay on their own figure (:func:`~fusionbench.report.plots.
plot_heads`).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.analysis.claims import Claim, Comparison, Verdict
from fusionbench.analysis.paper import paper_contrast
from fusionbench.report.plots import _figure, _save, short_title

#: One line per difference; the figure's height grows with their number (inches).
LINE_HEIGHT, BASE_HEIGHT = 0.32, 1.6


def paper_effect(spec: Any, comparison: Comparison) -> float | None:
    """The paper's value of the difference ``comparison`` tests (:func:`~fusionbench.analysis.
    paper.paper_contrast` over its terms), or None when a term has no paper number."""
    return paper_contrast(spec, comparison.terms)


def effects(spec: Any, verdicts: Sequence[tuple[Claim, Verdict]]) -> list[dict]:
    """The differences the table's claims tested, once each (a pair tested by two claims is
    drawn once): ``{'label', 'column', 'ours', 'low', 'high', 'paper', 'method'}``; only those
    with a finite estimate."""
    out, seen = [], set()
    for claim, verdict in verdicts:
        for comparison in verdict.comparisons:
            key = (comparison.label or f'{comparison.higher} − {comparison.lower}', claim.column)
            if key in seen or not math.isfinite(comparison.diff):
                continue
            seen.add(key)
            out.append({'label': key[0], 'column': claim.column, 'ours': comparison.diff,
                        'low': comparison.ci_low, 'high': comparison.ci_high,
                        'paper': paper_effect(spec, comparison), 'method': comparison.method})
    return out


def plot_effects(spec: Any, verdicts: Sequence[tuple[Claim, Verdict]], path: str | Path,
                 synthetic: bool = True, paper_comparable: bool = True) -> Path | None:
    """Draw :func:`effects` of ``verdicts`` (ours: dot with its interval; the paper's: hollow
    diamond) on one horizontal axis, a zero line, one line per difference labelled
    ``<difference> [<column>]``. ``paper_comparable`` False leaves the paper's effects out (and
    says so): ours are in other units (e.g. FID from the surrogate feature network, whose scale
    is not Inception's). Returns ``path`` (PNG), or None when there is nothing to draw.
    """
    rows = effects(spec, verdicts)
    if not rows:
        return None
    labels = [f"{r['label']}  [{r['column']}]" for r in rows]
    width = max(8.0, 5.0 + 0.08 * max(len(label) for label in labels))  # room for the labels
    fig, ax = _figure(width=width, height=BASE_HEIGHT + 0.4 + LINE_HEIGHT * len(rows))
    y = np.arange(len(rows))[::-1]
    ours = np.array([r['ours'] for r in rows], dtype=float)
    low = np.array([r['low'] for r in rows], dtype=float)
    high = np.array([r['high'] for r in rows], dtype=float)
    err = np.nan_to_num(np.clip(np.vstack([ours - low, high - ours]), 0, None))
    ax.errorbar(ours, y, xerr=err, fmt='o', color='tab:blue', capsize=3, elinewidth=1.2,
                label='ours (95 % interval of the verdict)', zorder=3)
    paper = np.array([np.nan if r['paper'] is None else r['paper'] for r in rows], dtype=float)
    if paper_comparable and not np.isnan(paper).all():
        ax.scatter(paper, y, marker='D', s=40, facecolors='none', edgecolors='black',
                   linewidths=1.2, label='paper (reported)', zorder=4)
    ax.axvline(0.0, color='grey', linewidth=1, zorder=1)
    ax.set_yticks(y, labels)
    units = sorted({r['column'] for r in rows})
    ax.set_xlabel(f"difference between rows ({', '.join(units)})")
    title = f'{short_title(spec)}: the claimed effects'
    title += '\nours on synthetic data, the paper\'s on NYUDv2 / Taskonomy' if synthetic else ''
    if not paper_comparable:
        title += "\nthe paper's effects left out: other units (feature network)"
    fig.suptitle(title, fontsize='medium')  # over the labels too: long titles fit
    fig.legend(fontsize='small', loc='outside lower center', ncols=2)
    return _save(fig, path)
