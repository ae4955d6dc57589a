"""The paper's qualitative claims as data, and a verdict for each from our seeds.

A :class:`Claim` reduces to ordered pairs ``(higher, lower)`` of row ids: it holds when
``column`` is larger for ``higher`` than for ``lower`` in every pair. For each pair we bootstrap
the difference of the per-seed means (rows resampled independently: seeds are not assumed to be
paired across rows) and read the verdict off its confidence interval:

- **reproduced** — every pair's CI lies above 0;
- **contradicted** — some pair's CI lies below 0 (Bonferroni-adjusted over the claim's pairs, so a
  claim over many pairs is not contradicted by chance);
- **undecided** — otherwise, or when a row is missing or has fewer than 2 seeds.

:func:`judge` needs per-seed values: aggregate with ``aggregate(..., keep_values=True)``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fusionbench.experiments.aggregate import bootstrap_means, percentile_interval

REPRODUCED, CONTRADICTED, UNDECIDED = 'reproduced', 'contradicted', 'undecided'
MIN_SEEDS = 2

KINDS = ('greater', 'less', 'greater_all', 'less_all', 'monotone_increasing',
         'monotone_decreasing')
_PAIR_KINDS = ('greater', 'less')  # exactly two rows; the others take two or more


@dataclass(frozen=True)
class Claim:
    """A claim about one metric ``column`` of the rows ``rows`` of table ``table``.

    ``kind`` says how to read ``rows``:

    - ``greater`` / ``less``: ``rows = (x, y)``; x's value is greater / less than y's;
    - ``greater_all`` / ``less_all``: ``rows = (x, y1, y2, …)``; x beats every y;
    - ``monotone_increasing`` / ``monotone_decreasing``: ``rows`` is an ordered chain whose
      values strictly increase / decrease along it.
    """

    id: str
    table: str
    text: str
    kind: str
    column: str
    rows: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f'claim {self.id}: unknown kind {self.kind!r}; known: {KINDS}')
        object.__setattr__(self, 'rows', tuple(self.rows))
        arity_ok = len(self.rows) == 2 if self.kind in _PAIR_KINDS else len(self.rows) >= 2
        if not arity_ok or len(set(self.rows)) != len(self.rows):
            raise ValueError(f'claim {self.id}: kind {self.kind!r} cannot take rows {self.rows}')

    def pairs(self) -> list[tuple[str, str]]:
        """The ``(higher, lower)`` row pairs the claim asserts."""
        first, rest = self.rows[0], self.rows[1:]
        if self.kind in ('greater', 'greater_all'):
            return [(first, other) for other in rest]
        if self.kind in ('less', 'less_all'):
            return [(other, first) for other in rest]
        chain = list(zip(self.rows, self.rows[1:]))
        return chain if self.kind == 'monotone_decreasing' else [(b, a) for a, b in chain]


@dataclass(frozen=True)
class Comparison:
    """One pair of a claim: ``diff = mean(higher) - mean(lower)`` and its bootstrap CI."""

    higher: str
    lower: str
    diff: float
    ci_low: float
    ci_high: float
    n_higher: int
    n_lower: int
    status: str


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`judge`: ``status`` and a one-line, human-readable ``detail``."""

    status: str
    detail: str
    comparisons: tuple[Comparison, ...] = ()


def value_decimals(column: str) -> int:
    """Decimals to print for ``column``: 2 for FID / KID, 1 for percentages and the rest."""
    name = column.lower()
    return 2 if 'fid' in name or 'kid' in name else 1


def judge(claim: Claim, df: pd.DataFrame, confidence: float = 0.95, n_boot: int = 2000,
          seed: int = 0) -> Verdict:
    """Verdict on ``claim`` from the aggregated table ``df`` (with ``<column>_values``)."""
    values_column = f'{claim.column}_values'
    if values_column not in df.columns:
        return Verdict(UNDECIDED, f'no per-seed values for {claim.column!r} '
                                  '(aggregate with keep_values=True)')
    values = _row_values(df, values_column, claim.rows)
    problems = [_seed_problem(row, values.get(row)) for row in claim.rows]
    problems = [p for p in problems if p]
    if problems:
        return Verdict(UNDECIDED, '; '.join(problems))
    pairs = claim.pairs()
    comparisons = tuple(
        compare(values[hi], values[lo], hi, lo, confidence, len(pairs), n_boot, seed)
        for hi, lo in pairs)
    return Verdict(_overall(comparisons), describe(comparisons, claim.column, confidence),
                   comparisons)


