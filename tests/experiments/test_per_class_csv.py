"""A segmentation table's accuracy columns and per-class CSV, from hand-made records.

Hand-computed statistics (std with ddof = 1; t-interval = mean ± t_{n-1} · std / √n with
t_{0.975, 2} = 4.302653 and t_{0.975, 1} = 12.706205, from printed t tables):

- 40, 50, 60: mean 50, std 10, half-width 4.302653 · 10 / √3 = 24.841377;
- 20, 30: mean 25, std 7.071068, half-width 12.706205 · 7.071068 / √2 = 63.531024;
- 10, 20, 30: mean 20, std 10, half-width 24.841377;
- 70, 72, 74: mean 72, std 2, half-width 4.302653 · 2 / √3 = 4.968275;
- 50, 52, 57: mean 53, std √13 = 3.605551, half-width 4.302653 · 3.605551 / √3 = 8.956686.
"""
import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from fusionbench.experiments.aggregate import aggregate
from fusionbench.experiments.grid import Job, runs_dir, write_json_atomic
from fusionbench.experiments.outputs import table_outputs, write_outputs
from fusionbench.experiments.per_class import (accuracy_columns, accuracy_metrics,
                                               add_accuracy_columns, class_columns,
                                               class_csv_path, class_frame, write_class_csv)
from fusionbench.experiments.tables import get_table

T_DF2, T_DF1 = 4.302653, 12.706205  # Student-t 97.5 % quantiles, 2 and 1 degrees of freedom


def rec(row, seed, heads, status='ok', synthetic=True, cell='main', table='table1'):
    """A record of ``table``/``row``; ``heads``: ``{head: {metric or 'IoU.<class>': value}}``."""
    return {'schema': 1, 'run_id': f'{row}-{cell}-{seed}', 'table': table, 'row': row,
            'cell': cell, 'seed': seed, 'status': status, 'protocol': 'smoke',
            'error': None if status == 'ok' else 'boom',
            'synthetic': synthetic, 'params': {'total': 2e6},
            'finished_at': f'2026-01-01T00:00:0{seed}+00:00', 'metrics': heads}


def table1_records():
    """``cen``: three seeds (bed left out of seed 2, depth without per-class keys) and a failed
    fourth; ``unshared``: one seed of real (not synthetic) data."""
    return [
        rec('cen', 0, {'rgb': {'mIoU': 1.0, 'IoU.wall': 10.0},
                       'depth': {'mIoU': 2.0},
                       'ensemble': {'mIoU': 30.0, 'aAcc': 70.0, 'mAcc': 50.0,
                                    'IoU.wall': 40.0, 'IoU.bed': 20.0}}),
        rec('cen', 1, {'rgb': {'mIoU': 1.0, 'IoU.wall': 20.0},
                       'depth': {'mIoU': 2.0},
                       'ensemble': {'mIoU': 40.0, 'aAcc': 72.0, 'mAcc': 52.0,
                                    'IoU.bed': 30.0, 'IoU.wall': 50.0}}),
        rec('cen', 2, {'rgb': {'mIoU': 1.0, 'IoU.wall': 30.0},
                       'depth': {'mIoU': 2.0},
                       'ensemble': {'mIoU': 50.0, 'aAcc': 74.0, 'mAcc': 57.0,
                                    'IoU.wall': 60.0}}),
        rec('cen', 3, {'ensemble': {'mIoU': 99.0, 'aAcc': 99.0, 'IoU.wall': 99.0}},
            status='failed'),
        rec('unshared', 0, {'ensemble': {'mIoU': 5.0, 'aAcc': 6.0, 'mAcc': 7.0,
                                         'IoU.wall': 5.0}}, synthetic=False),
    ]


@pytest.fixture
def no_figures(monkeypatch):
    """The table's figures as empty files: these tests are about its CSVs (drawing them costs
    seconds; tests/report checks the figures)."""
    from fusionbench.experiments import outputs

    def empty(*args, path=None, **kwargs):
        Path(path if path is not None else args[-1]).write_bytes(b'')

    monkeypatch.setattr(outputs, 'plot_heads', empty)
    monkeypatch.setattr(outputs, 'plot_metric_vs_params', empty)
    monkeypatch.setattr(outputs, 'table_figures', lambda table, records: [])


