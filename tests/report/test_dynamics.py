"""CEN's γ dynamics in the report: hand-built records -> the section's numbers and the figures."""
import json
import math

import pytest

from fusionbench.experiments.outputs import render_reports, table_outputs
from fusionbench.experiments.tables import CONTROL_ROW, get_table
from fusionbench.report import dynamics
from fusionbench.report.dynamics import (crossing_rhos, dynamics_section, final_shares,
                                         merged_histograms, paired, share_history, stage_means,
                                         table_figures)

T_975 = {1: 12.706205, 2: 4.302653}  # Student-t 97.5 % quantiles (tables), df = 1, 2
LAYERS = ('layer1.0.bn1', 'layer2.0.bn1')
CROSSINGS = [10, 20, 30, -1]  # ranks 1..4 (never crossed = last)
#: Gradient magnitudes giving a hand-computed Spearman ρ against CROSSINGS' ranks 1, 2, 3, 4:
#: ρ = 1 − 6 Σd² / (n (n² − 1)) = 1 − Σd² / 10 for n = 4.
GRADIENT_FOR_RHO = {1.0: [1, 2, 3, 4], 0.8: [1, 2, 4, 3], 0.6: [2, 1, 4, 3],
                    0.0: [2, 4, 1, 3], -0.6: [3, 4, 1, 2], -0.8: [4, 3, 1, 2]}
#: Per seed, ρ of (layer1, layer2): cen means 0.9, 0.7, 0.8; control 0.0, 0.0, 0.3 (seed 3 has
#: no cen partner and must not enter the paired difference).
RHO = {'cen': {0: (1.0, 0.8), 1: (0.8, 0.6), 2: (1.0, 0.6)},
       CONTROL_ROW: {0: (-0.6, 0.6), 1: (0.8, -0.8), 2: (0.6, 0.0), 3: (1.0, 1.0)}}


def record(table, row, seed, *, rhos=None, shares=((0.0, 0.25, 0.5), (0.0, 0.5, 1.0)),
           ensemble=40.0, plateau=None, lockstep=(), gradients=True):
    rec = {'schema': 1, 'run_id': f'{table}-{row}-{seed}', 'table': table, 'row': row,
           'cell': 'main', 'protocol': 'mini', 'seed': seed, 'status': 'ok', 'error': None,
           'synthetic': True, 'dataset': 'synthetic-scenes-v1',
           'metrics': {'rgb': {'mIoU': ensemble - 1}, 'depth': {'mIoU': ensemble - 2},
                       'ensemble': {'mIoU': ensemble}},
           'params': {'total': 1_000_000, 'fusion': 0}, 'wall_time_s': 1.0, 'device': 'cpu',
           'config': {}, 'git': {'commit': 'abc1234', 'dirty': False}, 'versions': {},
           'started_at': '2026-11-24T22:00:00+00:00', 'finished_at': '2026-11-24T22:01:00+00:00',
           'gamma_dynamics': {
               'interval': 50, 'max_iters': 100, 'iterations': [0, 50, 100],
               'layers': {name: {'share': list(share), 'first_crossing': list(CROSSINGS),
                                 'hist': {'edges': [0.0, 0.5, 1.0], 'penalised': [3, 1],
                                          'other': [0, 4]}}
                          for name, share in zip(LAYERS, shares)},
               'lockstep_layers': list(lockstep)}}
    if gradients:
        rhos = rhos or (1.0, 1.0)
        rec['pretraining'] = {'gradient': {
            name: [GRADIENT_FOR_RHO[rho][:2], GRADIENT_FOR_RHO[rho][2:]]  # [M=2][C=2]
            for name, rho in zip(LAYERS, rhos)}}
    if plateau is not None:
        rec['plateau'] = plateau
    return rec