def compare(higher_values: list[float], lower_values: list[float], higher: str, lower: str,
            confidence: float = 0.95, n_pairs: int = 1, n_boot: int = 2000,
            seed: int = 0) -> Comparison:
    """Bootstrap ``mean(higher) - mean(lower)``; reproduced/contradicted/undecided for the pair.

    The contradiction test uses the Bonferroni-adjusted level ``1 - (1 - confidence) / n_pairs``.
    """
    diffs = (bootstrap_means(higher_values, n_boot, seed)
             - bootstrap_means(lower_values, n_boot, seed + 1))
    low, high = percentile_interval(diffs, confidence)
    _, strict_high = percentile_interval(diffs, 1 - (1 - confidence) / n_pairs)
    status = REPRODUCED if low > 0 else CONTRADICTED if strict_high < 0 else UNDECIDED
    diff = float(np.mean(higher_values) - np.mean(lower_values))
    return Comparison(higher, lower, diff, low, high, len(higher_values), len(lower_values),
                      status)


def describe(comparisons: tuple[Comparison, ...], column: str, confidence: float = 0.95) -> str:
    """One line: the deciding comparison's difference and CI (plus counts for several pairs)."""
    decimals = value_decimals(column)
    weakest = headline(comparisons)
    text = (f'{weakest.higher} − {weakest.lower} = {weakest.diff:+.{decimals}f} '
            f'[{confidence:.0%} CI {weakest.ci_low:+.{decimals}f}, {weakest.ci_high:+.{decimals}f}]'
            f' on {column} (n = {weakest.n_higher} vs {weakest.n_lower} seeds)')
    if len(comparisons) == 1:
        return text
    counts = {s: sum(c.status == s for c in comparisons) for s in (REPRODUCED, CONTRADICTED)}
    role = 'contradicting' if weakest.status == CONTRADICTED else 'smallest margin'
    strict = 1 - (1 - confidence) / len(comparisons)
    return (f'{counts[REPRODUCED]}/{len(comparisons)} pairs reproduced, '
            f'{counts[CONTRADICTED]} contradicted (tested at the Bonferroni level {strict:.1%}); '
            f'{role}: {text}')


def headline(comparisons: tuple[Comparison, ...]) -> Comparison:
    """The comparison a verdict is quoted by: the strongest contradiction, else the weakest pair."""
    contradicted = [c for c in comparisons if c.status == CONTRADICTED]
    return min(contradicted or comparisons, key=lambda c: c.diff)


def _overall(comparisons: tuple[Comparison, ...]) -> str:
    statuses = {c.status for c in comparisons}
    if statuses == {REPRODUCED}:
        return REPRODUCED
    return CONTRADICTED if CONTRADICTED in statuses else UNDECIDED


def _row_values(df: pd.DataFrame, column: str, rows: tuple[str, ...]) -> dict[str, list[float]]:
    """Per-seed values of ``rows``; accepts lists or the JSON arrays of a written table CSV."""
    present = df[df['row'].isin(rows)]
    out = {}
    for row, values in zip(present['row'], present[column]):
        if isinstance(values, str):
            values = json.loads(values)
        if isinstance(values, (list, tuple, np.ndarray)):
            out[row] = [float(v) for v in values if not _isnan(v)]
    return out


def _isnan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _seed_problem(row: str, values: list[float] | None) -> str:
    if not values:
        return f'row {row!r} has no results'
    if len(values) < MIN_SEEDS:
        return f'row {row!r} has {len(values)} seed(s), needs ≥ {MIN_SEEDS}'
    return ''


_TABLE2_BASELINES = tuple(f'{method}_{stage}' for method in ('concat', 'align', 'self_att')
                          for stage in ('early', 'middle', 'late', 'all'))

#: The paper's claims for Tables 1, 2 and 5, keyed by table name.
PAPER_CLAIMS: dict[str, list[Claim]] = {
    'table1': [
        Claim('table1.exchange_helps', 'table1',
              'Channel exchanging (half-channel ℓ1) raises the ensemble mIoU over the same '
              'model without exchanging', 'greater', 'ensemble_miou',
              ('cen', 'private_bn_l1_half')),
        Claim('table1.shared_convs_help', 'table1',
              'Sharing convolutions with private BNs beats unshared networks on the ensemble mIoU',
              'greater', 'ensemble_miou', ('private_bn', 'unshared')),
        Claim('table1.private_bns_help', 'table1',
              'Private BNs beat shared BNs (convolutions shared) on the ensemble mIoU',
              'greater', 'ensemble_miou', ('private_bn', 'shared_bn')),
        Claim('table1.half_beats_all_channels', 'table1',
              'Exchanging within half of the channels beats exchanging in all channels on the '
              'ensemble mIoU', 'greater', 'ensemble_miou', ('cen', 'cen_l1_all')),
    ],
    'table2': [
        Claim('table2.cen_beats_every_baseline', 'table2',
              "CEN's ensemble mIoU beats every baseline (concat, align, self-attention) at every "
              'fusion stage, same setting', 'greater_all', 'ensemble_miou',
              ('cen', *_TABLE2_BASELINES)),
    ],
    'table5': [
        Claim('table5.more_modalities_lower_fid', 'table5',
              'More input modalities give a lower FID (depth → +normal → +texture → +shade)',
              'monotone_decreasing', 'fid',
              ('depth', 'depth_normal', 'depth_normal_texture', 'depth_normal_texture_shade')),
    ],
}