def line(frame, row, head, name, cell='main', metric='IoU'):
    hit = frame[(frame['row'] == row) & (frame['head'] == head) & (frame['class'] == name)
                & (frame['cell'] == cell) & (frame['metric'] == metric)]
    assert len(hit) == 1, hit
    return hit.iloc[0]


def test_per_class_statistics_by_hand():
    frame = class_frame(table1_records(), get_table('table1'))
    assert list(frame.columns) == class_columns() == [
        'row', 'label', 'cell', 'head', 'metric', 'class', 'n_seeds', 'mean', 'std',
        'ci95_t_low', 'ci95_t_high', 'values', 'seeds', 'synthetic']
    # spec row order; the table's heads in its column order; every class for every head with
    # per-class values (depth has none); classes in the fullest record's order
    assert [tuple(x) for x in frame[['row', 'head', 'class']].to_numpy()] == [
        ('unshared', 'ensemble', 'wall'), ('unshared', 'ensemble', 'bed'),
        ('cen', 'rgb', 'wall'), ('cen', 'rgb', 'bed'),
        ('cen', 'ensemble', 'wall'), ('cen', 'ensemble', 'bed')]
    wall = line(frame, 'cen', 'ensemble', 'wall')  # the failed seed 3 is not counted
    assert (wall['n_seeds'], wall['values'], wall['seeds']) == (3, [40.0, 50.0, 60.0], [0, 1, 2])
    assert (wall['mean'], wall['std']) == pytest.approx((50.0, 10.0))
    assert (wall['ci95_t_low'], wall['ci95_t_high']) == pytest.approx(
        (50 - T_DF2 * 10 / math.sqrt(3), 50 + T_DF2 * 10 / math.sqrt(3)), abs=1e-5)
    assert (wall['ci95_t_low'], wall['ci95_t_high']) == pytest.approx(
        (25.158623, 74.841377), abs=1e-5)
    bed = line(frame, 'cen', 'ensemble', 'bed')  # left out of seed 2 (empty union)
    assert (bed['n_seeds'], bed['values'], bed['seeds']) == (2, [20.0, 30.0], [0, 1])
    assert (bed['mean'], bed['std']) == pytest.approx((25.0, 7.071068))
    assert (bed['ci95_t_low'], bed['ci95_t_high']) == pytest.approx(
        (25 - T_DF1 * 5, 25 + T_DF1 * 5), abs=1e-5)
    rgb = line(frame, 'cen', 'rgb', 'wall')
    assert (rgb['mean'], rgb['ci95_t_low'], rgb['ci95_t_high']) == pytest.approx(
        (20.0, -4.841377, 44.841377), abs=1e-5)
    nowhere = line(frame, 'cen', 'rgb', 'bed')  # no seed has it: listed, without statistics
    assert nowhere['n_seeds'] == 0 and nowhere['values'] == [] and math.isnan(nowhere['mean'])
    one = line(frame, 'unshared', 'ensemble', 'wall')  # one seed: no std, no interval
    assert one['n_seeds'] == 1 and one['mean'] == 5.0
    assert math.isnan(one['std']) and math.isnan(one['ci95_t_low'])
    assert set(frame.loc[frame['row'] == 'cen', 'synthetic']) == {True}
    assert set(frame.loc[frame['row'] == 'unshared', 'synthetic']) == {False}
    assert frame['label'].iloc[0] == get_table('table1').row('unshared').label


