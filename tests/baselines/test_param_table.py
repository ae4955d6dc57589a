"""Table 2's parameter accounting against the paper: every "Params in total" and "Params used for
fusion" cell, from LW-RefineNet-ResNet-101 models built for real (paper protocol).

Tolerances: 0.1 M for uni-modal, CEN and concat (designs fixed by the architecture), 5 % for
align and self-attention (designs inferred from the counts).
"""
from __future__ import annotations

import pytest

from fusionbench.cli import main
from fusionbench.experiments.param_table import (ParamCell, format_param_table, param_rows,
                                                 tolerance_m)
from fusionbench.experiments.tables import get_table
from fusionbench.fusion.base import fusion_cards


@pytest.fixture(scope='module')
def cells() -> list[ParamCell]:
    spec = get_table('table2')
    return param_rows(spec, 'paper', rows=[r.id for r in spec.rows if r.paper_row])


def ours(cells, row, column):
    return next(c for c in cells if c.row == row and c.column == column).ours_m


@pytest.mark.slow
def test_every_paper_cell_is_within_tolerance(cells):
    compared = [c for c in cells if c.paper_m is not None]
    # 2 uni-modal × 2 totals, CEN × 2, 12 baselines × 3 columns
    assert len(compared) == 4 + 2 + 36
    bad = [f'{c.row}/{c.column}: ours {c.ours_m:.2f} vs paper {c.paper_m}' for c in compared
           if not c.ok]
    assert not bad, bad


@pytest.mark.slow
def test_exact_cells_round_to_the_papers_numbers(cells):
    exact = {('unimodal_rgb', 'params_same_m'): 118.1, ('cen', 'params_same_m'): 118.2,
             ('cen', 'fusion_params_m'): 0.0, ('concat_late', 'params_common_m'): 169.0,
             ('concat_middle', 'params_common_m'): 147.7, ('concat_late', 'fusion_params_m'): 8.4,
             ('concat_middle', 'params_same_m'): 120.3, ('align_mmd_all', 'params_common_m'): 291.9,
             ('align_mmd_late', 'fusion_params_m'): 41.9,
             ('self_attention_late', 'fusion_params_m'): 84.9,
             ('self_attention_all', 'params_same_m'): 231.0}
    got = {key: round(ours(cells, *key), 1) for key in exact}
    assert got == exact


@pytest.mark.slow
def test_commonly_used_totals_follow_the_topology(cells):
    encoder, decoder = 42.50016, 75.596072
    # concat late: two encoders, one decoder, the fusion conv
    assert ours(cells, 'concat_late', 'params_common_m') == pytest.approx(
        2 * encoder + decoder + ours(cells, 'concat_late', 'fusion_params_m'), abs=0.01)
    # align: two complete networks + the projection head (+ α)
    assert ours(cells, 'align_mmd_late', 'params_common_m') == pytest.approx(
        2 * (encoder + decoder) + ours(cells, 'align_mmd_late', 'fusion_params_m'), abs=0.01)


def test_tolerance_policy():
    assert tolerance_m(129.4) == 0.1
    assert tolerance_m(291.9, inferred=True) == pytest.approx(14.595)
    assert tolerance_m(5.4, inferred=True) == pytest.approx(0.27)
    # the cards say which designs are inferred; a cell carries its method's flag
    assert {c.name for c in fusion_cards('table2') if c.inferred_design} == {
        'align_mmd', 'self_attention'}
    cell = ParamCell('align_mmd_all', 'Align (MMD) (all)', 'params_common_m', 'common', 'total',
                     300_000_000, 291.9, 'align_mmd', True)
    assert cell.tolerance_m == pytest.approx(14.595) and cell.ok


def test_format_marks_cells_outside_tolerance():
    good = ParamCell('concat_late', 'Concat (late)', 'params_common_m', 'common', 'total',
                     168_990_000, 169.0)
    bad = ParamCell('concat_all', 'Concat (all)', 'fusion_params_m', 'same', 'fusion',
                    10_000_000, 11.2)
    lines = format_param_table([good, bad], 'title')
    assert lines[2].endswith('ok') and lines[3].endswith('OUT')
    assert '1 outside tolerance' in lines[-1]


def test_cli_params_of_a_table_under_the_smoke_protocol(capsys):
    assert main(['params', 'table2', '--protocol', 'smoke']) == 0
    out = capsys.readouterr().out
    assert 'not judged' in out and 'concat_late' in out and 'average_all' in out
