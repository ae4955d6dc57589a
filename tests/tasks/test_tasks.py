"""Tasks: every registered task declares its metrics (direction, decimals) and rewrites a config
of its own for the protocols through its adapter; metric directions reach tables and claims."""
from __future__ import annotations

import pandas as pd
import pytest
from mmengine.config import Config

from fusionbench import registry
from fusionbench.analysis.claims import (REPRODUCED, better_kind, judge, table2_claims,
                                         value_decimals)
from fusionbench.analysis.paper import load_paper_table, paper_tables
from fusionbench.errors import ConfigError
from fusionbench.experiments.config_check import check_config, resolve_config
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.tables import Metric, Row, TableSpec
from fusionbench.tasks.base import (MetricInfo, ProtocolAdapter, get_task, list_tasks,
                                    metric_of_column, metric_table, task_of)

CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'


def translation_config() -> Config:
    """A small translation config (no data: the paper protocol keeps the config's)."""
    return Config(dict(model=dict(type='MultiDomainPix2Pix',
                                  generator=dict(num_modalities=2, depth=4, ngf=4),
                                  discriminator=dict(ndf=4))))


#: One config per registered task (a new task adds its own here).
TASK_CONFIGS = {'segmentation': lambda: CEN,
                'translation': lambda: 'table4/cen_pix2pix-unet256_200e_taskonomy-depth-normal.py'}


def has_synthetic_data(task) -> bool:
    return type(task.adapter).datasets is not ProtocolAdapter.datasets


def test_every_registered_task_has_a_test_config():
    assert set(list_tasks()) == set(TASK_CONFIGS)
    assert {'segmentation', 'translation'} <= set(registry.list_names(registry.TASKS))


@pytest.mark.parametrize('name', sorted(TASK_CONFIGS))
def test_task_declares_metrics_with_direction_and_decimals(name):
    task = get_task(name)
    assert task.name == name and task.description
    assert task.metrics and task.primary_metric in task.metrics
    assert task.metric() is task.metrics[task.primary_metric]
    for key, info in task.metrics.items():
        assert isinstance(info, MetricInfo) and info.name == key
        assert isinstance(info.higher_is_better, bool)
        assert info.direction in ('higher', 'lower')
        assert isinstance(info.decimals, int) and info.decimals >= 0
    with pytest.raises(KeyError, match=f"task '{name}' declares no metric 'nope'"):
        task.metric('nope')


@pytest.mark.parametrize('name', sorted(TASK_CONFIGS))
def test_task_adapter_rewrites_a_config_that_builds(name):
    task = get_task(name)
    config = TASK_CONFIGS[name]()
    assert task_of(Config.fromfile(f'configs/{config}') if isinstance(config, str)
                   else config).name == name
    paper = resolve_config(config, get_protocol('paper'), seed=0)
    # the paper-scale model is built only where no smoke one is (a ResNet-101 takes seconds)
    check_config(paper, name, build=not has_synthetic_data(task))
    if task.evaluator() is not None:  # the task's (a config may give it arguments)
        assert paper.val_evaluator == paper.test_evaluator
        assert paper.val_evaluator['type'] == task.evaluator()['type']
    if has_synthetic_data(task):
        smoke = resolve_config(config, get_protocol('smoke'), seed=0)
        check_config(smoke, name)
        assert smoke.train_cfg.max_iters == get_protocol('smoke').for_task(name).max_iters
    else:  # the synthetic protocols' data and scale are another task's: one clear line
        with pytest.raises(ConfigError, match=f"protocol 'smoke': .*task '{name}'") as err:
            resolve_config(config, get_protocol('smoke'), seed=0)
        assert '\n' not in str(err.value)
        cfg = TASK_CONFIGS[name]()
        with pytest.raises(ConfigError, match=f"protocol 'smoke' runs on synthetic data, which "
                                              f"task '{name}' has none of; run it with "
                                              '--protocol paper'):
            task.adapter.datasets(get_protocol('smoke'), cfg)