def table1_records():
    out = [record('table1', row, seed, rhos=rhos) for row in ('cen', CONTROL_ROW)
           for seed, rhos in RHO[row].items()]
    out[1]['gamma_dynamics']['layers'][LAYERS[0]]['share'] = [0.0, 0.0, 0.25]
    out[1]['gamma_dynamics']['layers'][LAYERS[1]]['share'] = [0.0, 0.25, 0.5]
    out[2]['gamma_dynamics']['lockstep_layers'] = [LAYERS[1]]
    out[0]['plateau'] = {'gain': 0.4, 'threshold': 1.0, 'plateaued': True}
    out[1]['plateau'] = {'gain': 1.6, 'threshold': 1.0, 'plateaued': False}
    return list(reversed(out))  # order of the records must not matter


def sweep_records():
    values = {('cen', 0.5): [40.0, 42.0], ('private_bn_l1_half', 0.5): [38.0, 41.0],
              ('cen', 2.0): [45.0, 46.0, 47.0], ('private_bn_l1_half', 2.0): [40.0, 41.0, 42.0]}
    return [record('lambda_sweep', f'{base}_x{scale:g}', seed, ensemble=v,
                   shares=((0, 0, 0.25 * scale), (0, 0, min(1.0, 0.5 * scale))))
            for (base, scale), vs in values.items() for seed, v in enumerate(vs)]


def section(records, figures=None, tmp_path='.'):
    return '\n'.join(dynamics_section(records, figures or {}, tmp_path))


def test_control_row_agrees_with_the_table():
    assert dynamics.CONTROL_ROW == CONTROL_ROW
    assert get_table('table1').row(CONTROL_ROW)


def test_crossing_rho_and_the_paired_difference_by_hand():
    records = table1_records()
    cen = crossing_rhos(dynamics.row_records(records, 'table1', 'cen'))
    control = crossing_rhos(dynamics.row_records(records, 'table1', CONTROL_ROW))
    assert cen[1] == pytest.approx({LAYERS[0]: 0.8, LAYERS[1]: 0.6})
    assert control[3] == pytest.approx({LAYERS[0]: 1.0, LAYERS[1]: 1.0})
    means = {k: {s: sum(v.values()) / 2 for s, v in rhos.items()}
             for k, rhos in (('cen', cen), ('control', control))}
    diff = paired(means['cen'], means['control'])
    # diffs 0.9, 0.7, 0.5 (seed 3 unpaired): mean 0.7, sd 0.2, half-width t_2 · 0.2 / √3
    assert diff.seeds == (0, 1, 2)
    assert diff.differences == pytest.approx((0.9, 0.7, 0.5))
    half = T_975[2] * 0.2 / math.sqrt(3)
    assert (diff.mean, diff.low, diff.high) == pytest.approx((0.7, 0.7 - half, 0.7 + half),
                                                              abs=1e-5)
    assert diff.verdict == 'yes'


def test_verdicts_of_intervals():
    assert paired({0: 1.0, 1: 2.0, 2: 3.0}, {0: 2.0, 1: 3.5, 2: 4.2}).verdict == 'no'
    assert paired({0: 1.0, 1: 2.0}, {0: 0.0, 1: 3.0}).verdict == 'undecided'
    one = paired({0: 1.0}, {0: 0.0})
    assert one.verdict == 'undecided' and math.isnan(one.low)


