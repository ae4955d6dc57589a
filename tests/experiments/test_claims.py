"""Claim verdicts from per-seed values: one hand-built case per verdict, paired and Welch."""
import math

import pandas as pd
import pytest
from scipy import stats

from fusionbench.analysis.claims import (CONTRADICTED, PAIRED, PAPER_CLAIMS, REPRODUCED,
                                            UNDECIDED, WELCH, Claim, compare, judge,
                                            seeds_needed)
from fusionbench.analysis.paper import load_paper_table
from fusionbench.experiments.tables import get_table


def table(**rows):
    """A minimal aggregated table: ``row`` and per-seed ``score_values``."""
    return pd.DataFrame({'row': list(rows), 'score_values': list(rows.values())})


GREATER = Claim('t.x_beats_y', 't', 'x beats y', 'greater', 'score', ('x', 'y'))


def test_reproduced_when_the_difference_ci_is_above_zero():
    verdict = judge(GREATER, table(x=[51.0, 51.5, 52.0], y=[47.0, 47.5, 48.0]))
    assert verdict.status == REPRODUCED
    assert 'x − y = +4.0' in verdict.detail and '95% Welch t CI' in verdict.detail


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
    (table(x=[1.0, 2.0]), "row 'y' has no results in score"),
    (table(x=[1.0, 2.0], y=[0.5]), "row 'y' has 1 seed(s) in score"),
    (table(x=[1.0, 2.0], y=[]), "row 'y' has no results in score"),
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
    assert '1/2 tests reproduced' in undecided.detail and 'x − b' in undecided.detail
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
    """Every paper claim's tests hold on the paper's numbers (rows the paper has)."""
    paper_columns = {'table1': {'ensemble_miou': 'ensemble_miou'},
                     'table2': {'ensemble_miou': 'same_ensemble_miou',
                                'common_miou': 'common_miou'},
                     'table5': {'fid': 'fid'}}
    assert set(PAPER_CLAIMS) == {'table1', 'table5'}
    assert len(PAPER_CLAIMS['table1']) == 4
    checked = 0
    # Table 2's claims follow the fusion methods that opt in to it (generated with its rows,
    # whose ids are the registry names; the paper's keys are the rows' paper_row)
    table2 = get_table('table2')
    paper_key = {'table2': {r.id: r.paper_row for r in table2.rows}}
    for name, claims in {**PAPER_CLAIMS, 'table2': table2.claims}.items():
        paper = load_paper_table(name).set_index('row')
        key = paper_key.get(name, {})
        for claim in claims:
            assert claim.table == name
            if not {key.get(r, r) for r in claim.rows} <= set(paper.index):  # our additions
                continue
            for test in claim.tests():
                value = sum(coef * paper.loc[key.get(row, row), paper_columns[name][column]]
                            for row, column, coef in test.terms)
                assert value > test.margin, (claim.id, test.label)
                checked += 1
    assert checked >= 4 + 26 + 3


# ----------------------------------------------------------------------------- paired / Welch
PRIVATE_BN = [11.13, 12.38, 11.37]  # committed mini Table 1 records, ensemble mIoU, seeds 0-2
UNSHARED = [12.98, 13.31, 15.75]


def test_welch_example_from_the_committed_records_is_undecided():
    """private_bn − unshared = −2.4: the bootstrap said contradicted; Welch p = 0.095."""
    c = compare(PRIVATE_BN, UNSHARED, 'private_bn', 'unshared')
    assert c.method == WELCH and c.status == UNDECIDED
    reference = stats.ttest_ind(PRIVATE_BN, UNSHARED, equal_var=False)
    assert c.p_value == pytest.approx(reference.pvalue) and round(c.p_value, 3) == 0.095
    low, high = reference.confidence_interval(0.95)
    assert (c.ci_low, c.ci_high) == pytest.approx((low, high))
    assert c.ci_low == pytest.approx(-5.6, abs=0.05) and c.ci_high == pytest.approx(0.8, abs=0.05)
    assert c.diff == pytest.approx(-2.38667, abs=1e-5)


def test_paired_interval_hand_computed_and_matches_scipy():
    # differences 1.2, 0.8, 1.3: mean 1.1, s = sqrt(0.14 / 2) = 0.264575, se = 0.152753,
    # t(0.975, 2) = 4.302653: CI 1.1 ± 0.657241
    x, y = [10.2, 11.8, 9.3], [9.0, 11.0, 8.0]
    c = compare(x, y, 'x', 'y', higher_seeds=[0, 1, 2], lower_seeds=[0, 1, 2])
    assert c.method == PAIRED and c.n_higher == c.n_lower == 3 and c.dof == 2
    assert c.diff == pytest.approx(1.1)
    assert (c.ci_low, c.ci_high) == pytest.approx((1.1 - 0.657241, 1.1 + 0.657241), abs=1e-5)
    assert c.status == REPRODUCED
    reference = stats.ttest_rel(x, y)
    assert (c.ci_low, c.ci_high) == pytest.approx(tuple(reference.confidence_interval(0.95)))
    assert c.p_value == pytest.approx(reference.pvalue)
    # the same numbers unpaired: the seed-to-seed spread swamps the difference
    assert compare(x, y, 'x', 'y').status == UNDECIDED


