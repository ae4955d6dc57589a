"""Aggregation of run records over seeds: CI, stable columns, failures, tmp files."""
import json
import math
from types import SimpleNamespace

import pandas as pd
import pytest

from fusionbench.analysis.stats import ci_names, summarize, t_interval
from fusionbench.experiments.aggregate import (aggregate, load_records, seed_values, table_columns,
                                               write_table_csv)


def make_spec():
    rows = [SimpleNamespace(id='cen', label='CEN', paper_row='cen', note=''),
            SimpleNamespace(id='unshared', label='Unshared', paper_row='unshared', note=''),
            SimpleNamespace(id='extra', label='Extra', paper_row=None, note='not in the paper')]
    return SimpleNamespace(
        name='table1', rows=rows,
        metrics=[('rgb_miou', 'rgb', 'mIoU'), ('ensemble_miou', 'ensemble', 'mIoU')],
        paper_columns={'rgb_miou': 'rgb_miou', 'ensemble_miou': 'ensemble_miou'},
        constant_columns={'params_total_m': lambda r: r['params']['total'] / 1e6},
        claims=[])


def make_record(row, seed, rgb, ensemble, status='ok', table='table1', protocol='mini'):
    return {'schema': 1, 'run_id': f'{row}-{seed}', 'table': table, 'row': row,
            'protocol': protocol, 'seed': seed, 'status': status,
            'error': None if status == 'ok' else 'boom', 'synthetic': True,
            'metrics': {'rgb': {'mIoU': rgb}, 'ensemble': {'mIoU': ensemble}},
            'params': {'total': 118_200_000, 'fusion': 0}, 'wall_time_s': 1.0,
            'finished_at': f'2026-11-24T22:0{seed}:00+00:00'}


RECORDS = [make_record('cen', 0, 49.0, 51.0), make_record('cen', 1, 50.0, 52.0),
           make_record('cen', 2, 51.0, 53.0), make_record('cen', 3, 0.0, 0.0, status='failed'),
           make_record('unshared', 0, 45.0, 47.0), make_record('unshared', 1, 1.0, 1.0, 'failed'),
           make_record('cen', 0, 1.0, 1.0, table='table2')]


def test_t_interval_hand_computed():
    # mean 10.02, s = sqrt(0.8546 / 2) = 0.65368, s/sqrt(3) = 0.37740, t(0.975, 2) = 4.30265
    low, high = t_interval([9.41, 10.71, 9.94])
    assert low == pytest.approx(10.02 - 4.302653 * 0.3774035, abs=1e-4)  # 8.3962
    assert high == pytest.approx(10.02 + 4.302653 * 0.3774035, abs=1e-4)  # 11.6438
    # the percentile bootstrap returned [9.41, 10.71] here: [min, max], far too narrow
    assert low < 9.41 - 1.0 and high > 10.71 + 0.9


def test_t_interval_edge_cases():
    assert t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert all(math.isnan(v) for v in t_interval([7.5]))  # one seed: no interval exists
    assert all(math.isnan(v) for v in t_interval([7.5, math.nan]))
    assert all(math.isnan(v) for v in t_interval([]))
    # two values 1, 3: mean 2, s/sqrt(2) = 1, t(0.975, 1) = 12.7062
    assert t_interval([1.0, 3.0]) == pytest.approx((2 - 12.706205, 2 + 12.706205))
    with pytest.raises(ValueError, match='confidence'):
        t_interval([1.0, 2.0], confidence=1.5)


def test_interval_names_say_which_interval():
    assert ci_names() == ('ci95_t_low', 'ci95_t_high')
    assert ci_names(0.9) == ('ci90_t_low', 'ci90_t_high')
    assert ci_names(0.975) == ('ci97_5_t_low', 'ci97_5_t_high')
    assert summarize([9.41, 10.71, 9.94], confidence=0.9).keys() == {
        'mean', 'std', 'ci90_t_low', 'ci90_t_high'}


def test_aggregate_stable_columns_and_order():
    spec = make_spec()
    df = aggregate(RECORDS, spec)
    assert list(df.columns) == [
        'row', 'label', 'n_seeds', 'n_failed',
        'rgb_miou_mean', 'rgb_miou_std', 'rgb_miou_ci95_t_low', 'rgb_miou_ci95_t_high',
        'ensemble_miou_mean', 'ensemble_miou_std', 'ensemble_miou_ci95_t_low',
        'ensemble_miou_ci95_t_high', 'params_total_m', 'synthetic']
    assert list(df.columns) == table_columns(spec)
    assert list(df['row']) == ['cen', 'unshared', 'extra']
    kept = aggregate(RECORDS, spec, keep_values=True).columns
    assert {'ensemble_miou_values', 'ensemble_miou_seeds'} <= set(kept)