def test_cells_heads_and_per_class_accuracy_are_kept_apart():
    """A row trained in two cells gets lines per cell; a head outside the table's columns
    (``primary``) follows them; per-class accuracy (``Acc.<class>``) is read where present."""
    spec = SimpleNamespace(
        name='t', metrics=[('ensemble_miou', 'ensemble', 'mIoU')],
        rows=[SimpleNamespace(id='m', label='M', cells={'same': None, 'common': None})])
    records = [rec('m', 0, {'primary': {'IoU.a': 1.0}, 'ensemble': {'IoU.a': 2.0}},
                   cell='common', table='t'),
               rec('m', 0, {'ensemble': {'IoU.a': 3.0, 'Acc.a': 4.0}}, cell='same', table='t')]
    frame = class_frame(records, spec, confidence=0.9)
    assert 'ci90_t_low' in frame.columns
    assert [tuple(x) for x in frame[['cell', 'head', 'metric', 'mean']].to_numpy()] == [
        ('same', 'ensemble', 'IoU', 3.0), ('same', 'ensemble', 'Acc', 4.0),
        ('common', 'ensemble', 'IoU', 2.0), ('common', 'primary', 'IoU', 1.0)]


def test_records_without_per_class_keys_give_no_file(tmp_path):
    translation = [rec('depth', s, {'primary': {'FID': 10.0 + s, 'KID': 1.0, 'L1': 0.1,
                                                'PSNR': 20.0, 'SSIM': 0.5}}, table='table5')
                   for s in range(2)]
    old = [rec('cen', 0, {'ensemble': {'mIoU': 3.0, 'aAcc': 4.0, 'mAcc': 5.0}})]
    for records, table in ((translation, 'table5'), (old, 'table1')):
        spec = get_table(table)
        assert class_frame(records, spec).empty
        assert list(class_frame(records, spec).columns) == class_columns()
        assert write_class_csv(records, spec, tmp_path) is None
    assert list(tmp_path.iterdir()) == []
    assert accuracy_metrics(get_table('table5')) == []


def test_accuracy_columns_beside_miou():
    spec = get_table('table1')
    records = table1_records()
    base = aggregate(records, spec, keep_values=True)
    df = add_accuracy_columns(base, records, spec).set_index('row')
    columns = list(df.columns)
    # after every metric column of the table, before the constant columns
    assert columns[:len(base.columns) - 3] == list(base.columns)[1:-2]
    assert columns[-2:] == ['params_total_m', 'synthetic']
    assert columns.index('ensemble_pixel_acc_mean') > columns.index('ensemble_miou_seeds')
    assert [c for c in columns if c.endswith('acc_mean')] == [
        'rgb_pixel_acc_mean', 'rgb_mean_acc_mean', 'depth_pixel_acc_mean',
        'depth_mean_acc_mean', 'ensemble_pixel_acc_mean', 'ensemble_mean_acc_mean']
    cen = df.loc['cen']
    assert cen['ensemble_pixel_acc_values'] == [70.0, 72.0, 74.0]
    assert (cen['ensemble_pixel_acc_mean'], cen['ensemble_pixel_acc_std'],
            cen['ensemble_pixel_acc_ci95_t_low'], cen['ensemble_pixel_acc_ci95_t_high']) == \
        pytest.approx((72.0, 2.0, 67.031725, 76.968275), abs=1e-5)
    assert (cen['ensemble_mean_acc_mean'], cen['ensemble_mean_acc_std'],
            cen['ensemble_mean_acc_ci95_t_low'], cen['ensemble_mean_acc_ci95_t_high']) == \
        pytest.approx((53.0, 3.605551, 44.043314, 61.956686), abs=1e-5)
    assert math.isnan(cen['rgb_pixel_acc_mean']) and cen['rgb_pixel_acc_values'] == []
    assert df.loc['unshared', 'ensemble_mean_acc_mean'] == 7.0
    assert math.isnan(df.loc['shared_bn', 'ensemble_pixel_acc_mean'])  # no records