def test_pairing_uses_the_shared_seeds_in_seed_order():
    x, y = [10.2, 11.8, 9.3, 50.0], [8.0, 9.0, 11.0]
    c = compare(x, y, 'x', 'y', higher_seeds=[0, 1, 2, 3], lower_seeds=[2, 0, 1])
    assert c.method == PAIRED and c.n_higher == 3 and c.diff == pytest.approx(1.1)
    # fewer than 2 shared seeds: Welch on all values
    c = compare([1.0, 2.0], [0.0, 0.5], 'x', 'y', higher_seeds=[0, 1], lower_seeds=[2, 3])
    assert c.method == WELCH and (c.n_higher, c.n_lower) == (2, 2)


def test_judge_pairs_rows_by_their_seed_columns():
    df = pd.DataFrame({'row': ['x', 'y'], 'score_values': [[10.2, 11.8, 9.3], [9.0, 11.0, 8.0]],
                       'score_seeds': [[0, 1, 2], [0, 1, 2]]})
    verdict = judge(GREATER, df)
    assert verdict.status == REPRODUCED and '95% paired t CI +0.4, +1.8' in verdict.detail
    assert 'n = 3 paired seeds' in verdict.detail
    as_csv = df.assign(score_values=['[10.2, 11.8, 9.3]', '[9.0, 11.0, 8.0]'],
                       score_seeds=['[0, 1, 2]', '[0, 1, 2]'])
    assert judge(GREATER, as_csv).status == REPRODUCED
    assert judge(GREATER, df.drop(columns='score_seeds')).status == UNDECIDED  # Welch


# ----------------------------------------------------------------------------- Table 2's claim
T2 = Claim('t2.both', 't2', 'both settings', 'greater_all', 'ens', ('cen', 'a', 'b'),
           lower_columns=('common', 'ens'), average_margin=2.0)


def t2_table(cen, a_common, a_ens, b_common, b_ens):
    seeds = [[0, 1, 2]] * 3
    return pd.DataFrame({'row': ['cen', 'a', 'b'],
                         'ens_values': [cen, a_ens, b_ens], 'ens_seeds': seeds,
                         'common_values': [[math.nan] * 3, a_common, b_common],
                         'common_seeds': seeds})


def test_table2_claim_tests_both_settings_and_the_average_margin():
    labels = [t.label for t in T2.tests()]
    assert labels == ['cen − a (common)', 'cen − b (common)', 'cen − mean of 2 rows (common)',
                      'cen − a', 'cen − b', 'cen − mean of 2 rows (ens)']
    average = T2.tests()[2]
    assert average.terms == (('cen', 'ens', 1.0), ('a', 'common', -0.5), ('b', 'common', -0.5))
    assert average.margin == 2.0
    cen = [50.0, 51.0, 52.0]
    # leads of 4 and 3 points in both settings, the same every seed: average 3.5 > 2
    verdict = judge(T2, t2_table(cen, [46.0, 47.0, 48.0], [46.0, 47.0, 48.0],
                                 [47.0, 48.0, 49.0], [47.0, 48.0, 49.0]))
    assert verdict.status == REPRODUCED and '6/6 tests reproduced' in verdict.detail


def test_table2_claim_fails_on_a_small_average_margin_or_one_setting():
    cen = [50.0, 51.0, 52.0]
    # beats every baseline in both settings, but by 1 point on average: contradicted
    small = judge(T2, t2_table(cen, *[[49.0, 50.0, 51.0]] * 4))
    assert small.status == CONTRADICTED
    assert 'contradicting: cen − mean of 2 rows' in small.detail and 'margin of +2.0' in small.detail
    # a big lead in the same setting, none in the commonly-used one: contradicted there
    one = judge(T2, t2_table(cen, [52.0, 53.0, 54.0], [40.0, 41.0, 42.0],
                             [40.0, 41.0, 42.0], [40.0, 41.0, 42.0]))
    assert one.status == CONTRADICTED
    assert {c.label for c in one.comparisons if c.status == CONTRADICTED} == {'cen − a (common)'}


def test_table2_claims_cover_the_papers_baselines_and_averaging_apart():
    spec = get_table('table2')
    claims = {c.id: c for c in spec.claims}
    assert set(claims) == {'table2.cen_outperforms_in_both_settings',
                           'table2.cen_outperforms_average'}
    paper = claims['table2.cen_outperforms_in_both_settings']
    assert paper.rows[0] == 'cen' and len(paper.rows) == 13
    assert {spec.row(r).method for r in paper.rows[1:]} == {'concat', 'align_mmd',
                                                            'self_attention'}
    assert {spec.row(r).paper_row.rsplit('_', 1)[0] for r in paper.rows[1:]} == {
        'concat', 'align', 'self_att'}
    assert paper.lower_columns == ('common_miou', 'ensemble_miou') and paper.average_margin == 2
    averaging = claims['table2.cen_outperforms_average']
    assert averaging.rows[1:] == ('average_early', 'average_middle', 'average_late',
                                  'average_all')


