"""The effects figure: the row differences a table's claims test, ours beside the paper's."""
import math

import pytest

from fusionbench.analysis.claims import Claim, Comparison, Verdict
from fusionbench.experiments.tables import get_table
from fusionbench.report.effects import effects, paper_effect, plot_effects

TABLE1 = get_table('table1')
TERMS = (('cen', 'ensemble_miou', 1.0), ('private_bn_l1_half', 'ensemble_miou', -1.0))


def comparison(diff, low, high, terms=TERMS, label='cen − private_bn_l1_half'):
    return Comparison(higher='cen', lower='private_bn_l1_half', diff=diff, ci_low=low,
                      ci_high=high, n_higher=3, n_lower=3, status='reproduced', label=label,
                      terms=terms)


def claim(name, column='ensemble_miou'):
    return Claim(f'table1.{name}', 'table1', name, 'greater', column,
                 ('cen', 'private_bn_l1_half'))


def test_paper_effect_by_hand():
    # the paper's Table 1, ensemble: CEN 51.1, private BNs + half-channel ℓ1 47.7
    assert paper_effect(TABLE1, comparison(3.0, 2.0, 4.0)) == pytest.approx(51.1 - 47.7)
    # a row the paper does not have (the shuffled-label control): no paper effect
    control = (('cen', 'ensemble_miou', 1.0), ('cen_shuffled_labels', 'ensemble_miou', -1.0))
    assert paper_effect(TABLE1, comparison(3.0, 2.0, 4.0, terms=control)) is None
    assert paper_effect(TABLE1, comparison(3.0, 2.0, 4.0, terms=())) is None


def test_each_difference_once_and_only_finite_ones():
    same = comparison(3.1, 2.9, 3.3)
    verdicts = [(claim('helps'), Verdict('reproduced', '', (same,))),
                (claim('hurts'), Verdict('contradicted', '', (same,))),          # same pair
                (claim('rgb', 'rgb_miou'), Verdict('reproduced', '', (same,))),  # other column
                (claim('none'), Verdict('undecided', '', (comparison(
                    math.nan, math.nan, math.nan, label='x − y'),)))]
    rows = effects(TABLE1, verdicts)
    assert [(r['label'], r['column']) for r in rows] == [
        ('cen − private_bn_l1_half', 'ensemble_miou'), ('cen − private_bn_l1_half', 'rgb_miou')]
    assert rows[0]['ours'] == 3.1 and (rows[0]['low'], rows[0]['high']) == (2.9, 3.3)
    assert rows[0]['paper'] == pytest.approx(3.4)


def test_the_figure_is_written_or_skipped(tmp_path):
    verdicts = [(claim('helps'), Verdict('reproduced', '', (comparison(3.1, 2.9, 3.3),)))]
    path = plot_effects(TABLE1, verdicts, tmp_path / 'plots' / 'table1_effects.png')
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and path.stat().st_size > 5000
    assert plot_effects(TABLE1, [], tmp_path / 'none.png') is None
    assert not (tmp_path / 'none.png').exists()