def test_segmentation_smoke_rewrite_hand_values():
    cfg = resolve_config(CEN, get_protocol('smoke'), seed=0)
    from fusionbench.data.scenes import CLASSES
    assert cfg.model.num_classes == len(CLASSES)
    assert (cfg.model.backbone.depth, cfg.model.backbone.width) == (18, 0.125)
    assert cfg.model.decode_head.width == 0.0625 and cfg.model.backbone.pretrained is None
    assert cfg.optim_wrapper.optimizer.lr == 0.005
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == 4.0  # 0.02 / 0.005
    hooks = {h['type']: h.get('interval') for h in cfg.custom_hooks}
    assert hooks['GammaSparsityHook'] == 3 and hooks['GammaDynamicsHook'] == 1  # 12//4, 12//48→1
    assert cfg.val_evaluator == dict(type='MultiHeadIoUMetric', ignore_index=255)
    train = cfg.train_dataloader.dataset
    assert (train.type, train.num_scenes, train.seed, train.height) == ('SyntheticScenes', 32, 1,
                                                                         32)
    assert cfg.test_dataloader.dataset.seed == 3 and cfg.val_dataloader.dataset.seed == 2
    normalize = train.pipeline[1]
    assert normalize.mean == {'rgb': (123.675, 116.28, 103.53), 'depth': (2.8,)}
    assert normalize.std == {'rgb': (58.395, 57.12, 57.375), 'depth': (1.6,)}
    assert [t['type'] for t in cfg.test_dataloader.dataset.pipeline] == [
        'NormalizeModalities', 'PackMultiModalInputs']


def test_paper_protocol_keeps_a_configs_own_evaluator():
    cfg = Config.fromfile(f'configs/{CEN}')
    cfg.val_evaluator = dict(type='IoUMetric', iou_metrics=['mDice'])
    out = get_protocol('paper').apply(cfg)
    assert out.val_evaluator == dict(type='IoUMetric', iou_metrics=['mDice'])
    assert out.test_evaluator == dict(type='MultiHeadIoUMetric', ignore_index=255)
    assert 'val_evaluator' in cfg and cfg.model == out.model  # a copy; the model as written


def test_task_key_wins_and_bad_tasks_fail_in_one_line():
    cfg = translation_config()
    cfg.task = 'segmentation'
    assert task_of(cfg).name == 'segmentation'
    cfg.task = 'captioning'
    with pytest.raises(ConfigError, match="config key task: unknown task 'captioning'; "
                                          'registered: segmentation, translation'):
        task_of(cfg)
    mmseg = Config(dict(model=dict(type='EncoderDecoder')))  # mmseg's: declares no task
    with pytest.raises(ConfigError, match="model.type 'EncoderDecoder' declares none; set task = "):
        get_protocol('paper').apply(mmseg)


def test_model_override_of_a_missing_part_names_the_key():
    cfg = Config.fromfile(f'configs/{CEN}')
    del cfg.model['decode_head']
    with pytest.raises(ConfigError, match="model override 'decode_head.width': the config has "
                                          "no model.decode_head"):
        get_protocol('smoke').apply(cfg)


def test_metric_info_direction():
    fid = get_task('translation').metric('FID')
    miou = get_task('segmentation').metric('mIoU')
    assert (fid.direction, fid.decimals, fid.sign) == ('lower', 2, -1.0)
    assert (miou.direction, miou.decimals, miou.sign) == ('higher', 1, 1.0)
    assert fid.better(57.19, 113.91) and not fid.better(113.91, 57.19)
    assert miou.better(51.1, 49.6) and not miou.better(49.6, 49.6)
    with pytest.raises(ValueError, match=r"metrics declared twice: \['a'\]"):
        metric_table(MetricInfo('a', True, 1), MetricInfo('a', False, 2))
    with pytest.raises(ValueError, match='decimals must be >= 0'):
        MetricInfo('a', True, -1)


def spec(task: str, metrics: list[Metric], **kwargs) -> TableSpec:
    row = Row('x', 'x', {})
    return TableSpec('t', 'T', [row], metrics, {m.column: f'paper_{m.column}' for m in metrics},
                     task=task, **kwargs)


