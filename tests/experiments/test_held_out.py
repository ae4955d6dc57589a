"""The default protocol reports on a held-out test split; validation serves the plateau check."""
from __future__ import annotations

import pytest

from fusionbench.experiments import grid
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import resolve_config
from fusionbench.experiments.tables import get_table
from fusionbench.fusion.gamma_dynamics import lockstep_layers

CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'


def test_mini_has_a_held_out_test_split_and_validates_during_training():
    cfg = resolve_config(CEN, get_protocol('mini'), 0)
    splits = {name: cfg[f'{name}_dataloader']['dataset'] for name in ('train', 'val', 'test')}
    assert {n: d['seed'] for n, d in splits.items()} == {'train': 1, 'val': 2, 'test': 3}
    assert splits['test']['num_scenes'] == splits['val']['num_scenes'] == 160
    assert cfg.train_cfg.val_interval == 60 and cfg.train_cfg.max_iters == 600  # 10 validations
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert hooks['GammaDynamicsHook']['interval'] == 12


def test_paper_protocol_keeps_its_configured_splits():
    cfg = resolve_config(CEN, get_protocol('paper'), 0)
    assert cfg.test_dataloader == cfg.val_dataloader


@pytest.mark.slow
def test_a_run_records_test_and_validation_numbers_curve_and_gamma_history(tmp_path):
    job = grid.plan(get_table('table1'), get_protocol('smoke'), 1, rows=['cen'])[0]
    record = grid.execute(job, root=str(tmp_path))
    assert record['status'] == 'ok', record.get('traceback')
    assert record['eval_split'] == 'test' and record['code_fingerprint'] == job.code
    assert set(record['metrics']) == set(record['val_metrics']) == {
        'rgb', 'depth', 'ensemble', 'primary'}
    curve = record['val_curve']
    assert curve['iterations'] == [6, 12]
    assert curve['mIoU']['primary'][-1] == record['val_metrics']['primary']['mIoU']
    assert record['plateau']['from_iter'] == 6 and record['plateau']['to_iter'] == 12
    dynamics = record['gamma_dynamics']
    assert len(dynamics['layers']) == 16  # ResNet-18: bn1 and bn2 of 8 blocks
    assert dynamics['iterations'] == list(range(1, 13)) and dynamics['max_iters'] == 12
    layer = dynamics['layers']['layer1.0.bn1']
    assert len(layer['share']) == 12  # interval 1 on smoke
    assert len(layer['first_crossing']) == sum(layer['hist']['penalised'])  # the tracked γ's
    assert dynamics['lockstep_layers'] == lockstep_layers(dynamics)


def test_the_control_row_trains_on_shuffled_labels_only(tmp_path):
    from fusionbench.data.synthetic import SyntheticScenes
    table = get_table('table1')
    jobs = {j.row: j for j in grid.plan(table, get_protocol('smoke'), 1,
                                        rows=['cen', 'cen_shuffled_labels'])}
    control = jobs['cen_shuffled_labels'].resolved
    assert control['train_dataloader']['dataset']['label_shuffle_seed'] == 1
    assert 'label_shuffle_seed' not in control['val_dataloader']['dataset']
    assert 'label_shuffle_seed' not in control['test_dataloader']['dataset']
    assert 'label_shuffle_seed' not in jobs['cen'].resolved['train_dataloader']['dataset']
    kwargs = dict(cache_dir=str(tmp_path), num_scenes=8, height=16, width=16, seed=5)
    plain, shuffled = SyntheticScenes(**kwargs), SyntheticScenes(**kwargs, label_shuffle_seed=1)
    order = [next(j for j in range(8) if (shuffled.get_data_info(i)['gt_seg_map']
                                          == plain.get_data_info(j)['gt_seg_map']).all())
             for i in range(8)]
    assert sorted(order) == list(range(8)) and order != list(range(8))  # a permutation
    for i in range(8):  # images stay where they were
        assert (shuffled.get_data_info(i)['modalities']['rgb']
                == plain.get_data_info(i)['modalities']['rgb']).all()