def test_accuracy_columns_follow_cells_and_are_not_repeated():
    """Table 2's common-setting column reads the common cell (a unimodal row: its same cell);
    Table 3 declares its own pixel / mean accuracy columns, so none is added."""
    t2 = get_table('table2')
    assert [name for name, *_ in accuracy_metrics(t2)][:2] == ['common_pixel_acc',
                                                               'common_mean_acc']
    assert accuracy_metrics(get_table('table3')) == []
    records = [rec('concat_early', 0, {'primary': {'aAcc': 1.0}}, cell='common', table='table2'),
               rec('concat_early', 0, {'primary': {'aAcc': 2.0}, 'rgb': {'aAcc': 3.0}},
                   cell='same', table='table2'),
               rec('unimodal_rgb', 0, {'primary': {'aAcc': 4.0}}, cell='same', table='table2')]
    df = accuracy_columns(records, t2).set_axis([r.id for r in t2.rows])
    assert df.loc['concat_early', 'common_pixel_acc_values'] == [1.0]
    assert df.loc['concat_early', 'rgb_pixel_acc_values'] == [3.0]
    assert df.loc['unimodal_rgb', 'common_pixel_acc_values'] == [4.0]


def test_table_outputs_writes_both_csvs_and_removes_a_stale_one(tmp_path, no_figures):
    """End to end through the one writer: the table CSV carries the accuracy columns, the
    per-class CSV sits beside it and reads back as computed; records without per-class keys
    remove it; a translation table writes none."""
    spec = get_table('table1')
    records = table1_records()
    table_outputs(records, spec, tmp_path)
    table = pd.read_csv(tmp_path / 'table1.csv').set_index('row')
    assert table.loc['cen', 'ensemble_pixel_acc_mean'] == pytest.approx(72.0)
    assert json.loads(table.loc['cen', 'ensemble_mean_acc_values']) == [50.0, 52.0, 57.0]
    path = tmp_path / 'table1_per_class.csv'
    assert class_csv_path(tmp_path, 'table1') == path
    back = pd.read_csv(path)
    assert list(back.columns) == class_columns()
    assert len(back) == 6
    wall = back[(back['row'] == 'cen') & (back['head'] == 'ensemble')
                & (back['class'] == 'wall')].iloc[0]
    assert json.loads(wall['values']) == [40.0, 50.0, 60.0]
    assert json.loads(wall['seeds']) == [0, 1, 2]
    assert (wall['n_seeds'], wall['mean'], wall['std'], wall['ci95_t_low'],
            wall['ci95_t_high']) == pytest.approx((3, 50.0, 10.0, 25.158623, 74.841377),
                                                  abs=1e-4)  # the CSV keeps 6 digits
    assert bool(wall['synthetic']) is True
    # the same records again: the same bytes (one writer, deterministic)
    before = path.read_bytes()
    table_outputs(records, spec, tmp_path)
    assert path.read_bytes() == before
    # records without per-class keys: the earlier file would contradict the table CSV
    table_outputs([rec('cen', 0, {'ensemble': {'mIoU': 3.0}})], spec, tmp_path)
    assert not path.exists()
    translation = [rec('depth', 0, {'primary': {'FID': 10.0, 'KID': 1.0, 'L1': 0.1,
                                                'PSNR': 20.0, 'SSIM': 0.5}}, table='table5')]
    table_outputs(translation, get_table('table5'), tmp_path)
    assert (tmp_path / 'table5.csv').is_file()
    assert not (tmp_path / 'table5_per_class.csv').exists()
    assert 'pixel_acc' not in (tmp_path / 'table5.csv').read_text()


def test_run_lists_the_per_class_csv(tmp_path, no_figures):
    """``write_outputs`` (what ``run`` prints) names the per-class CSV it wrote."""
    root = tmp_path / 'results'
    folder = runs_dir('smoke', 'table1', str(root))
    records = table1_records()
    for record in records:
        write_json_atomic(os.path.join(folder, f"{record['run_id']}.json"), record)
    jobs = [Job('table1', r['row'], 'main', r['seed'], 'smoke', '', {}, r['run_id'], {})
            for r in records]
    written = write_outputs('table1', 'smoke', jobs, root=str(root))
    out = root / 'smoke'
    assert written[:2] == [out / 'table1.csv', out / 'table1_per_class.csv']
    assert all(path.is_file() for path in written)