def test_section_numbers(tmp_path):
    text = section(table1_records(), tmp_path=tmp_path)
    half = T_975[2] * 0.2 / math.sqrt(3)
    assert ('Crossing order follows the task gradient better than under shuffled labels: '
            f'**yes** (all layers: +0.70 [{0.7 - half:+.2f}, {0.7 + half:+.2f}] (3 seeds), '
            'paired t, 95 %).') in text
    # layer1: cen 1.0, 0.8, 1.0; control −0.6, 0.8, 0.6 (and unpaired seed 3's 1.0: its column
    # mean 0.45, sd √(1.55 / 3) = 0.72) -> diffs 1.6, 0, 0.4 (mean 0.667): the interval spans 0
    sd = math.sqrt(((1.6 - 2 / 3) ** 2 + (2 / 3) ** 2 + (0.4 - 2 / 3) ** 2) / 2)
    h1 = T_975[2] * sd / math.sqrt(3)
    assert (f'| layer1 | 0.93 ± 0.12 | 0.45 ± 0.72 | +0.67 [{2 / 3 - h1:+.2f}, '
            f'{2 / 3 + h1:+.2f}] (3 seeds) | undecided |') in text
    assert 'paired t, 95 %' in text.splitlines()[2]
    # final shares per stage: cen seeds 0, 2 end at (0.5, 1.0), seed 1 at (0.25, 0.5)
    assert '| `cen` | 3 | 0.42 ± 0.14 | 0.83 ± 0.29 | 0.62 ± 0.22 |' in text
    assert f'| `{CONTROL_ROW}` | 4 | 0.50 ± 0.00 | 1.00 ± 0.00 | 0.75 ± 0.00 |' in text
    # lockstep: seed 2 of cen flags one layer of two
    assert '| table1 | `cen` | 0, 1, 2 | 0/2, 0/2, 1/2 | 1/6 layers |' in text
    assert f'| table1 | `{CONTROL_ROW}` | 0, 1, 2, 3 | 0/2, 0/2, 0/2, 0/2 | none |' in text
    assert '| table1 | `cen` | 1/2 | 1.00 ± 0.85 | < 1 |' in text  # plateau flags, gain
    assert 'Missing: the λ sweep needs' in text


def test_sweep_section_pairs_by_seed(tmp_path):
    text = section(sweep_records(), tmp_path=tmp_path)
    half = T_975[1] * math.sqrt(0.5) / math.sqrt(2)  # diffs 2, 1: sd √0.5
    assert (f'| 0.5 | 41.0 ± 1.4 | 39.5 ± 2.1 | +1.5 [{1.5 - half:+.1f}, {1.5 + half:+.1f}] '
            '(2 seeds) | undecided | 0.12 ± 0.00 | 0.25 ± 0.00 |') in text
    assert ('| 2 | 46.0 ± 1.0 | 41.0 ± 1.0 | +5.0 [+5.0, +5.0] (3 seeds) | yes | 0.50 ± 0.00 '
            '| 1.00 ± 0.00 |') in text
    assert 'Missing: Table 1 row(s) `cen` and `cen_shuffled_labels`' in text
    assert 'better than under shuffled labels: undecided (missing records)' in text


def test_share_history_and_stage_means():
    records = table1_records()
    iterations, layers = share_history(dynamics.row_records(records, 'table1', 'cen'))
    assert iterations.tolist() == [0, 50, 100]
    assert layers[LAYERS[0]].tolist() == [[0, 0.25, 0.5], [0, 0, 0.25], [0, 0.25, 0.5]]
    assert stage_means({'layer1.0.bn1': 0.2, 'layer1.0.bn2': 0.4, 'layer2.0.bn1': 1.0,
                        'layer3.0.bn1': math.nan}) == pytest.approx(
        {'layer1': 0.3, 'layer2': 1.0, 'layer3': math.nan}, nan_ok=True)
    assert final_shares(records[0]) == {LAYERS[0]: 0.5, LAYERS[1]: 1.0}


def test_histograms_are_summed_on_shared_edges():
    a = record('table1', 'cen', 0)
    b = record('table1', 'cen', 1)
    b['gamma_dynamics']['layers'][LAYERS[0]]['hist'] = {
        'edges': [0.0, 1.0, 2.0], 'penalised': [2, 2], 'other': [1, 3]}
    merged = merged_histograms([a, b], bins=2)
    # a's centres 0.25, 0.75 fall in [0, 1); b's 0.5, 1.5 in [0, 1) and [1, 2]
    assert merged['layer1']['edges'].tolist() == [0.0, 1.0, 2.0]
    assert merged['layer1']['penalised'].tolist() == [6, 2]
    assert merged['layer1']['other'].tolist() == [5, 3]
    assert merged['layer2']['penalised'].tolist() == [6, 2]  # a and b alike: 2 × [3, 1]


