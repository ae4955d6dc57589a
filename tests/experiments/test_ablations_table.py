"""The ``ablations`` table (§4.1): rows from the cards, configs as diffs of Table 1's, the paper's
numbers, the claims, every row starting from the same pretrained encoder, and ``run ablations``
end to end on the smoke protocol."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from fusionbench.analysis.claims import Claim
from fusionbench.analysis.paper import spec_paper_value
from fusionbench.experiments.protocols import PRETRAIN_CONFIG, get_protocol
from fusionbench.experiments.run import resolve_config
from fusionbench.experiments.tables import T1, get_table

PAPER_ORDER = ['cen', 'fixed30', 'fixed30_downsampling', 'cbn_unshared', 'cbn_shared', 'sum',
               'sum_gated', 'concat_ensemble', 'random_exchange', 'discard']
#: Each row's (model type, conv sharing, fusion type) after resolution.
EXPECTED = {
    'cen': ('MultiModalSegmentor', 'shared', 'cen'),
    'fixed30': ('MultiModalSegmentor', 'shared', 'fixed_exchange'),
    'fixed30_downsampling': ('MultiModalSegmentor', 'shared', 'fixed_exchange'),
    'cbn_unshared': ('MultiModalSegmentor', 'private', 'cbn'),
    'cbn_shared': ('MultiModalSegmentor', 'shared', 'cbn'),
    'sum': ('MultiModalSegmentor', 'shared', 'sum_exchange'),
    'sum_gated': ('MultiModalSegmentor', 'shared', 'sum_exchange'),
    'concat_ensemble': ('ConcatEnsembleSegmentor', 'shared', 'cen'),
    'random_exchange': ('MultiModalSegmentor', 'shared', 'random_exchange'),
    'discard': ('MultiModalSegmentor', 'shared', 'discard_channels'),
}


def test_rows_are_cen_and_every_variant_in_the_paper_order():
    spec = get_table('ablations')
    assert [r.id for r in spec.rows] == PAPER_ORDER
    assert [m.column for m in spec.metric_specs] == ['rgb_miou', 'depth_miou', 'ensemble_miou']
    paper = {r.id: spec_paper_value(spec, r, 'ensemble_miou') for r in spec.rows}
    assert paper == {'cen': 51.1, 'fixed30': 47.2, 'fixed30_downsampling': 48.6,
                     'cbn_unshared': 48.3, 'cbn_shared': 48.9, 'sum': 48.1, 'sum_gated': 48.4,
                     'concat_ensemble': 50.8, 'random_exchange': 46.8, 'discard': 47.5}
    # CEN's cell is Table 1's (the same config, so the same run)
    assert spec.row('cen').cells == get_table('table1').row('cen').cells


def test_claims_pair_cen_with_every_ablation_row():
    spec = get_table('ablations')
    assert all(isinstance(c, Claim) and c.kind == 'greater' and c.column == 'ensemble_miou'
               for c in spec.claims)
    assert [c.rows for c in spec.claims] == [('cen', r) for r in PAPER_ORDER[1:]]
    assert spec.claims[0].id == 'ablations.cen_beats_fixed30'


@pytest.mark.parametrize('row', PAPER_ORDER)
def test_row_resolves_to_table1s_base_plus_its_variant(row):
    cell = get_table('ablations').row(row).cells['main']
    assert cell.config in {T1.format('private-bn'), T1.format('cen-directed-l1half')}
    cfg = resolve_config(cell.config, get_protocol('paper'), 0, cell.overrides)
    model_type, convs, fusion = EXPECTED[row]
    assert cfg.model.type == model_type
    assert cfg.model.backbone.type == 'MultiModalResNet'
    assert cfg.model.backbone.norm_sharing == 'private'
    assert cfg.model.backbone.get('conv_sharing', 'shared') == convs
    assert cfg.model.fusion.type == fusion
    assert tuple(cfg.model.fusion.stages) == (1, 2, 3, 4)
    assert cfg.model.backbone.depth == 101 and cfg.train_cfg.max_epochs == 300
    if fusion in ('sum_exchange', 'discard_channels'):  # CEN's rule and ℓ1
        assert (cfg.model.fusion.threshold, cfg.model.fusion.l1,
                cfg.model.fusion.l1_weight) == (2e-2, 'half', 5e-3)


def test_mini_pretrains_every_row():
    for row in get_table('ablations').rows:
        cell = row.cells['main']
        cfg = resolve_config(cell.config, get_protocol('mini'), 0, cell.overrides)
        assert cfg.pretraining['config'] == PRETRAIN_CONFIG, row.id


@pytest.mark.slow
def test_every_row_starts_from_the_same_pretrained_encoder(tiny, tmp_path, monkeypatch):
    """Every variant loads the seed's pretrained encoder (each private conv copy too) and the
    γ learning rates; the variants with CEN's ℓ1 get its per-layer λ."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from fusionbench.experiments import grid, pretrain
    from fusionbench.experiments.config_check import build_model
    from fusionbench.experiments.run import train_and_evaluate

    monkeypatch.setenv('FUSIONBENCH_CACHE', str(tmp_path / 'cache'))
    jobs = grid.plan(get_table('ablations'), tiny, 1)
    assert sorted(j.row for j in jobs) == sorted(PAPER_ORDER)
    keys, shas = [], set()
    for job in jobs:
        cfg = Config(job.resolved)
        applied = pretrain.apply_pretraining(cfg, train_and_evaluate)
        shas.add(json.dumps(applied['sha256'], sort_keys=True))
        keys.append(cfg.optim_wrapper.paramwise_cfg.custom_keys['layer2.1.bn2.weight'])
        has_l1 = cfg.model.fusion.type in ('cen', 'sum_exchange', 'discard_channels')
        assert isinstance(cfg.model.fusion.get('l1_weight'), dict) == has_l1, job.row
        backbone = torch.load(cfg.model.backbone.pretrained, weights_only=True)
        with DefaultScope.overwrite_default_scope('fusionbench'):
            model = build_model(cfg)
            model.init_weights()
        convs = {k: v for k, v in model.backbone.state_dict().items()
                 if k.startswith('layer1.0.conv1.')}
        assert len(convs) == (2 if job.row == 'cbn_unshared' else 1), job.row
        for key, value in convs.items():
            assert torch.equal(value, backbone['layer1.0.conv1.weight']), (job.row, key)
    assert len(shas) == 1 and all(k == keys[0] for k in keys)


