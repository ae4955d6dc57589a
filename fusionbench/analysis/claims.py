"""The paper's qualitative claims as data, and a verdict for each from our seeds.

A :class:`Claim` reduces to *tests*: ordered pairs ``(higher, lower)`` of row ids (``column`` of
``higher`` exceeds ``column`` -- or one of ``lower_columns`` -- of ``lower``), and optionally an
*average margin* (the mean over the other rows of the first row's lead exceeds a number of
points). Each test is a linear contrast of per-seed values, estimated with a Student-t interval:

- **paired** (the default design): every row of a table runs the same seeds, and a seed fixes
  the data order, the augmentation draws and the initial weights of every part the rows share
  (common random numbers; see :mod:`fusionbench.models.init`). The contrast is formed seed by
  seed on the seeds all its rows share, and its mean gets a one-sample t-interval with
  ``n - 1`` degrees of freedom (``paired t``);
- **unpaired** where pairing is impossible (fewer than 2 shared seeds, or seeds unknown as in an
  old CSV): Welch's t-interval with Welch–Satterthwaite degrees of freedom (``Welch t``).

A test is **reproduced** when its interval lies above the margin (0 for a pair), **contradicted**
when its interval at the Bonferroni-adjusted level ``1 - (1 - confidence) / n_tests`` lies below
(a claim over many tests is not contradicted by chance), **undecided** otherwise. A claim is
reproduced when all its tests are, contradicted when one is, undecided otherwise or when a row is
missing or has fewer than 2 seeds. Intervals and critical values come from ``scipy.stats.t``.

:func:`judge` needs per-seed values: aggregate with ``aggregate(..., keep_values=True)``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from fusionbench.analysis.stats import holm

REPRODUCED, CONTRADICTED, UNDECIDED = 'reproduced', 'contradicted', 'undecided'
MIN_SEEDS = 2
PAIRED, WELCH = 'paired t', 'Welch t'

KINDS = ('greater', 'less', 'greater_all', 'less_all', 'monotone_increasing',
         'monotone_decreasing')
_PAIR_KINDS = ('greater', 'less')  # exactly two rows; the others take two or more
_ALL_KINDS = ('greater_all', 'less_all')  # one row against the others

#: A term of a contrast: (row id, column, coefficient).
Term = tuple[str, str, float]


@dataclass(frozen=True)
class Test:
    """One test of a claim: ``Σ coefficient · mean(row's column) > margin``."""

    label: str
    terms: tuple[Term, ...]
    margin: float = 0.0
    higher: str = ''
    lower: str = ''


@dataclass(frozen=True)
class Claim:
    """A claim about one metric ``column`` of the rows ``rows`` of table ``table``.

    ``kind`` says how to read ``rows``:

    - ``greater`` / ``less``: ``rows = (x, y)``; x's value is greater / less than y's;
    - ``greater_all`` / ``less_all``: ``rows = (x, y1, y2, …)``; x beats every y;
    - ``monotone_increasing`` / ``monotone_decreasing``: ``rows`` is an ordered chain whose
      values strictly increase / decrease along it.

    ``lower_columns`` (pair and ``*_all`` kinds): the columns the other rows are read in, one set
    of pairs per column (default: ``column`` itself). Table 2 reads CEN's ensemble against each
    baseline's commonly-used-setting mIoU *and* against its same-setting ensemble mIoU.
    ``average_margin`` (``*_all`` kinds): also test, per lower column, that the first row's lead
    averaged over the other rows exceeds this many points (the paper's "average improvement
    more than 2 %").
    """

    id: str
    table: str
    text: str
    kind: str
    column: str
    rows: tuple[str, ...]
    lower_columns: tuple[str, ...] = ()
    average_margin: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f'claim {self.id}: unknown kind {self.kind!r}; known: {KINDS}')
        object.__setattr__(self, 'rows', tuple(self.rows))
        object.__setattr__(self, 'lower_columns', tuple(self.lower_columns))
        arity_ok = len(self.rows) == 2 if self.kind in _PAIR_KINDS else len(self.rows) >= 2
        if not arity_ok or len(set(self.rows)) != len(self.rows):
            raise ValueError(f'claim {self.id}: kind {self.kind!r} cannot take rows {self.rows}')
        if self.lower_columns and self.kind.startswith('monotone'):
            raise ValueError(f'claim {self.id}: lower_columns needs a pair or *_all kind')
        if self.average_margin is not None and self.kind not in _ALL_KINDS:
            raise ValueError(f'claim {self.id}: average_margin needs kind greater_all/less_all')

    def pairs(self) -> list[tuple[str, str]]:
        """The ``(higher, lower)`` row pairs the claim asserts (per lower column)."""
        first, rest = self.rows[0], self.rows[1:]
        if self.kind in ('greater', 'greater_all'):
            return [(first, other) for other in rest]
        if self.kind in ('less', 'less_all'):
            return [(other, first) for other in rest]
        chain = list(zip(self.rows, self.rows[1:]))
        return chain if self.kind == 'monotone_decreasing' else [(b, a) for a, b in chain]

    def columns_of(self, higher: str, lower: str, lower_column: str) -> tuple[str, str]:
        """The columns ``higher`` and ``lower`` are read in for one of the lower columns."""
        first = self.rows[0]
        if self.kind.startswith('monotone'):
            return self.column, self.column
        return ((self.column, lower_column) if higher == first
                else (lower_column, self.column))

    def tests(self) -> list[Test]:
        """Every test of the claim: the pairs per lower column, then the average margins."""
        out = []
        for lower_column in self.lower_columns or (self.column,):
            pairs = self.pairs()
            for hi, lo in pairs:
                col_hi, col_lo = self.columns_of(hi, lo, lower_column)
                out.append(Test(f'{_term_name(hi, col_hi, self.column)} − '
                                f'{_term_name(lo, col_lo, self.column)}',
                                ((hi, col_hi, 1.0), (lo, col_lo, -1.0)), 0.0, hi, lo))
            if self.average_margin is not None:
                sign = 1.0 if self.kind == 'greater_all' else -1.0
                first, rest = self.rows[0], self.rows[1:]
                terms = ((first, self.column, sign),
                         *((other, lower_column, -sign / len(rest)) for other in rest))
                label = (f'{_term_name(first, self.column, self.column)} − mean of '
                         f'{len(rest)} rows ({lower_column})')
                if sign < 0:
                    label = (f'mean of {len(rest)} rows ({lower_column}) − '
                             f'{_term_name(first, self.column, self.column)}')
                out.append(Test(label, terms, float(self.average_margin)))
        return out