def test_claim_options_are_checked():
    with pytest.raises(ValueError, match='average_margin'):
        Claim('t.bad', 't', 'bad', 'greater', 'score', ('x', 'y'), average_margin=2.0)
    with pytest.raises(ValueError, match='lower_columns'):
        Claim('t.bad', 't', 'bad', 'monotone_increasing', 'score', ('x', 'y'),
              lower_columns=('other',))


def test_seeds_needed_for_a_decidable_two_point_difference():
    # 1.5 points of paired spread: 4 seeds give t_3 · 1.5 / 2 = 2.39, 5 give t_4 · 1.5 / √5 = 1.86
    assert seeds_needed(1.5) == 5
    assert seeds_needed(0.5) == 3  # t_1 · 0.5 / √2 = 4.49 ≥ 2; t_2 · 0.5 / √3 = 1.24
    assert seeds_needed(0.0) == 2
    assert seeds_needed(1.5, effect=1.0) > seeds_needed(1.5)
    with pytest.raises(ValueError, match='effect > 0'):
        seeds_needed(1.0, effect=0.0)
    with pytest.raises(ValueError, match='more than 3 seeds'):
        seeds_needed(10.0, max_seeds=3)


def test_p_values_near_the_level_keep_three_digits():
    """p = 0.0497 is not printed as "p = 0.05" beside a verdict (the mini Table 1 case)."""
    from fusionbench.analysis.claims import _p_text
    assert [_p_text(p) for p in (0.0496808, 0.027, 0.19, 0.0004, float('nan'))] == [
        '= 0.0497', '= 0.027', '= 0.19', '< 0.001', '= n/a']
    from fusionbench.analysis.claims import p_value_text  # the report's Holm lines share it
    assert [p_value_text(p) for p in (0.0496808, 0.19, 0.0004)] == ['0.0497', '0.19', '< 0.001']


def _verdict(status, *tests):
    """A verdict with comparisons of the given ``(status, p)``."""
    from fusionbench.analysis.claims import Comparison, Verdict
    return Verdict(status, 'd', tuple(Comparison('a', 'b', 1.0, 0.5, 1.5, 3, 3, s, p_value=p)
                                      for s, p in tests))


def test_claim_p_follows_how_the_verdict_is_decided():
    from fusionbench.analysis.claims import CONTRADICTED, REPRODUCED, UNDECIDED, Verdict, claim_p
    # reproduced needs every test: the largest p
    assert claim_p(_verdict(REPRODUCED, (REPRODUCED, 0.01), (REPRODUCED, 0.03))) == 0.03
    # contradicted by one test at the Bonferroni level: smallest contradicting p x 2 tests
    assert claim_p(_verdict(CONTRADICTED, (REPRODUCED, 0.001),
                            (CONTRADICTED, 0.02))) == pytest.approx(0.04)
    assert claim_p(_verdict(CONTRADICTED, (CONTRADICTED, 0.6), (CONTRADICTED, 0.7))) == 1.0
    assert claim_p(_verdict(UNDECIDED, (UNDECIDED, 0.2))) == 0.2
    assert math.isnan(claim_p(Verdict(UNDECIDED, 'row missing')))


def test_familywise_holm_over_a_tables_claims_by_hand():
    from fusionbench.analysis.claims import (CONTRADICTED, REPRODUCED, UNDECIDED, Claim,
                                             Verdict, familywise)
    claim = Claim('t.x', 't', 'x', 'greater', 'ensemble_miou', ('a', 'b'))
    verdicts = [(claim, _verdict(REPRODUCED, (REPRODUCED, 0.01))),
                (claim, _verdict(CONTRADICTED, (CONTRADICTED, 0.04))),
                (claim, _verdict(UNDECIDED, (UNDECIDED, 0.03))),
                (claim, Verdict(UNDECIDED, 'row missing'))]
    out = familywise(verdicts)
    # three tested claims: p 0.01, 0.04, 0.03 -> Holm 0.03, 0.06, 0.06; the untested one is
    # left out of the family (NaN) and never stands
    assert [f.p_holm for f in out[:3]] == pytest.approx([0.03, 0.06, 0.06])
    assert [f.stands for f in out] == [True, False, False, False]
    assert math.isnan(out[3].p_holm)
    # at a looser family level the contradicted claim stands too (stands is derived)
    assert [f.stands for f in familywise(verdicts, alpha=0.1)] == [True, True, False, False]
    with pytest.raises(ValueError, match='alpha'):
        familywise(verdicts, alpha=1.5)
