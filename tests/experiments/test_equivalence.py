"""Paired equivalence of a rerun with the reference: TOST, Holm, cell matching, the command."""
import json
import math
from pathlib import Path

import pytest
from scipy import stats

from fusionbench.experiments.equivalence import compare_tables, holm, summary_line, tost_paired
from fusionbench.cli import main
from fusionbench.experiments.tables import get_table


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


def test_tost_by_hand():
    d = [0.1, -0.1, 0.2, 0.0]  # mean 0.05, sd sqrt(0.05 / 3), n 4
    se = math.sqrt(0.05 / 3) / 2
    p, low, high = tost_paired(d, margin=1.0, alpha=0.05)
    # the binding one-sided test is the one against +δ: t = (0.05 − 1) / se, df 3
    assert p == pytest.approx(stats.t.cdf((0.05 - 1.0) / se, 3))
    half = stats.t.ppf(0.95, 3) * se  # the 90 % interval of the mean
    assert (low, high) == pytest.approx((0.05 - half, 0.05 + half))
    assert p < 0.001
    p_far, *_ = tost_paired([2.0, 2.5], margin=1.0)
    assert p_far > 0.5  # the mean difference lies outside the margin
    assert tost_paired([0.3, 0.3], margin=1.0) == (0.0, 0.3, 0.3)  # zero spread, inside
    assert tost_paired([1.5, 1.5], margin=1.0)[0] == 1.0  # zero spread, outside
    with pytest.raises(ValueError, match='at least 2'):
        tost_paired([0.1], 1.0)
    with pytest.raises(ValueError, match='margin'):
        tost_paired([0.1, 0.2], 0.0)


def rec(row, seed, ensemble, rgb=20.0, depth=30.0, status='ok'):
    return {'table': 'table1', 'row': row, 'cell': 'main', 'seed': seed, 'status': status,
            'metrics': {'rgb': {'mIoU': rgb}, 'depth': {'mIoU': depth},
                        'ensemble': {'mIoU': ensemble}}}


def test_cells_are_matched_by_seed_and_corrected_together():
    reference = [rec('cen', s, 40.0 + s) for s in range(3)] + [rec('unshared', 0, 35.0)]
    yours = ([rec('cen', s, 40.0 + s + e) for s, e in enumerate((0.1, -0.2, 0.05))]
             + [rec('unshared', 0, 35.5), rec('unshared', 1, 99.0),  # seed 1: no partner
                rec('shared_bn', 0, 1.0, status='failed')])
    out = compare_tables(yours, reference, [get_table('table1')], margin=1.0, alpha=0.05)
    by = {(c.row, c.column): c for c in out}
    ens = by[('cen', 'ensemble_miou')]
    assert ens.seeds == (0, 1, 2) and ens.mean_diff == pytest.approx(-0.05 / 3)
    assert ens.equivalent is True and ens.p_holm >= ens.p
    assert by[('cen', 'rgb_miou')].equivalent is True  # identical values: zero spread
    single = by[('unshared', 'ensemble_miou')]
    assert single.seeds == (0,) and single.equivalent is None and math.isnan(single.p_holm)
    assert not any(c.row == 'shared_bn' for c in out)  # failed runs are not compared
    # Holm over the 3 testable cen columns: the largest p is multiplied by at most 1
    assert summary_line(out, 1.0, 0.05).startswith('3 of 3 comparisons equivalent within ±1')
    assert summary_line(out, 1.0, 0.05).endswith('3 not testable (fewer than 2 paired seeds)')


def write_runs(root: Path, records):
    folder = root / 'mini' / 'runs' / 'table1'
    folder.mkdir(parents=True)
    for i, r in enumerate(records):
        full = {'schema': 1, 'run_id': f'r{i}', 'protocol': 'mini', 'error': None,
                'params': {'total': 1}, **r}
        (folder / f"{r['row']}__main__seed{r['seed']}__r{i}.json").write_text(json.dumps(full))


