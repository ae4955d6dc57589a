"""Claim verdicts from per-seed values: one hand-built case per verdict."""
import pandas as pd
import pytest

from fusionbench.experiments.claims import (CONTRADICTED, PAPER_CLAIMS, REPRODUCED, UNDECIDED,
                                            Claim, judge)
from fusionbench.experiments.paper import load_paper_table


def table(**rows):
    """A minimal aggregated table: ``row`` and per-seed ``score_values``."""
    return pd.DataFrame({'row': list(rows), 'score_values': list(rows.values())})


GREATER = Claim('t.x_beats_y', 't', 'x beats y', 'greater', 'score', ('x', 'y'))


def test_reproduced_when_the_difference_ci_is_above_zero():
    verdict = judge(GREATER, table(x=[51.0, 51.5, 52.0], y=[47.0, 47.5, 48.0]))
    assert verdict.status == REPRODUCED
    assert 'x − y = +4.0' in verdict.detail and '95% CI' in verdict.detail


def test_values_read_back_from_a_table_csv_work():
    df = pd.DataFrame({'row': ['x', 'y'], 'score_values': ['[51.0, 51.5, 52.0]', '[47.0, 47.5]']})
    assert judge(GREATER, df).status == REPRODUCED


def test_contradicted_when_the_difference_ci_is_below_zero():
    verdict = judge(GREATER, table(x=[40.0, 40.5, 41.0], y=[47.0, 47.5, 48.0]))
    assert verdict.status == CONTRADICTED
    assert verdict.comparisons[0].ci_high < 0


def test_undecided_when_the_ci_straddles_zero():
    verdict = judge(GREATER, table(x=[45.0, 50.0, 55.0], y=[46.0, 50.0, 53.0]))
    assert verdict.status == UNDECIDED
    assert verdict.comparisons[0].ci_low < 0 < verdict.comparisons[0].ci_high


@pytest.mark.parametrize('df,reason', [
    (table(x=[1.0, 2.0]), "row 'y' has no results"),
    (table(x=[1.0, 2.0], y=[0.5]), "row 'y' has 1 seed(s)"),
    (table(x=[1.0, 2.0], y=[]), "row 'y' has no results"),
    (pd.DataFrame({'row': ['x', 'y'], 'score_mean': [1.0, 0.0]}), 'keep_values=True'),
])
def test_undecided_with_a_reason(df, reason):
    verdict = judge(GREATER, df)
    assert verdict.status == UNDECIDED and reason in verdict.detail


def test_less_flips_the_direction():
    claim = Claim('t.lower', 't', 'x has a lower FID', 'less', 'fid', ('x', 'y'))
    df = pd.DataFrame({'row': ['x', 'y'], 'fid_values': [[60.0, 61.0], [80.0, 81.0]]})
    verdict = judge(claim, df)
    assert verdict.status == REPRODUCED
    assert 'y − x = +20.00' in verdict.detail  # FID: 2 decimals


def test_greater_all_needs_every_pair():
    claim = Claim('t.x_beats_all', 't', 'x beats all', 'greater_all', 'score', ('x', 'a', 'b'))
    assert judge(claim, table(x=[51.0, 51.2, 51.4], a=[47.0, 47.2], b=[48.0, 48.4])).status \
        == REPRODUCED
    undecided = judge(claim, table(x=[51.0, 51.2, 51.4], a=[47.0, 47.2], b=[45.0, 51.0, 57.0]))
    assert undecided.status == UNDECIDED
    assert '1/2 pairs reproduced' in undecided.detail and 'x − b' in undecided.detail
    contradicted = judge(claim, table(x=[51.0, 51.2, 51.4], a=[47.0, 47.2], b=[60.0, 60.2]))
    assert contradicted.status == CONTRADICTED
    assert 'contradicting: x − b' in contradicted.detail


def test_monotone_decreasing_chain():
    claim = Claim('t.mono', 't', 'more is lower', 'monotone_decreasing', 'fid', ('a', 'b', 'c'))
    assert claim.pairs() == [('a', 'b'), ('b', 'c')]
    df = pd.DataFrame({'row': ['a', 'b', 'c'],
                       'fid_values': [[110.0, 112.0], [85.0, 86.0], [60.0, 61.0]]})
    assert judge(claim, df).status == REPRODUCED
    df.at[2, 'fid_values'] = [95.0, 96.0]
    assert judge(claim, df).status == CONTRADICTED
    increasing = Claim('t.up', 't', 'up', 'monotone_increasing', 'fid', ('a', 'b', 'c'))
    assert increasing.pairs() == [('b', 'a'), ('c', 'b')]


def test_invalid_claims_are_refused():
    with pytest.raises(ValueError, match='unknown kind'):
        Claim('t.bad', 't', 'bad', 'bigger', 'score', ('x', 'y'))
    with pytest.raises(ValueError, match='cannot take rows'):
        Claim('t.bad', 't', 'bad', 'greater', 'score', ('x', 'y', 'z'))
    with pytest.raises(ValueError, match='cannot take rows'):
        Claim('t.bad', 't', 'bad', 'greater_all', 'score', ('x', 'x'))


def test_paper_claims_hold_on_the_papers_own_numbers():
    """Every paper claim names rows and columns of the paper's tables, and the paper satisfies it."""
    paper_columns = {'table1': {'ensemble_miou': 'ensemble_miou'},
                     'table2': {'ensemble_miou': 'same_ensemble_miou'},
                     'table5': {'fid': 'fid'}}
    assert set(PAPER_CLAIMS) == {'table1', 'table2', 'table5'}
    assert len(PAPER_CLAIMS['table1']) == 4
    for name, claims in PAPER_CLAIMS.items():
        paper = load_paper_table(name).set_index('row')
        for claim in claims:
            assert claim.table == name
            column = paper_columns[name][claim.column]
            for higher, lower in claim.pairs():
                assert paper.loc[higher, column] > paper.loc[lower, column], claim.id