def test_threshold_from_the_config():
    a, b = record('table1', 'cen', 0), record('table1', 'cen', 1)
    assert dynamics.threshold([a, b]) is None  # not in the config
    for rec in (a, b):
        rec['config'] = {'model': {'fusion': {'type': 'cen', 'threshold': 0.02}}}
    assert dynamics.threshold([a, b]) == 0.02
    b['config']['model']['fusion']['threshold'] = 0.05
    assert dynamics.threshold([a, b]) is None  # records disagree: no single θ to draw


def test_missing_inputs_say_what_is_missing(tmp_path):
    old = [record('table1', 'cen', 0, gradients=False)]
    del old[0]['gamma_dynamics']
    text = section(old, tmp_path=tmp_path)
    assert 'Missing: no finished run of Table 1 or the λ sweep carries `gamma_dynamics`' in text
    assert 'Missing: no finished Table 1 run with `gamma_dynamics`.' in text
    assert 'Missing: no finished run records a validation curve' in text
    assert 'undecided (missing records)' in text
    no_gradient = [record('table1', row, 0, gradients=False) for row in ('cen', CONTROL_ROW)]
    assert 'Missing: Table 1 row(s) `cen` and `cen_shuffled_labels`' in section(no_gradient)
    assert table_figures('table1', old) == []
    assert [stem for stem, _ in table_figures('table1', no_gradient)] == [
        'table1_gamma_share_cen', 'table1_gamma_hist_cen',
        f'table1_gamma_share_{CONTROL_ROW}', f'table1_gamma_hist_{CONTROL_ROW}']
    assert dynamics_section([record('table2', 'cen', 0)], {}, tmp_path) == []


def test_a_malformed_history_counts_as_missing(tmp_path):
    bad = record('table1', 'cen', 0)
    bad['gamma_dynamics']['layers'][LAYERS[0]]['share'] = [0.5]  # 1 share, 3 iterations
    iterations, layers = share_history([bad])
    assert iterations.size == 0 and layers == {}
    assert table_figures('table1', [bad]) == []
    assert 'Missing: no finished Table 1 run with `gamma_dynamics`.' in section([bad])


def test_figures_are_written_and_linked(tmp_path):
    out = tmp_path / 'results' / 'mini'
    t1 = table_outputs(table1_records(), get_table('table1'), out)
    sweep = table_outputs(sweep_records(), get_table('lambda_sweep'), out)
    figures = {**t1.figures, **sweep.figures}
    assert sorted(figures) == sorted([
        'table1_gamma_share_cen', 'table1_gamma_hist_cen',
        f'table1_gamma_share_{CONTROL_ROW}', f'table1_gamma_hist_{CONTROL_ROW}',
        'table1_crossing_order', 'lambda_sweep_exchange'])
    for stem, path in figures.items():
        assert path == out / 'plots' / f'{stem}.png' and path.stat().st_size > 0
    text = section(table1_records() + sweep_records(), figures, tmp_path / 'reports')
    assert '![table1_crossing_order](../results/mini/plots/table1_crossing_order.png)' in text
    assert '![lambda_sweep_exchange](../results/mini/plots/lambda_sweep_exchange.png)' in text