def test_table_metrics_resolve_against_the_tables_task():
    seg = spec('segmentation', [Metric('rgb_miou', 'rgb'), Metric('acc', 'rgb', 'aAcc')],
               constant_columns={'params_total_m': lambda r: 0.0})
    assert seg.metrics == [('rgb_miou', 'rgb', 'mIoU'), ('acc', 'rgb', 'aAcc')]
    assert seg.metric_info('paper_rgb_miou').name == 'mIoU'  # the paper's column name too
    assert (seg.decimals('rgb_miou'), seg.decimals('params_total_m')) == (1, 1)
    fid = spec('translation', [Metric('fid', 'rgb'), Metric('kid_x100', 'rgb', 'KID')])
    assert fid.metrics[0] == ('fid', 'rgb', 'FID')
    assert fid.metric_info('fid').higher_is_better is False
    assert fid.decimals('kid_x100') == 2 and fid.decimals('paper_fid') == 2
    with pytest.raises(KeyError, match="task 'segmentation' declares no metric 'FID'"):
        spec('segmentation', [Metric('fid', 'rgb', 'FID')])


def test_column_names_map_to_declared_metrics_without_a_spec():
    assert metric_of_column('ensemble_miou').name == 'mIoU'
    assert metric_of_column('kid_x100').name == 'KID'
    assert metric_of_column('params_total_m') is None
    assert [value_decimals(c) for c in ('fid', 'kid_x100', 'nyu_miou', 'params_same_m')] == \
        [2, 2, 1, 1]


def test_outperforming_follows_the_metrics_direction():
    assert [better_kind(True), better_kind(False), better_kind(False, against_all=True)] == \
        ['greater', 'less', 'less_all']
    assert {c.kind for c in table2_claims(['a_early'], [])} == {'greater_all'}
    (claim,) = table2_claims(['a_early', 'a_late'], [], higher_is_better=False)
    assert claim.kind == 'less_all'
    # CEN's FID-like score is 10 lower than both rows in both columns: lower is better, so the
    # "outperforms by more than 2 on average" claim is reproduced (hand-made values).
    df = pd.DataFrame({'row': ['cen', 'a_early', 'a_late'],
                       'ensemble_miou_values': [[40.0, 41.0, 42.0], [50.0, 51.0, 52.0],
                                                [50.5, 51.0, 52.5]],
                       'ensemble_miou_seeds': [[0, 1, 2]] * 3,
                       'common_miou_values': [[40.0, 41.0, 42.0], [50.0, 51.0, 52.0],
                                              [50.5, 51.0, 52.5]],
                       'common_miou_seeds': [[0, 1, 2]] * 3})
    assert judge(claim, df).status == REPRODUCED


def test_paper_tables_are_the_shipped_csv_files(tmp_path):
    assert paper_tables() == ('ablations', 'table1', 'table2', 'table3', 'table4', 'table5')
    (tmp_path / 'table6.csv').write_text('row,fid,source\nours,12.5,reported\n')
    assert paper_tables(tmp_path) == ('table6',)
    assert load_paper_table('table6', tmp_path).loc[0, 'fid'] == 12.5
    with pytest.raises(KeyError, match="unknown paper table 'table7'; known: table6"):
        load_paper_table('table7', tmp_path)


def test_the_stored_config_is_the_config_that_ran():
    """A small protocol replaces the paper's loaders and rates: their variables (500×500 crop,
    40 classes, the paper's pipelines and learning rates) leave the resolved config with them;
    the paper protocol keeps the config as written."""
    from fusionbench.experiments.config_check import resolve_config
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.tasks.segmentation.adapter import PAPER_DATA_KEYS, PAPER_SCHEDULE_KEYS

    config = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
    mini = resolve_config(config, get_protocol('mini'), seed=0)
    assert not set(PAPER_DATA_KEYS + PAPER_SCHEDULE_KEYS) & set(mini.keys())
    assert mini.model.num_classes == 14 and mini.train_dataloader.dataset.height == 64
    paper = resolve_config(config, get_protocol('paper'), seed=0)
    assert paper.crop_size == (500, 500) and paper.num_classes == 40