def test_the_compare_command(tmp_path, capsys, monkeypatch):
    write_runs(tmp_path / 'ref', [rec('cen', s, 40.0 + s) for s in range(3)])
    write_runs(tmp_path / 'mine', [rec('cen', s, 40.0 + s + 0.1 * (-1) ** s) for s in range(3)])
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'mine'))
    out = tmp_path / 'cmp.md'
    assert main(['compare', '--reference', str(tmp_path / 'ref'), '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert '| table1 | `cen` | main | ensemble_miou | 3 |' in printed
    assert out.read_text().strip().endswith('family-wise α = 0.05)')
    # roots inside the working directory are named relative to it (no machine path written)
    monkeypatch.chdir(tmp_path)
    assert main(['compare', '--reference', str(tmp_path / 'ref'), '--out', str(out)]) == 0
    assert out.read_text().startswith('# mini: yours (mine) against the reference (ref)')
    # a tight margin: not equivalent, exit 1
    assert main(['compare', '--reference', str(tmp_path / 'ref'), '--margin', '0.05']) == 1
    capsys.readouterr()
    # bad input: one line, exit 2
    for argv, message in (
            (['compare', '--reference', str(tmp_path / 'mine')], 'the same folder'),
            (['compare', '--reference', str(tmp_path / 'nothing')], 'reference: no run records'),
            (['compare', '--reference', str(tmp_path / 'ref'), '--margin', '0'], '--margin'),
            (['compare', '--reference', str(tmp_path / 'ref'), '--margin', 'inf'], 'finite'),
            (['compare', '--reference', str(tmp_path / 'ref'), '--alpha', '0.7'], '--alpha')):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_the_report_compares_with_the_reference(tmp_path):
    from fusionbench.experiments.outputs import reference_records, reference_section
    write_runs(tmp_path / 'ref', [rec('cen', s, 40.0 + s) for s in range(3)])
    mine = [rec('cen', s, 40.0 + s + 0.1 * (-1) ** s) for s in range(3)]
    theirs = reference_records('mini', tmp_path / 'mine', reference=tmp_path / 'ref')
    assert len(theirs) == 3
    text = '\n'.join(reference_section([get_table('table1')], mine, theirs))
    assert text.startswith('## Against the reference')
    assert '| table1 | `cen` | main | ensemble_miou | 3 |' in text
    assert '3 of 3 comparisons equivalent within ±1' in text
    # the reference itself, or a reference without this protocol: no records, no section
    assert reference_records('mini', tmp_path / 'ref', reference=tmp_path / 'ref') == []
    assert reference_records('smoke', tmp_path / 'mine', reference=tmp_path / 'ref') == []
    assert reference_section([get_table('table1')], mine, []) == []


def test_compare_names_the_protocols_a_root_has(tmp_path, capsys, monkeypatch):
    """A results root without the compared protocol: one line naming the protocols it has and
    the option to change; never "run a table there" for the reference (`run` refuses it)."""
    write_runs(tmp_path / 'ref', [rec('cen', s, 40.0 + s) for s in range(2)])  # mini only
    smoke = tmp_path / 'mine' / 'smoke' / 'runs' / 'table1'
    smoke.mkdir(parents=True)
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'mine'))
    assert main(['compare', '--reference', str(tmp_path / 'ref')]) == 2  # yours: smoke only
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'fusionbench: yours: no run records under {tmp_path / "mine" / "mini" / "runs"}'
                   '; it has runs of smoke: pass --protocol smoke']
    assert main(['compare', '--protocol', 'smoke', '--reference', str(tmp_path / 'ref')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'fusionbench: reference: no run records under '
                   f'{tmp_path / "ref" / "smoke" / "runs"}; it has runs of mini only: pass '
                   '--protocol mini, or --reference a results root with smoke runs']
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'nothing'))
    assert main(['compare', '--reference', str(tmp_path / 'ref')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(
        'run a table with --protocol mini there first, or point $FUSIONBENCH_RESULTS at the '
        'results root of your run'), err


def test_the_report_says_why_it_has_no_reference_column(tmp_path):
    """Yours on another protocol than the reference's (smoke against mini), or a table the
    reference never ran: one sentence in "Against the reference", no cross-protocol columns."""
    from fusionbench.experiments.outputs import reference_gap, reference_section
    write_runs(tmp_path / 'ref', [rec('cen', s, 40.0 + s) for s in range(2)])
    table1, table2 = get_table('table1'), get_table('table2')
    mine = [rec('cen', s, 40.0) for s in range(2)]
    gap = reference_gap('smoke', tmp_path / 'mine', [table1], [], reference=tmp_path / 'ref')
    assert gap == ("The project's reference has no `smoke` runs (it has `mini`): no reference "
                   'column and nothing compared; the reference is compared only with runs of '
                   'its own protocol (`python -m fusionbench run <table>` with that protocol).')
    assert reference_section([table1], mine, [], gap) == ['## Against the reference', '', gap, '']
    theirs = [dict(r, protocol='mini') for r in mine]
    gap = reference_gap('mini', tmp_path / 'mine', [table1, table2], theirs,
                        reference=tmp_path / 'ref')
    assert gap == ("The project's reference has no `mini` runs of table2: no reference column "
                   'there and nothing compared.')
    assert gap in reference_section([table1, table2], mine, theirs, gap)
    # every table has reference runs, or the root is the reference itself: nothing to say
    assert reference_gap('mini', tmp_path / 'mine', [table1], theirs,
                         reference=tmp_path / 'ref') == ''
    assert reference_gap('smoke', tmp_path / 'ref', [table1], [],
                         reference=tmp_path / 'ref') == ''
    assert reference_section([table1], mine, []) == []


def test_numerics_notes_name_what_was_computed_differently():
    from fusionbench.experiments.equivalence import numerics_notes, numerics_paragraph

    def run(seed, threads, amp='fp32', device='cpu', **extra):
        return {**rec('cen', seed, 40.0), 'device': device, 'torch_threads': threads,
                'performance': {'amp': amp, 'deterministic': False},
                'versions': {'torch': '2.11.0'}, **extra}

    reference = [run(s, 1) for s in range(3)]
    assert numerics_notes([run(s, 1) for s in range(3)], reference) == []
    assert numerics_paragraph(reference, reference) == ''
    notes = numerics_notes([run(0, 2), run(1, 2), run(2, 1), run(7, 8, device='cuda')],
                           reference)
    # seed 7 has no partner: its device and thread count are not a difference
    assert notes[0] == 'yours ran with torch threads per process 1 / 2, the reference with 1.'
    assert len(notes) == 2 and 'compare the claims' in notes[1]
    notes = numerics_notes([run(s, 1, amp='bf16', device='cuda') for s in range(3)], reference)
    assert notes[:2] == ['yours ran with device cuda, the reference with cpu.',
                         'yours ran with precision bf16, the reference with fp32.']
    # a record without the field (an older schema) is not a difference
    old = [{k: v for k, v in run(s, 1).items() if k != 'versions'} for s in range(3)]
    assert numerics_notes(old, reference) == []
    assert numerics_paragraph(old[:1] + [run(1, 4)], reference).startswith(
        '**Not computed alike.** yours ran with torch threads per process 1 / 4')


def test_compare_says_when_runs_were_not_computed_alike(tmp_path, capsys, monkeypatch):
    write_runs(tmp_path / 'ref', [{**rec('cen', s, 40.0 + s), 'torch_threads': 1}
                                  for s in range(3)])
    write_runs(tmp_path / 'mine', [{**rec('cen', s, 40.0 + s), 'torch_threads': 2}
                                   for s in range(3)])
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'mine'))
    assert main(['compare', '--reference', str(tmp_path / 'ref')]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[2].startswith('**Not computed alike.** yours ran with torch threads per '
                                 'process 2, the reference with 1.')