def _term_name(row: str, column: str, claim_column: str) -> str:
    return row if column == claim_column else f'{row} ({column})'


@dataclass(frozen=True)
class Comparison:
    """One test of a claim: ``diff`` (the contrast's estimate) and its ``confidence`` interval.

    ``higher`` / ``lower``: the pair's row ids ('' for an average-margin test); ``terms``: the
    contrast ``Σ coefficient · row's column``; ``method``: ``'paired t'`` or ``'Welch t'``;
    ``n_higher`` / ``n_lower``: seeds behind each side (for a paired test both are the number
    of shared seeds); ``p_value``: two-sided, of the contrast against ``margin``.
    """

    higher: str
    lower: str
    diff: float
    ci_low: float
    ci_high: float
    n_higher: int
    n_lower: int
    status: str
    label: str = ''
    margin: float = 0.0
    method: str = PAIRED
    dof: float = math.nan
    p_value: float = math.nan
    terms: tuple[Term, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The outcome of :func:`judge`: ``status`` and a one-line, human-readable ``detail``."""

    status: str
    detail: str
    comparisons: tuple[Comparison, ...] = ()


def value_decimals(column: str) -> int:
    """Decimals to print for ``column`` when no table spec says (a spec's
    ``decimals(column)`` does): the declared decimals of the registered task metric the column
    is named after (:func:`fusionbench.tasks.base.metric_of_column`: FID / KID 2, mIoU 1), else 1
    (percentages, parameters in M)."""
    from fusionbench.tasks.base import metric_of_column

    info = metric_of_column(column)
    return 1 if info is None else info.decimals


def better_kind(higher_is_better: bool, against_all: bool = False) -> str:
    """The claim kind of "beats" for a metric of this direction: ``greater`` (``greater_all``
    against every other row) when higher is better, ``less`` (``less_all``) when lower is, e.g.
    FID (:attr:`fusionbench.tasks.base.MetricInfo.higher_is_better`)."""
    kind = ('less', 'greater')[bool(higher_is_better)]
    return f'{kind}_all' if against_all else kind


#: Per-seed data of one (row, column): ``(seeds or None when unknown, values)``.
SeededValues = tuple[list | None, list[float]]


def judge(claim: Claim, df: pd.DataFrame, confidence: float = 0.95,
          decimals: int | None = None) -> Verdict:
    """Verdict on ``claim`` from the aggregated table ``df`` (with ``<column>_values``).

    ``decimals``: of the numbers in the verdict's line (the table spec's ``decimals(column)``);
    None: :func:`value_decimals` of the claim's column.
    """
    tests = claim.tests()
    columns = sorted({column for test in tests for _, column, _ in test.terms})
    missing = [c for c in columns if f'{c}_values' not in df.columns]
    if missing:
        return Verdict(UNDECIDED, f'no per-seed values for {", ".join(map(repr, missing))} '
                                  '(aggregate with keep_values=True)')
    data = {(row, column): value for column in columns
            for row, value in _row_values(df, column, claim.rows).items()}
    problems = [_seed_problem(row, column, data.get((row, column)))
                for test in tests for row, column, _ in test.terms]
    problems = list(dict.fromkeys(p for p in problems if p))
    if problems:
        return Verdict(UNDECIDED, '; '.join(problems))
    comparisons = tuple(contrast(test, data, confidence, len(tests)) for test in tests)
    return Verdict(_overall(comparisons),
                   describe(comparisons, claim.column, confidence, decimals), comparisons)


def contrast(test: Test, data: dict[tuple[str, str], SeededValues], confidence: float = 0.95,
             n_tests: int = 1) -> Comparison:
    """Estimate ``test``'s contrast with a t-interval; its status against ``test.margin``.

    Paired (one-sample t on the per-seed contrasts) over the seeds every term shares when there
    are at least :data:`MIN_SEEDS`; else Welch's t with Welch–Satterthwaite degrees of freedom
    (each term needs ≥ 2 values). The contradiction side uses the Bonferroni-adjusted level
    ``1 - (1 - confidence) / n_tests``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must lie in (0, 1), got {confidence}')
    shared = _shared_seeds([data[(row, column)] for row, column, _ in test.terms])
    if len(shared) >= MIN_SEEDS:
        per_seed = sum(coef * np.asarray(_by_seed(data[(row, column)], shared))
                       for row, column, coef in test.terms)
        estimate, n = float(np.mean(per_seed)), len(shared)
        se = float(np.std(per_seed, ddof=1)) / math.sqrt(n)
        dof, method, n_hi, n_lo = float(n - 1), PAIRED, n, n
    else:
        parts = [(coef, np.asarray(data[(row, column)][1], dtype=float))
                 for row, column, coef in test.terms]
        estimate = float(sum(coef * x.mean() for coef, x in parts))
        pieces = [coef ** 2 * x.var(ddof=1) / x.size for coef, x in parts]
        se = math.sqrt(sum(pieces))
        dof = (sum(pieces) ** 2 / sum(p ** 2 / (x.size - 1) for p, (_, x) in zip(pieces, parts))
               if se > 0 else math.inf)
        method = WELCH
        n_hi = sum(x.size for coef, x in parts if coef > 0)
        n_lo = sum(x.size for coef, x in parts if coef < 0)
    low, high = _interval(estimate, se, dof, confidence)
    _, strict_high = _interval(estimate, se, dof, 1 - (1 - confidence) / n_tests)
    margin = test.margin
    status = REPRODUCED if low > margin else CONTRADICTED if strict_high < margin else UNDECIDED
    p_value = (float(2 * stats.t.sf(abs(estimate - margin) / se, dof)) if se > 0
               else float(estimate == margin))
    return Comparison(test.higher, test.lower, estimate, low, high, n_hi, n_lo, status,
                      test.label, margin, method, dof, p_value, test.terms)