def test_aggregate_statistics_exclude_failed_records():
    df = aggregate(RECORDS, make_spec()).set_index('row')
    cen = df.loc['cen']
    assert (cen['n_seeds'], cen['n_failed']) == (3, 1)
    assert cen['rgb_miou_mean'] == pytest.approx(50.0)
    assert cen['rgb_miou_std'] == pytest.approx(1.0)
    # 49, 50, 51: s/sqrt(3) = 0.57735, t(0.975, 2) = 4.30265
    assert cen['rgb_miou_ci95_t_low'] == pytest.approx(50.0 - 2.484138, abs=1e-5)
    assert cen['rgb_miou_ci95_t_high'] == pytest.approx(50.0 + 2.484138, abs=1e-5)
    assert cen['params_total_m'] == pytest.approx(118.2)
    assert cen['synthetic']
    unshared = df.loc['unshared']
    assert (unshared['n_seeds'], unshared['n_failed']) == (1, 1)
    assert unshared['ensemble_miou_mean'] == 47.0 and math.isnan(unshared['ensemble_miou_std'])
    extra = df.loc['extra']
    assert extra['n_seeds'] == 0 and math.isnan(extra['rgb_miou_mean'])
    assert not extra['synthetic']


def test_seed_values_and_kept_values_agree():
    spec = make_spec()
    df = aggregate(RECORDS, spec, keep_values=True).set_index('row')
    assert seed_values(RECORDS, spec, 'cen', 'ensemble_miou') == [51.0, 52.0, 53.0]
    assert df.loc['cen', 'ensemble_miou_values'] == [51.0, 52.0, 53.0]
    assert df.loc['cen', 'ensemble_miou_seeds'] == [0, 1, 2]
    with pytest.raises(KeyError, match='declared'):
        seed_values(RECORDS, spec, 'cen', 'nope')


def test_a_rerun_of_a_seed_counts_once():
    rerun = make_record('cen', 2, 60.0, 60.0) | {'finished_at': '2026-11-25T00:00:00+00:00'}
    df = aggregate(RECORDS + [rerun], make_spec(), keep_values=True).set_index('row')
    assert df.loc['cen', 'n_seeds'] == 3
    assert df.loc['cen', 'rgb_miou_values'] == [49.0, 50.0, 60.0]


def test_a_failed_seed_that_later_succeeded_is_not_failed():
    records = [make_record('cen', 0, 1.0, 1.0, status='failed'), make_record('cen', 0, 2.0, 2.0)]
    assert aggregate(records, make_spec()).loc[0, 'n_failed'] == 0


def test_mixed_protocols_are_refused():
    with pytest.raises(ValueError, match='mix protocols'):
        aggregate(RECORDS + [make_record('cen', 9, 1.0, 1.0, protocol='paper')], make_spec())


def test_load_records_ignores_tmp_and_warns_on_bad_files(tmp_path):
    (tmp_path / 'sub').mkdir()
    for i, record in enumerate(RECORDS[:3]):
        (tmp_path / 'sub' / f'{i}.json').write_text(json.dumps(record))
    (tmp_path / 'inflight.json.tmp').write_text('{"half": ')
    (tmp_path / 'broken.json').write_text('{"half": ')
    (tmp_path / 'other.json').write_text('[1, 2]')
    (tmp_path / 'old.json').write_text(json.dumps(RECORDS[0] | {'schema': 0}))
    with pytest.warns(UserWarning) as caught:
        records = load_records(tmp_path)
    assert len(records) == 3
    messages = ' '.join(str(w.message) for w in caught)
    assert 'broken.json' in messages and 'other.json' in messages and 'old.json' in messages
    assert 'inflight' not in messages
    with pytest.raises(FileNotFoundError):
        load_records(tmp_path / 'missing')


def test_write_table_csv_is_atomic_and_round_trips(tmp_path):
    df = aggregate(RECORDS, make_spec(), keep_values=True)
    path = write_table_csv(df, tmp_path / 'out' / 'table1.csv')
    assert [p.name for p in path.parent.iterdir()] == ['table1.csv']
    back = pd.read_csv(path)
    assert list(back.columns) == list(df.columns)
    assert json.loads(back.loc[0, 'rgb_miou_values']) == [49.0, 50.0, 51.0]
    assert back.loc[0, 'rgb_miou_mean'] == pytest.approx(50.0)
