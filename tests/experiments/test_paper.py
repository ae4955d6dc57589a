"""The paper's tables as shipped data: transcription spot checks and row-key integrity."""
import pandas as pd
import pytest

from fusionbench.analysis.paper import (TABLES, load_paper_table, paper_value,
                                           spec_paper_value)


@pytest.mark.parametrize('table,row,column,expected', [
    ('table1', 'cen', 'ensemble_miou', 51.1),
    ('table1', 'shared_bn', 'rgb_miou', 43.7),
    ('table1', 'cen_l1_all', 'depth_miou', 39.0),
    ('table2', 'self_att_all', 'same_params_m', 231.0),
    ('table2', 'align_late', 'fusion_params_m', 41.9),
    ('table2', 'concat_early', 'common_params_m', 120.1),
    ('table2', 'cen', 'fusion_params_m', 0.0),
    ('table3', 'ssma_resnet101', 'nyu_miou', 49.6),
    ('table3', 'cen_pspnet152_multi', 'sun_miou', 51.1),
    ('table3', '3dgnn_resnet101', 'sun_mean_acc', 57.0),
    ('table4', 'depth_normal_to_rgb.concat_middle', 'fid', 100.29),
    ('table4', 'shade_texture_to_rgb.cen', 'kid_x100', 1.65),
    ('table4', 'shade_texture_to_rgb.self_att_all', 'fid', 73.87),
    ('table5', 'depth_normal_texture_shade', 'fid', 57.19),
    ('table5', 'normal', 'kid_x100', 5.42),
    ('ablations', 'cen', 'ensemble_miou', 51.1),
    ('ablations', 'fixed30', 'ensemble_miou', 47.2),
    ('ablations', 'fixed30_downsampling', 'ensemble_miou', 48.6),
    ('ablations', 'cbn_unshared', 'ensemble_miou', 48.3),
    ('ablations', 'cbn_shared', 'ensemble_miou', 48.9),
    ('ablations', 'sum', 'ensemble_miou', 48.1),
    ('ablations', 'sum_gated', 'ensemble_miou', 48.4),
    ('ablations', 'concat_ensemble', 'ensemble_miou', 50.8),
    ('ablations', 'random_exchange', 'ensemble_miou', 46.8),
    ('ablations', 'discard', 'ensemble_miou', 47.5),
])
def test_spot_checks(table, row, column, expected):
    assert paper_value(table, row, column) == pytest.approx(expected)


@pytest.mark.parametrize('table,row,column', [
    ('table2', 'cen', 'common_miou'),           # "-" in the paper
    ('table2', 'unimodal_rgb', 'same_depth_miou'),
    ('table3', 'acnet_resnet50', 'nyu_pixel_acc'),
])
def test_dashes_are_none(table, row, column):
    assert paper_value(table, row, column) is None


@pytest.mark.parametrize('name', TABLES)
def test_row_keys_unique_and_labelled_reported(name):
    df = load_paper_table(name)
    assert df['row'].is_unique
    where = (f'Table {name[-1]}' if name.startswith('table')
             else '§4.1 Additional ablation studies; NYUDv2, RefineNet ResNet-101, single-scale')
    assert (df['source'] == f'reported (Wang et al., NeurIPS 2020, {where})').all()


def test_row_keys_used_by_the_code_exist():
    assert set(load_paper_table('table1')['row']) == {
        'unshared', 'shared_bn', 'private_bn', 'private_bn_l1_half', 'cen', 'cen_l1_all'}
    table2 = set(load_paper_table('table2')['row'])
    assert {'unimodal_rgb', 'unimodal_depth', 'cen'} <= table2
    assert {f'{m}_{s}' for m in ('concat', 'align', 'self_att')
            for s in ('early', 'middle', 'late', 'all')} <= table2
    assert len(table2) == 15
    assert len(load_paper_table('table4')) == 2 * (4 * 4 + 1)


def test_flags_are_nullable_booleans():
    df = load_paper_table('table3').set_index('row')
    assert df['our_implementation'].dtype == 'boolean'
    assert df.loc['ssma_resnet101', 'our_implementation']
    assert df.loc['cen_refinenet101_multi', 'ours']
    assert not df.loc['cen_refinenet101_single', 'multi_scale']
    assert pd.isna(df.loc['fcn32s_vgg16', 'multi_scale'])
    assert 'SSMA [44]' == df.loc['ssma_resnet101', 'approach']


def test_load_returns_a_copy():
    df = load_paper_table('table1')
    df.loc[0, 'rgb_miou'] = -1.0
    assert paper_value('table1', 'unshared', 'rgb_miou') == 45.5


def test_unknown_names_fail_clearly(tmp_path):
    with pytest.raises(KeyError, match='rows:'):
        paper_value('table1', 'nope', 'rgb_miou')
    with pytest.raises(KeyError, match='columns:'):
        paper_value('table1', 'cen', 'nope')
    with pytest.raises(KeyError, match='known'):
        load_paper_table('table9')
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_paper_table('table1', paper_dir=tmp_path)


def test_spec_paper_value():
    class Row:
        def __init__(self, id, paper_row):
            self.id, self.paper_row = id, paper_row

    class Spec:
        name = 'table2'
        paper_columns = {'ensemble_miou': 'same_ensemble_miou'}

    assert spec_paper_value(Spec, Row('cen', 'cen'), 'ensemble_miou') == 51.1
    assert spec_paper_value(Spec, Row('average_all', None), 'ensemble_miou') is None
    assert spec_paper_value(Spec, Row('cen', 'cen'), 'rgb_miou') is None
