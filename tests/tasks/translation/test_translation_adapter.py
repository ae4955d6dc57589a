"""Translation configs on the synthetic protocols (TranslationAdapter), and Tables 4-5 as data."""
from __future__ import annotations

import dataclasses

import pytest
from mmengine.config import Config

from fusionbench.analysis.paper import load_paper_table
from fusionbench.errors import ConfigError
from fusionbench.experiments.config_check import load_config, resolve_config
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.tables import get_table
from fusionbench.paths import config_path
from fusionbench.tasks.translation.generator import fusion_layers

DN = 'table4/cen_pix2pix-unet256_200e_taskonomy-depth-normal.py'
ST = 'table4/cen_pix2pix-unet256_200e_taskonomy-shade-texture.py'


def _cfg(path=DN):
    return load_config(config_path(path))


def test_mini_translation_fields():
    mini = get_protocol('mini')
    tr = mini.for_task('translation')
    assert tr.pretraining is None and tr.data.size == 32
    assert tr.l1_weight == {'down2': 2.3e-2, 'down3': 5.1e-3, 'down4': 1.7e-3}
    assert tr.decoder_lr == 2e-4 and tr.max_iters != mini.max_iters
    assert mini.for_task('segmentation') is mini            # segmentation sees mini unchanged


def test_resolved_config_on_mini():
    cfg = resolve_config(DN, get_protocol('mini'), seed=0)
    pre, gen = cfg.model.data_preprocessor, cfg.model.generator
    assert pre.domains == ('depth', 'normal')                # Taskonomy's depth_zbuffer
    assert cfg.train_dataloader.dataset.modalities == ('depth', 'normal', 'rgb')
    assert cfg.train_dataloader.dataset.height == 32 and cfg.test_dataloader.dataset.seed == 3
    assert 32 % 2 ** gen.depth == 0
    # the protocol's λ per exchange level; the encoder norms' γ's at the derived rate
    assert gen.fusion == dict(type='cen', threshold=1e-2, layers='all',
                              l1_weight={'down2': 2.3e-2, 'down3': 5.1e-3, 'down4': 1.7e-3})
    for net in ('generator', 'discriminator'):
        assert cfg.optim_wrapper[net].optimizer == dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))
    keys = cfg.optim_wrapper.generator.paramwise_cfg.custom_keys
    assert keys == {'.norm.weight': dict(lr_mult=pytest.approx(1.5 / (2e-4 * 300 * 7 / 12)))}
    assert 'paramwise_cfg' not in cfg.optim_wrapper.discriminator
    assert cfg.val_evaluator.domains == ('depth', 'normal')
    assert 'pretraining' not in cfg
    # early / middle / late / all on the protocol's U-Net: stage methods at levels 1, D//2, D
    assert fusion_layers('middle', gen.depth, 'stage') == (gen.depth // 2,)


def test_gamma_lr_mult_by_hand():
    from fusionbench.tasks.translation.adapter import gamma_lr_mult
    assert gamma_lr_mult(2e-4, 300, 2) == pytest.approx(42.857, abs=1e-3)   # 1.5 / 0.035
    assert gamma_lr_mult(1e-3, 100, 0) == pytest.approx(15.0)


def test_baseline_rows_get_no_gamma_rate():
    cfg = resolve_config('table5/pix2pix-unet256_200e_taskonomy-depth.py', get_protocol('mini'), 0)
    assert 'l1_weight' not in cfg.model.generator.fusion
    assert 'paramwise_cfg' not in cfg.optim_wrapper.generator


def test_paper_protocol_keeps_the_config():
    cfg = resolve_config(ST, get_protocol('paper'), seed=0)
    assert cfg.model.generator.fusion.l1_weight == 1e-3     # the paper's λ, no γ rate
    assert 'paramwise_cfg' not in cfg.optim_wrapper.generator
    assert cfg.model.generator.depth == 8 and cfg.model.generator.ngf == 64
    assert cfg.model.data_preprocessor.domains == ('reshading', 'edge_texture')
    assert cfg.train_dataloader.dataset.type == 'TaskonomyDataset'
    assert cfg.val_evaluator.type == 'TranslationMetric'


@pytest.mark.parametrize('edit, key', [
    (lambda c: c.model.data_preprocessor.pop('domains'), 'model.data_preprocessor.domains'),
    (lambda c: c.model.generator.update(num_modalities=3), 'model.generator.num_modalities'),
    (lambda c: c.model.data_preprocessor.update(domains=('curvature', 'normal')),
     'model.data_preprocessor.domains'),
    (lambda c: c.optim_wrapper.pop('discriminator'), 'optim_wrapper.discriminator'),
])
def test_bad_configs_fail_in_one_line_naming_the_key(edit, key):
    cfg = _cfg()
    edit(cfg)
    with pytest.raises(ConfigError) as err:
        resolve_config(Config(cfg.to_dict()), get_protocol('smoke'), seed=0)
    assert key in str(err.value) and '\n' not in str(err.value)


def test_size_not_divisible_by_the_unet_fails_naming_the_depth():
    smoke = get_protocol('smoke')
    fields = smoke.tasks['translation']
    odd = dataclasses.replace(smoke, tasks={'translation': dict(
        fields, data=dataclasses.replace(fields['data'], size=20))})
    with pytest.raises(ConfigError, match=r'image size 20 .*model\.generator\.depth = 8'):
        resolve_config(DN, odd, seed=0)


def test_table4_rows_claims_and_paper_numbers():
    spec = get_table('table4')
    paper = set(load_paper_table('table4')['row'])
    assert len(spec.rows) == 2 * (4 * 4 + 1)
    assert {row.paper_row for row in spec.rows} == paper     # every paper row, each once
    cen = spec.row('depth_normal_to_rgb.cen')
    assert cen.cells['main'].config == DN and not cen.cells['main'].overrides
    row = spec.row('shade_texture_to_rgb.self_attention_early')
    assert row.paper_row == 'shade_texture_to_rgb.self_att_early'
    assert row.cells['main'].overrides == {'model.generator.fusion': dict(
        _delete_=True, type='self_attention', keep_streams=True, layers='early')}
    cfg = resolve_config(row.cells['main'].config, get_protocol('smoke'), 0,
                         row.cells['main'].overrides)
    assert cfg.model.generator.fusion == dict(type='self_attention', keep_streams=True,
                                              layers='early')
    assert [m.column for m in spec.metric_specs][:2] == ['fid', 'kid_x100']
    assert not spec.metric_info('fid').higher_is_better and spec.decimals('ssim') == 3
    assert 'extractor' in spec.constant_columns
    claims = {c.id: c for c in spec.claims}
    assert set(claims) == {'table4.shade_texture_to_rgb.cen_beats_all',
                           'table4.depth_normal_to_rgb.cen_beats_all'}
    claim = claims['table4.depth_normal_to_rgb.cen_beats_all']
    assert claim.kind == 'less_all' and claim.column == 'fid' and len(claim.rows) == 17
    assert claim.rows[0] == 'depth_normal_to_rgb.cen'


def test_table5_rows():
    spec = get_table('table5')
    assert [r.id for r in spec.rows] == list(load_paper_table('table5')['row'])
    assert spec.row('depth_normal').cells['main'].config == DN   # Table 4's CEN model
    assert [c.id for c in spec.claims] == ['table5.more_modalities_lower_fid']
    for row in spec.rows:   # every config resolves on the small protocols
        cfg = resolve_config(row.cells['main'].config, get_protocol('smoke'), seed=0)
        m = cfg.model.generator.num_modalities
        assert m == len(cfg.model.data_preprocessor.domains)
        assert (cfg.model.generator.fusion['type'] == 'none') == (m == 1)