@pytest.mark.slow
def test_run_ablations_smoke_end_to_end(one_thread):
    from fusionbench.cli import main
    from fusionbench.experiments.outputs import render_reports

    assert main(['run', 'ablations', '--protocol', 'smoke']) == 0
    out = Path(os.environ['FUSIONBENCH_RESULTS']) / 'smoke'
    records = sorted((out / 'runs' / 'ablations').glob('*.json'))
    assert len(records) == len(PAPER_ORDER)
    df = pd.read_csv(out / 'ablations.csv').set_index('row')
    assert list(df.index) == PAPER_ORDER
    assert df[['rgb_miou_mean', 'depth_miou_mean', 'ensemble_miou_mean']].notna().all().all()
    assert df.loc['cbn_unshared', 'params_total_m'] > df.loc['cbn_shared', 'params_total_m'] \
        > df.loc['cen', 'params_total_m']
    report = render_reports('smoke')[-2].read_text(encoding='utf-8')
    assert 'ablations.cen_beats_random_exchange' in report


def _card(*rows):
    from fusionbench.fusion.base import FusionCard
    return FusionCard(name='mine', summary='a user method', paper='-', position='block',
                      stages=('all',), tables=('ablations',), rows={'ablations': rows})


def test_a_plugin_row_comes_last_marked_as_ours(monkeypatch):
    from fusionbench.experiments import tables
    from fusionbench.fusion.base import CardRow, fusion_cards

    cards = fusion_cards('ablations') + [_card(CardRow('aaa_mine', 'mine', {'stages': (1,)}))]
    monkeypatch.setattr(tables, 'fusion_cards', lambda table=None: cards)
    spec = tables.ablations()
    assert [r.id for r in spec.rows] == PAPER_ORDER + ['aaa_mine']
    row = spec.row('aaa_mine')
    assert row.note == "not in the paper's §4.1" and spec_paper_value(spec, row, 'ensemble_miou') \
        is None
    assert row.cells['main'].overrides == {'model.fusion': {'type': 'mine', 'stages': (1,)}}
    assert spec.claims[-1].id == 'ablations.cen_beats_aaa_mine'
    assert 'our addition' in spec.claims[-1].text


def test_duplicate_row_ids_fail_naming_them(monkeypatch):
    from fusionbench.experiments import tables
    from fusionbench.fusion.base import CardRow, fusion_cards

    cards = fusion_cards('ablations') + [_card(CardRow('sum', 'another sum'))]
    monkeypatch.setattr(tables, 'fusion_cards', lambda table=None: cards)
    with pytest.raises(ValueError, match=r"declare the row ids \['sum'\] twice"):
        tables.ablation_rows()