def compare(higher_values: list[float], lower_values: list[float], higher: str, lower: str,
            confidence: float = 0.95, n_pairs: int = 1, higher_seeds: list | None = None,
            lower_seeds: list | None = None) -> Comparison:
    """``higher − lower`` for two rows (paired when both seed lists share ≥ 2 seeds)."""
    test = Test(f'{higher} − {lower}', ((higher, '', 1.0), (lower, '', -1.0)), 0.0, higher, lower)
    data = {(higher, ''): (higher_seeds, list(higher_values)),
            (lower, ''): (lower_seeds, list(lower_values))}
    return contrast(test, data, confidence, n_pairs)


def seeds_needed(paired_sd: float, effect: float = 2.0, confidence: float = 0.95,
                 max_seeds: int = 1000) -> int:
    """The fewest seeds at which a paired difference of ``effect`` points is decidable.

    Decidable: the half-width of the paired t-interval, ``t_{n-1} · paired_sd / √n``, is below
    ``effect`` (an observed difference of ``effect`` then excludes 0). ``paired_sd``: the
    standard deviation over seeds of the per-seed differences between two rows (measured from
    the records, e.g. on the validation split). Example: 1.5 points → 5 seeds at 95 %
    (t_4 = 2.776: half-width 1.86; 4 seeds give 2.39). Raises ``ValueError`` for a
    non-positive ``effect`` or a negative ``paired_sd``, and when ``max_seeds`` do not suffice.
    """
    if effect <= 0 or paired_sd < 0 or not 0 < confidence < 1:
        raise ValueError(f'seeds_needed needs effect > 0, paired_sd >= 0 and confidence in '
                         f'(0, 1); got {effect}, {paired_sd}, {confidence}')
    for n in range(MIN_SEEDS, max_seeds + 1):
        half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) * paired_sd / math.sqrt(n)
        if half < effect:
            return n
    raise ValueError(f'more than {max_seeds} seeds needed for a {effect}-point difference at a '
                     f'paired spread of {paired_sd}')


