"""A user's fusion method enters Table 2 by its card alone: one file in the user's package.

The package lives in a temporary folder on ``sys.path`` and is named in ``$FUSIONBENCH_PLUGINS``
(imported before fusion methods are listed or built, in every process of a run). Its card opts
in with ``tables=('table2',)``: the method gets a row per stage with a cell per setting in
``run table2 --list``, its parameter cells in ``params table2``, and a claim of its own; a
method whose card does not opt in stays out of the table.
"""
from __future__ import annotations

import sys
import textwrap

import pytest

from fusionbench import registry
from fusionbench.cli import main
from fusionbench.experiments.tables import get_table

MODULE = textwrap.dedent('''
    """Two user methods: one opts in to Table 2, one (an ablation) does not."""
    import torch
    from torch import nn

    from fusionbench import registry
    from fusionbench.fusion.base import MERGE_OR_KEEP, FusionCard, FusionModule
    from fusionbench.modal import split_modalities


    @registry.FUSIONS.register_module(name='fb_test_max')
    class MaxFusion(FusionModule):
        """Element-wise max of the modalities: [M*N, C, H, W] -> [N, C, H, W] or [M*N, ...]."""

        card = FusionCard(name='fb_test_max', summary='element-wise max', paper='-',
                          position='stage', settings=('common', 'same'), label='Max',
                          stages=('middle', 'late'), setting_args=MERGE_OR_KEEP,
                          tables=('table2',))

        def __init__(self, point, keep_streams=False):
            super().__init__(point)
            self.keeps_streams = keep_streams
            self.scale = nn.Parameter(torch.ones(point.channels))

        def forward(self, x, norm=None):
            m = self.num_modalities
            fused = split_modalities(x, m).amax(0) * self.scale[:, None, None]
            return (fused.repeat(m, 1, 1, 1) if self.keeps_streams else fused), {}


    @registry.FUSIONS.register_module(name='fb_test_ablation')
    class Ablation(MaxFusion):
        card = FusionCard(name='fb_test_ablation', summary='not in any table', paper='-',
                          position='stage', settings=('common', 'same'), stages=('late',),
                          setting_args=MERGE_OR_KEEP)
''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    package = tmp_path / 'fb_test_user_pkg'
    package.mkdir()
    (package / '__init__.py').write_text('', encoding='utf-8')
    (package / 'max_fusion.py').write_text(MODULE, encoding='utf-8')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(registry.PLUGINS_ENV, 'fb_test_user_pkg.max_fusion')
    yield
    for name in ('fb_test_max', 'fb_test_ablation'):
        registry.FUSIONS.module_dict.pop(name, None)
    for name in ('fb_test_user_pkg.max_fusion', 'fb_test_user_pkg'):
        sys.modules.pop(name, None)


def test_a_plugin_method_enters_table2_rows_and_claims(plugin):
    spec = get_table('table2')
    rows = {row.id: row for row in spec.rows}
    assert [r for r in rows if r.startswith('fb_test')] == ['fb_test_max_middle',
                                                            'fb_test_max_late']
    late = rows['fb_test_max_late']
    assert late.method == 'fb_test_max' and late.stage == 'late' and late.paper_row is None
    assert late.label == 'Max (late)' and "not in the paper's Table 2" in late.note
    assert late.cells['common'].overrides == {
        'model.fusion': dict(type='fb_test_max', keep_streams=False, stages=(4,))}
    assert late.cells['same'].overrides['model.fusion']['keep_streams'] is True
    claim = next(c for c in spec.claims if c.id == 'table2.cen_outperforms_fb_test_max')
    assert claim.rows == ('cen', 'fb_test_max_middle', 'fb_test_max_late')
    paper_claim = spec.claims[0]
    assert not any(r.startswith('fb_test') for r in paper_claim.rows)  # the paper's stays


def test_a_plugin_method_is_listed_by_run_and_params(plugin, capsys):
    assert main(['run', 'table2', '--protocol', 'smoke', '--list']) == 0
    listed = capsys.readouterr().out
    assert 'fb_test_max_middle/common/seed0' in listed and 'fb_test_max_late/same/seed0' in listed
    assert 'fb_test_ablation' not in listed
    assert main(['params', 'table2', '--protocol', 'smoke']) == 0
    out = capsys.readouterr().out.splitlines()
    fusion = [line.split() for line in out if line.startswith('fb_test_max_late ')
              and 'fusion_params_m' in line]
    assert [f[2] for f in fusion] == ['same']  # the scale, C = 64 at stage 4: 0.00 M
    assert float(fusion[0][3]) == pytest.approx(0.0, abs=0.005)
    assert main(['list', 'fusions']) == 0
    cards = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert cards['fb_test_max'][3] == 'table2' and cards['fb_test_ablation'][3] == '-'


def test_without_the_plugin_table2_has_only_the_built_in_methods(monkeypatch):
    monkeypatch.delenv(registry.PLUGINS_ENV, raising=False)
    methods = {row.method for row in get_table('table2').rows}
    assert methods == {'unimodal', 'concat', 'align_mmd', 'self_attention', 'cen', 'average'}


def test_a_missing_plugin_fails_in_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv(registry.PLUGINS_ENV, 'fb_test_no_such_module')
    with pytest.raises(registry.PluginImportError, match=r'\$FUSIONBENCH_PLUGINS: cannot '
                                                         r"import 'fb_test_no_such_module'"):
        get_table('table2')
