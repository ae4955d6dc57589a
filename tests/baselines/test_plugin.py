"""The plug-in path: a fusion method from outside the package, through Table 2's smoke path.

The method is the example file of the README's "Add a fusion method" (extracted from it,
so the document stays runnable), imported by the configs' ``custom_imports`` from a folder on
``sys.path``; it runs in both settings through the grid (plan, execute, aggregate) and the
parameter accounting. Methods that break the interface fail at build time, by name.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from fusionbench import registry
from fusionbench.experiments.aggregate import aggregate
from fusionbench.experiments.grid import execute, plan
from fusionbench.experiments.param_table import param_rows
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import CONFIG_ROOT
from fusionbench.experiments.tables import Cell, Metric, Row, TableSpec, params_m
from fusionbench.fusion.base import FusionCard, FusionModule

README = Path(__file__).resolve().parents[2] / 'README.md'
BASES = ', '.join(repr(str(Path(CONFIG_ROOT) / '_base_' / name)) for name in (
    'models/refinenet_r101_rgbd.py', 'datasets/nyudv2_rgbd.py', 'schedules/nyudv2_300e.py',
    'default_runtime.py'))


def example_module() -> str:
    """The first python block of the README's "Add a fusion method": ``my_fusion.py``."""
    section = README.read_text(encoding='utf-8').split('## Add a fusion method', 1)[1]
    return re.findall(r'```python\n(.*?)```', section, re.S)[0]


@pytest.fixture(scope='module')
def plugin_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('plugin')
    (folder / 'fb_plugin_weighted_sum.py').write_text(example_module(), encoding='utf-8')
    sys.path.insert(0, str(folder))
    for setting, keep, stages, model in (
            ('common', False, (4,), "type='SeparateStreamsSegmentor', "
                                     "backbone=dict(type='SeparateStreamsResNet'), "),
            ('same', True, (1, 2, 3, 4), '')):
        (folder / f'weighted-sum-{setting}.py').write_text(
            f'_base_ = [{BASES}]\n'
            "custom_imports = dict(imports=['fb_plugin_weighted_sum'], "
            'allow_failed_imports=False)\n'
            f"model = dict({model}fusion=dict(type='weighted_sum', keep_streams={keep}, "
            f'stages={stages}))\n', encoding='utf-8')
    yield folder
    sys.path.remove(str(folder))


def plugin_table(folder: Path) -> TableSpec:
    metrics = [Metric('common_miou', 'primary', cell='common'),
               Metric('ensemble_miou', 'ensemble', cell='same')]
    return TableSpec(
        name='plugin_table2', title='a plug-in method through Table 2', metric_specs=metrics,
        rows=[Row('weighted_sum_late', 'weighted sum', {
            'common': Cell(str(folder / 'weighted-sum-common.py')),
            'same': Cell(str(folder / 'weighted-sum-same.py'))})],
        paper_columns={}, constant_columns={'params_same_m': params_m('total'),
                                            'fusion_params_m': params_m('fusion')},
        column_cells={'common_miou': 'common', 'ensemble_miou': 'same',
                      'params_same_m': 'same', 'fusion_params_m': 'same'})


@pytest.mark.slow
def test_plugin_method_runs_the_table2_smoke_path(plugin_dir, tmp_path, one_thread):
    spec = plugin_table(plugin_dir)
    jobs = plan(spec, get_protocol('smoke'), seeds=1)
    assert [j.cell for j in jobs] == ['common', 'same']
    records = [execute(job, root=str(tmp_path)) for job in jobs]
    assert [r['status'] for r in records] == ['ok', 'ok'], [r.get('error') for r in records]
    common, same = records
    assert set(common['metrics']) == {'fused', 'primary'}
    assert {'rgb', 'depth', 'ensemble'} <= set(same['metrics'])
    # the method's [M, C] weights at the one common point / at the four same-setting points
    channels = [8, 16, 32, 64]  # ResNet-18 ×1/8 of the smoke protocol
    assert common['params']['fusion'] == 2 * channels[3]
    assert same['params']['fusion'] == 2 * sum(channels)
    df = aggregate(records, spec)
    assert df.loc[0, 'n_seeds'] == 1 and df.loc[0, 'common_miou_mean'] >= 0
    cells = param_rows(spec, 'smoke')
    fusion = next(c for c in cells if c.column == 'fusion_params_m')
    assert fusion.ours == 2 * sum(channels) and fusion.paper_m is None
    assert registry.FUSIONS.get('weighted_sum').card.settings == ('common', 'same')


class DropsDepth(FusionModule):
    """Keeps streams but returns only the first modality's rows (wrong modality count)."""

    card = FusionCard(name='drops_depth', summary='broken', paper='-', position='stage')
    keeps_streams = True

    def forward(self, x, norm=None):
        return x[: x.shape[0] // self.num_modalities], {}


class ClaimsToMerge(FusionModule):
    """Declares one output stream but returns every stream (wrong output shape)."""

    card = FusionCard(name='claims_to_merge', summary='broken', paper='-', position='stage')
    keeps_streams = False

    def __init__(self, point, **kwargs):
        super().__init__(point)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x, norm=None):
        return x * self.scale, {}


@pytest.fixture(autouse=True)
def broken_methods():
    """Register the broken methods for a test and remove them after (the registry is shared:
    the interface checks over every registered method must not meet them)."""
    registry.FUSIONS.register_module(name='drops_depth', module=DropsDepth, force=True)
    registry.FUSIONS.register_module(name='claims_to_merge', module=ClaimsToMerge, force=True)
    yield
    for name in ('drops_depth', 'claims_to_merge'):
        registry.FUSIONS.module_dict.pop(name, None)


@pytest.mark.parametrize('backbone', ['MultiModalResNet', 'SeparateStreamsResNet'])
def test_wrong_modality_count_fails_at_build_time_naming_the_method(backbone):
    with pytest.raises(TypeError, match=r'DropsDepth at stage3 \(M=2, C=32, keeps_streams=True\) '
                                        r'must return \[M\*N, C, H, W\] = \[4, 32, 4, 4\].*got '
                                        r'\[2, 32, 4, 4\]'):
        registry.build(registry.MODELS, dict(type=backbone, num_modalities=2, depth=18,
                                             width=0.125, fusion=dict(type='drops_depth',
                                                                      stages=(3,))))


def test_wrong_output_shape_fails_at_build_time_naming_the_method():
    with pytest.raises(TypeError, match=r'ClaimsToMerge at stage2 \(M=3, C=16, keeps_streams='
                                        r'False\) must return \[N, C, H, W\] = \[2, 16, 4, 4\].*'
                                        r'got \[6, 16, 4, 4\]'):
        registry.build(registry.MODELS, dict(
            type='SeparateStreamsSegmentor', modalities=('a', 'b', 'c'), num_classes=3,
            backbone=dict(type='SeparateStreamsResNet', depth=18, width=0.125),
            decode_head=dict(type='RefineNetDecoder', width=0.0625),
            fusion=dict(type='claims_to_merge', stages=(2,))))