def _interval(estimate: float, se: float, dof: float, confidence: float) -> tuple[float, float]:
    if se == 0:
        return estimate, estimate
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, dof)) * se
    return estimate - half, estimate + half


def _shared_seeds(parts: list[SeededValues]) -> list:
    """Seeds every part has (in the first part's order); [] when any part's seeds are unknown."""
    if any(seeds is None for seeds, _ in parts):
        return []
    common = set(parts[0][0])
    for seeds, _ in parts[1:]:
        common &= set(seeds)
    return [s for s in parts[0][0] if s in common]


def _by_seed(part: SeededValues, seeds: list) -> list[float]:
    lookup = dict(zip(part[0], part[1]))
    return [lookup[s] for s in seeds]


def describe(comparisons: tuple[Comparison, ...], column: str, confidence: float = 0.95,
             decimals: int | None = None) -> str:
    """One line: the deciding test's contrast and interval (plus counts for several tests);
    ``decimals`` default: :func:`value_decimals` of ``column``."""
    decimals = value_decimals(column) if decimals is None else decimals
    weakest = headline(comparisons)
    if weakest.method == PAIRED:
        n_text = f'n = {weakest.n_higher} paired seeds'
    else:
        n_text = f'n = {weakest.n_higher} vs {weakest.n_lower} seeds'
    margin = (f' against a margin of {weakest.margin:+.{decimals}f}' if weakest.margin else '')
    text = (f'{weakest.label or f"{weakest.higher} − {weakest.lower}"} = '
            f'{weakest.diff:+.{decimals}f} [{confidence:.0%} {weakest.method} CI '
            f'{weakest.ci_low:+.{decimals}f}, {weakest.ci_high:+.{decimals}f}]{margin} on '
            f'{column} ({n_text}, p {_p_text(weakest.p_value)})')
    if len(comparisons) == 1:
        return text
    counts = {s: sum(c.status == s for c in comparisons) for s in (REPRODUCED, CONTRADICTED)}
    role = 'contradicting' if weakest.status == CONTRADICTED else 'smallest margin'
    strict = 1 - (1 - confidence) / len(comparisons)
    return (f'{counts[REPRODUCED]}/{len(comparisons)} tests reproduced, '
            f'{counts[CONTRADICTED]} contradicted (tested at the Bonferroni level {strict:.1%}); '
            f'{role}: {text}')


@dataclass(frozen=True)
class FamilyVerdict:
    """A claim's verdict read family-wise: ``p``, the claim's own p-value (below), and
    ``p_holm``, Holm's adjustment over the claims of its family (a table's claims) at level
    ``alpha``; :attr:`stands`: the claim is decided (reproduced or contradicted) and
    ``p_holm`` < ``alpha``."""

    claim: Claim
    verdict: Verdict
    p: float
    p_holm: float
    alpha: float = 0.05

    @property
    def stands(self) -> bool:
        return self.verdict.status in (REPRODUCED, CONTRADICTED) and self.p_holm < self.alpha