def test_render_reports_writes_the_section(tmp_path, monkeypatch):
    from fusionbench import paths as fb_paths
    monkeypatch.setattr(fb_paths, 'REFERENCE_DIR', tmp_path / 'no-reference')  # this test's alone
    runs = tmp_path / 'results' / 'mini' / 'runs'
    for rec in table1_records() + sweep_records():
        folder = runs / rec['table']
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{rec['run_id']}.json").write_text(json.dumps(rec))
    paths = render_reports('mini', root=str(tmp_path / 'results'),
                           reports_dir=str(tmp_path / 'reports'), say=lambda line: None)
    assert tmp_path / 'results' / 'mini' / 'plots' / 'lambda_sweep_exchange.png' in paths
    text = (tmp_path / 'reports' / 'mini.md').read_text(encoding='utf-8')
    lines = text.splitlines()
    assert lines.index("## CEN's γ dynamics") < lines.index('## Provenance')
    assert '### λ sweep' in lines and '**yes**' in text


def test_saturated_exchange_is_a_caveat_only_for_rows_that_exchange():
    def exchanging(rec, mode):
        rec['config'] = {'model': {'fusion': {'type': 'cen', 'exchange': mode}}}
        return rec
    # layer1 ends at 0.5 in both seeds, layer2 at 1.0 and 0.8: means 0.5 and 0.9
    cen = [exchanging(record('table1', 'cen', 0), 'directed'),
           exchanging(record('table1', 'cen', 1, shares=((0, 0, 0.5), (0, 0, 0.8))),
                      'directed')]
    tracked = [exchanging(record('table1', 'private_bn_l1_half', 0), 'none')]
    [line] = dynamics.saturation_caveats(cen + tracked)
    assert line.startswith('- **saturated exchange** (`table1` `cen`): layer2 0.90 of the')
    assert 'mean over 2 seed(s)' in line and 'layer1' not in line
    assert dynamics.saturation_caveats(cen, level=0.95) == []
    assert dynamics.saturation_caveats(tracked) == []


def test_a_cen_row_that_never_exchanged_is_a_caveat():
    def run(row, seed, mean, fusion):
        return {'table': 'table5', 'row': row, 'seed': seed, 'status': 'ok',
                'gamma_sparsity': {'down2': mean, 'mean': mean},
                'config': {'model': {'generator': {'fusion': fusion}}}}
    cen = {'type': 'cen', 'threshold': 0.01}
    records = [run('depth_normal', 0, 0.0, cen), run('depth_normal', 1, 0.0, cen),
               run('texture', 0, 0.0, {'type': 'concat'}),  # not CEN: no caveat
               run('shade', 0, 0.0, cen), run('shade', 1, 0.25, cen)]  # exchanged once
    [line] = dynamics.no_exchange_caveats(records)
    assert line.startswith('- **no exchange** (`table5` `depth_normal`): in all 2 run(s)')
    assert 'θ = 0.01' in line
    assert dynamics.exchanges({'config': {'model': {'fusion': {'type': 'cen',
                                                                'exchange': 'none'}}}}) is False


def test_comeback_section_by_hand(tmp_path):
    """Theorem 1's check: counts summed over seeds and layers; old records say what is missing."""
    records = table1_records()
    assert 'Missing: no run record counts the returns above θ' in section(records,
                                                                          tmp_path=tmp_path)
    cen = [r for r in records if r['row'] == 'cen']
    for r in cen:  # CROSSINGS = [10, 20, 30, -1]: 3 of 4 tracked γ's crossed, per layer
        layers = r['gamma_dynamics']['layers']
        layers[LAYERS[0]].update(returns=[2, 0, 0, 0], under_at_end=[False, True, True, False])
        layers[LAYERS[1]].update(returns=[0, 0, 1, 0], under_at_end=[True, True, True, False])
    text = section(records, tmp_path=tmp_path)
    # 3 seeds × 2 layers × 3 crossed = 18; came back: 1 per layer -> 6; above at the end: the
    # first γ of layer1 only -> 3
    assert ('| table1 | `cen` | 3 | 18 | 0.33 (6/18) | 0.17 (3/18) | layer1 0.33 (3/9), '
            'layer2 0.33 (3/9) |') in text
    assert f'`{CONTROL_ROW}` | 4 | 12 |' not in text  # rows without counts are left out