def claim_p(verdict: Verdict) -> float:
    """One p-value per claim, matching how :func:`judge` decides it (our choice):

    - contradicted: one contradicting test suffices, each tested at the Bonferroni level, so the
      smallest contradicting test's p times the number of tests (capped at 1);
    - otherwise: reproduced needs every test (an intersection-union test), so the largest p
      over the tests.

    NaN when the verdict has no comparisons (a row missing, fewer than 2 seeds).
    """
    tests = verdict.comparisons
    if not tests:
        return math.nan
    if verdict.status == CONTRADICTED:
        worst = min(c.p_value for c in tests if c.status == CONTRADICTED)
        return min(1.0, worst * len(tests))
    return max(c.p_value for c in tests)


def familywise(verdicts: Sequence[tuple[Claim, Verdict]], alpha: float = 0.05
               ) -> list[FamilyVerdict]:
    """Holm's correction over a family of claims (e.g. one table's): which decided verdicts
    still stand when the family, not each claim, is held at level ``alpha``.

    Each verdict is decided at its own level (:func:`judge`); a table of nine claims at 95 %
    each expects about one false decision in two such tables. Claims without a p-value
    (:func:`claim_p` NaN) are left out of the family and never stand. Returns one
    :class:`FamilyVerdict` per input pair, in input order. Source: Holm (1979), via
    :func:`fusionbench.analysis.stats.holm`.
    """
    if not 0 < alpha < 1:
        raise ValueError(f'alpha must lie in (0, 1), got {alpha}')
    ps = [claim_p(verdict) for _, verdict in verdicts]
    tested = [i for i, p in enumerate(ps) if not math.isnan(p)]
    adjusted = dict(zip(tested, holm([ps[i] for i in tested])))
    out = []
    for i, (claim, verdict) in enumerate(verdicts):
        p_holm = adjusted.get(i, math.nan)
        out.append(FamilyVerdict(claim, verdict, ps[i], p_holm, alpha))
    return out


def p_value_text(p: float) -> str:
    """A p-value as the report prints it: ``< 0.001``, three significant digits below 0.1,
    two above, ``n/a`` for NaN.

    Three digits below 0.1 (our choice): with two, p = 0.0497 printed as "p = 0.05" beside a
    "reproduced" verdict, which reads as on the threshold.
    """
    if math.isnan(p):
        return 'n/a'
    return '< 0.001' if p < 1e-3 else f'{p:.3g}' if p < 0.1 else f'{p:.2g}'


def _p_text(p: float) -> str:
    """``p_value_text`` after ``p``: ``= 0.0497``, ``< 0.001``."""
    text = p_value_text(p)
    return text if text.startswith('<') else f'= {text}'


def headline(comparisons: tuple[Comparison, ...]) -> Comparison:
    """The test a verdict is quoted by: the strongest contradiction, else the weakest test
    (smallest estimate above its margin)."""
    contradicted = [c for c in comparisons if c.status == CONTRADICTED]
    return min(contradicted or comparisons, key=lambda c: c.diff - c.margin)


def _overall(comparisons: tuple[Comparison, ...]) -> str:
    statuses = {c.status for c in comparisons}
    if statuses == {REPRODUCED}:
        return REPRODUCED
    return CONTRADICTED if CONTRADICTED in statuses else UNDECIDED


def _row_values(df: pd.DataFrame, column: str, rows: tuple[str, ...]) -> dict[str, SeededValues]:
    """Per-seed ``(seeds, values)`` of ``rows`` in ``column``; accepts lists or the JSON arrays
    of a written table CSV. Seeds are None when the table has no ``<column>_seeds``."""
    present = df[df['row'].isin(rows)]
    seeds_column = f'{column}_seeds'
    all_seeds = (present[seeds_column] if seeds_column in df.columns
                 else [None] * len(present))
    out = {}
    for row, values, seeds in zip(present['row'], present[f'{column}_values'], all_seeds):
        values, seeds = _as_list(values), _as_list(seeds)
        if values is None:
            continue
        if seeds is not None and len(seeds) != len(values):
            seeds = None  # a malformed table: fall back to the unpaired test
        kept = [(s, float(v)) for s, v in zip(seeds or [None] * len(values), values)
                if not _isnan(v)]
        out[row] = (None if seeds is None else [s for s, _ in kept], [v for _, v in kept])
    return out


def _as_list(value: object) -> list | None:
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(value)
    return None


def _isnan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _seed_problem(row: str, column: str, data: SeededValues | None) -> str:
    where = f'row {row!r}'
    if not data or not data[1]:
        return f'{where} has no results in {column}'
    if len(data[1]) < MIN_SEEDS:
        return f'{where} has {len(data[1])} seed(s) in {column}, needs ≥ {MIN_SEEDS}'
    return ''


#: Table 2's two settings as columns: each baseline's commonly-used-setting mIoU (separate
#: networks) and its same-setting ensemble mIoU; CEN is read in ``ensemble_miou`` against both.
_TABLE2_SETTINGS = ('common_miou', 'ensemble_miou')

#: The paper's claims for Tables 1 and 5, keyed by table name (Table 2's depend on the fusion
#: methods that opt in to it: :func:`table2_claims`).
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
    'table5': [
        Claim('table5.more_modalities_lower_fid', 'table5',
              'More input modalities give a lower FID (depth → +normal → +texture → +shade)',
              'monotone_decreasing', 'fid',
              ('depth', 'depth_normal', 'depth_normal_texture', 'depth_normal_texture_shade')),
    ],
}


def table2_claims(paper_rows: Sequence[str], additions: Sequence,
                  higher_is_better: bool = True) -> list[Claim]:
    """Table 2's claims over its generated rows (source: the paper, Section 4.2).

    ``higher_is_better``: the direction of the compared metric (mIoU: True), so "CEN
    outperforms" reads as ``greater_all`` or ``less_all`` (:func:`better_kind`).

    ``paper_rows``: the row ids of the paper's baselines (every stage of each method whose card
    has a Table 2 row in the paper); ``additions``: the cards of the methods that opt in to
    Table 2 without being in the paper (e.g. averaging): each gets the same claim, named
    ``table2.cen_outperforms_<name>`` and marked as our addition.
    """
    outperforms = better_kind(higher_is_better, against_all=True)
    claims = [
        Claim('table2.cen_outperforms_in_both_settings', 'table2',
              'On both settings CEN always outperforms the paper\'s baselines (concat, align, '
              'self-attention at every fusion stage) by an average improvement of more than 2 '
              "points: CEN's ensemble mIoU against each baseline's commonly-used-setting mIoU and "
              'against its same-setting ensemble mIoU', outperforms, 'ensemble_miou',
              ('cen', *paper_rows), lower_columns=_TABLE2_SETTINGS, average_margin=2.0)]
    for card in additions:
        claims.append(Claim(
            f'table2.cen_outperforms_{card.name}', 'table2',
            f"The same claim against {card.display} (our addition, not in the paper's Table 2): "
            'CEN beats it at every stage in both settings, by more than 2 points on average',
            outperforms, 'ensemble_miou',
            ('cen', *(f'{card.name}_{stage}' for stage in card.stages)),
            lower_columns=_TABLE2_SETTINGS, average_margin=2.0))
    return claims


def ablation_claims(rows: Sequence[str], additions: set | frozenset = frozenset(),
                    higher_is_better: bool = True) -> list[Claim]:
    """The ``ablations`` table's claims (source: the paper, §4.1, "All above ablations support
    the optimal design of our architecture"): CEN's ensemble mIoU beats each variant's, one
    claim per variant row (``ablations.cen_beats_<row>``), each a paired per-seed test like
    Table 1's. ``additions``: row ids not in the paper (marked as our addition)."""
    beats = better_kind(higher_is_better)
    return [Claim(f'ablations.cen_beats_{row}', 'ablations',
                  f'CEN beats the ablation {row!r} on the ensemble mIoU'
                  + (" (our addition, not in the paper's §4.1)" if row in additions else ''),
                  beats, 'ensemble_miou', ('cen', row))
            for row in rows]


def table4_claims(baselines: dict[str, Sequence[str]], higher_is_better: bool = False
                  ) -> list[Claim]:
    """Table 4's claims (source: the paper, §4.2 and Table 4): per translation task, CEN beats
    every baseline at every fusion stage in FID.

    ``baselines``: ``{task row-id prefix: the baselines' row ids}`` (every stage of every method
    whose card opts in to Table 4); CEN's row is ``<prefix>.cen``. ``higher_is_better``: FID's
    direction (False), so "beats" reads as ``less_all`` (:func:`better_kind`).
    """
    beats = better_kind(higher_is_better, against_all=True)
    return [Claim(f'table4.{prefix}.cen_beats_all', 'table4',
                  f'{prefix}: CEN has a lower FID than every baseline at every fusion stage',
                  beats, 'fid', (f'{prefix}.cen', *rows))
            for prefix, rows in baselines.items()]

