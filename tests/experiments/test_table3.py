"""Table 3: the paper's protocol configs, the PSPNet parts, the table spec, the report, smoke."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from fusionbench import registry
from fusionbench.analysis.paper import load_paper_table, spec_paper_value
from fusionbench.experiments.preflight import config_files
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import CONFIG_ROOT, build_model, config_path, resolve_config
from fusionbench.experiments.tables import MULTISCALE_TEST, TABLE3_LITERATURE, get_table

PAPER_CONFIGS = [os.path.relpath(p, CONFIG_ROOT)
                 for p in config_files(os.path.join(CONFIG_ROOT, 'paper'))]


def paper_cfg(config: str) -> Config:
    return resolve_config(config, get_protocol('paper'), seed=0)


def test_ten_paper_configs():
    # single-scale files only: multi-scale is a cell override (MULTISCALE_TEST), not a file
    names = {Path(p).stem for p in PAPER_CONFIGS}
    assert names == {f'{stem}_{dataset}'
                     for dataset, s101, s152 in (('nyudv2-40', '300e', '450e'),
                                                 ('sunrgbd-37', '60e', '60e'))
                     for stem in (f'cen_refinenet-r101_{s101}', f'cen_refinenet-r152_{s152}',
                                  f'cen_pspnet-r152_{s152}', f'rgb_refinenet-r101_{s101}',
                                  f'rgb_refinenet-r152_{s152}')}


@pytest.mark.parametrize('config', PAPER_CONFIGS)
def test_paper_config_follows_section_4_1(config):
    cfg = paper_cfg(config)
    name = Path(config).stem
    nyu = 'nyudv2' in name
    depth = 152 if '-r152' in name else 101
    # data: the real data set, crop 500, batch 6, native-size single-image test
    assert cfg.train_dataloader.dataset.type == ('NYUDv2Dataset' if nyu else 'SUNRGBDDataset')
    assert cfg.train_dataloader.dataset.data_root == ('data/nyudv2' if nyu else 'data/sunrgbd')
    assert cfg.model.num_classes == (40 if nyu else 37)
    assert cfg.train_dataloader.batch_size == 6 and cfg.val_dataloader.batch_size == 1
    crops = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'MultiModalRandomCrop']
    assert crops[0].crop_size == (500, 500)
    # optimisation: SGD 0.9 / 1e-5, encoder 5e-4, decoder 3e-3, halved by epoch
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.momentum, optimizer.weight_decay) == ('SGD', 0.9, 1e-5)
    assert optimizer.lr == 3e-3
    assert optimizer.lr * cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == \
        pytest.approx(5e-4)
    epochs, step = (60, 20) if not nyu else ((450, 150) if depth == 152 else (300, 100))
    assert cfg.train_cfg.max_epochs == epochs
    assert [(s.type, s.step_size, s.gamma, s.by_epoch) for s in cfg.param_scheduler] == \
        [('StepLR', step, 0.5, True)]
    # model: ImageNet init from the local torchvision checkpoint, CEN's λ and θ
    assert cfg.model.backbone.depth == depth
    assert cfg.model.backbone.pretrained == {
        101: 'checkpoints/resnet101-63fe2227.pth', 152: 'checkpoints/resnet152-394f9c45.pth'}[depth]
    if name.startswith('cen_'):
        assert cfg.model.modalities == ('rgb', 'depth') and cfg.model.ensemble
        fusion = cfg.model.fusion
        assert (fusion.type, fusion.exchange, fusion.l1) == ('cen', 'directed', 'half')
        assert (fusion.l1_weight, fusion.threshold) == (5e-3, 2e-2)
    else:
        assert cfg.model.modalities == ('rgb',) and cfg.model.fusion.type == 'none'
        assert cfg.val_dataloader.dataset.modalities == ('rgb',)
    if '_pspnet' in name:
        assert cfg.model.backbone.type == 'DilatedMultiModalResNet'
        assert cfg.model.decode_head.type == 'MultiModalPSPHead'
        assert 'dropout' in cfg.model.decode_head and 'width' in cfg.model.decode_head
    else:
        assert cfg.model.decode_head.type == 'RefineNetDecoder'
    assert cfg.model.test_cfg == dict(mode='whole', scales=(1.0,), flip=False)


@pytest.mark.parametrize('table', ['table3', 'table3_sunrgbd'])
def test_multiscale_rows_are_the_single_scale_config_with_the_override(table):
    # a `_ms` row and its `_ss` twin resolve to the same config but for the test setting; the
    # RGB rows are multi-scale only (the RefineNet paper's numbers)
    assert MULTISCALE_TEST == {
        'model.test_cfg': dict(mode='whole', scales=(0.75, 1.0, 1.25), flip=True)}
    cells = {row.id: cell for row, _, cell in get_table(table).cells()}
    for row, cell in cells.items():
        multi = row.endswith('_ms')
        assert cell.overrides == (MULTISCALE_TEST if multi else {}), row
        cfg = resolve_config(cell.config, get_protocol('paper'), seed=0, overrides=cell.overrides)
        assert cfg.model.test_cfg == dict(mode='whole', scales=(0.75, 1.0, 1.25) if multi
                                          else (1.0,), flip=multi), row
        twin = cells.get(row[:-len('_ms')] + '_ss') if multi else None
        if twin is not None:
            assert twin.config == cell.config, row
            single = paper_cfg(twin.config).to_dict()
            single['model']['test_cfg'] = cfg.model.test_cfg.to_dict()
            assert cfg.to_dict() == single, row


def test_table3_rows_are_the_paper_configs():
    # Table 3 runs the CEN paper configs themselves (no forwarding copies to drift apart)
    for name in ('table3', 'table3_sunrgbd'):
        for row, _, cell in get_table(name).cells():
            assert cell.config.startswith('paper/'), row.id
            assert paper_cfg(cell.config).model.type, row.id


def test_table3_spec_rows_heads_and_paper_rows():
    spec = get_table('table3')
    ids = [r.id for r in spec.rows]
    assert ids == ['cen_refinenet101_ss', 'cen_refinenet101_ms', 'cen_refinenet152_ss',
                   'cen_refinenet152_ms', 'cen_pspnet152_ss', 'cen_pspnet152_ms',
                   'rgb_refinenet101_ms', 'rgb_refinenet152_ms']
    assert spec.metrics == [('nyu_pixel_acc', 'primary', 'aAcc'),
                            ('nyu_mean_acc', 'primary', 'mAcc'), ('nyu_miou', 'primary', 'mIoU')]
    assert spec_paper_value(spec, spec.row('cen_pspnet152_ms'), 'nyu_miou') == 52.5
    assert spec_paper_value(spec, spec.row('cen_refinenet101_ss'), 'nyu_pixel_acc') == 76.2
    assert spec_paper_value(spec, spec.row('rgb_refinenet152_ms'), 'nyu_mean_acc') == 59.6
    assert spec_paper_value(spec, spec.row('cen_pspnet152_ss'), 'nyu_miou') is None
    paper = load_paper_table('table3').set_index('row')
    assert list(TABLE3_LITERATURE) == [r for r in paper.index if not paper.at[r, 'ours']]
    sun = get_table('table3_sunrgbd')
    assert sun.paper_table == 'table3' and sun.reported_rows == TABLE3_LITERATURE
    assert spec_paper_value(sun, sun.row('cen_pspnet152_ms'), 'sun_miou') == 51.1
    assert all('sunrgbd-37' in cell.config for _, _, cell in sun.cells())
    for claim in spec.claims:
        assert set(claim.rows) <= set(ids)


def test_small_protocols_keep_101_and_152_apart():
    for protocol in ('smoke', 'mini'):
        proto = get_protocol(protocol)
        depths = {}
        for row, _, cell in get_table('table3').cells():
            cfg = resolve_config(cell.config, proto, seed=0)
            depths[row.id] = cfg.model.backbone.depth
            assert cfg.model.backbone.pretrained is None  # no ImageNet weights at toy scale
            assert cfg.train_dataloader.dataset.type == 'SyntheticScenes'
        assert depths == {r: 34 if '152' in r else 18 for r in depths}
    # Table 1's ResNet-101 rows are untouched by the depth map
    table1 = resolve_config('table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py',
                            get_protocol('mini'), seed=0)
    assert table1.model.backbone.depth == 18


def test_paper_scale_models_build():
    counts = {}
    for name in ('cen_refinenet-r152_450e_nyudv2-40', 'cen_pspnet-r152_450e_nyudv2-40'):
        model = build_model(paper_cfg(f'paper/{name}.py'))
        counts[name] = sum(p.numel() for p in model.parameters())
    # ResNet-152 is ~58.1 M of convolutions (+ private BNs); the heads add the rest
    assert 60e6 < counts['cen_refinenet-r152_450e_nyudv2-40'] < 140e6
    assert 60e6 < counts['cen_pspnet-r152_450e_nyudv2-40'] < 140e6


def test_dilated_backbone_strides_and_torchvision_keys(tmp_path):
    import torchvision

    dilated = registry.build(registry.MODELS, dict(type='DilatedMultiModalResNet', depth=18))
    plain = registry.build(registry.MODELS, dict(type='MultiModalResNet', depth=18))
    assert dilated.state_dict().keys() == plain.state_dict().keys()
    features, _ = dilated(torch.randn(4, 3, 64, 64))
    assert [tuple(f.shape[-2:]) for f in features] == [(16, 16), (8, 8), (8, 8), (8, 8)]
    path = tmp_path / 'resnet18.pth'
    torch.save(torchvision.models.resnet18().state_dict(), path)
    dilated.load_torchvision_weights(str(path))  # the ImageNet weights load key for key


def test_psp_head_private_norms_and_training_step():
    cfg = resolve_config('paper/cen_pspnet-r152_450e_nyudv2-40.py', get_protocol('smoke'),
                         seed=0, overrides=MULTISCALE_TEST)
    model = build_model(cfg)
    from fusionbench.modal import ModalityNorm
    norms = [m for m in model.decode_head.modules() if isinstance(m, ModalityNorm)]
    assert len(norms) == 5 and all(n.num_modalities == 2 for n in norms)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.decode_head.modules())
    x = torch.randn(8, 3, 32, 32)
    logits = model(x, mode='tensor')
    assert {k: tuple(v.shape) for k, v in logits.items()} == {
        h: (4, cfg.model.num_classes, 4, 4) for h in ('rgb', 'depth', 'ensemble')}
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(4):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, cfg.model.num_classes, (1, 32, 32)))
        samples.append(s)
    losses = model(x, samples, mode='loss')
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total)
    grad = model.decode_head.psp.bottleneck.conv.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_report_lists_the_literature_rows(tmp_path):
    from fusionbench.experiments.aggregate import load_records
    from fusionbench.experiments.outputs import table_outputs
    from fusionbench.report.markdown import render_report

    spec = get_table('table3')
    runs = tmp_path / 'results' / 'smoke' / 'runs' / 'table3'
    runs.mkdir(parents=True)
    for row, value in (('cen_refinenet101_ss', 40.0), ('rgb_refinenet101_ms', 30.0)):
        record = {'schema': 1, 'run_id': f'{row}-0', 'table': 'table3', 'row': row,
                  'cell': 'main', 'seed': 0,
                  'status': 'ok', 'protocol': 'smoke', 'synthetic': True,
                  'params': {'total': 400000},
                  'metrics': {'primary': {'aAcc': 70.0, 'mAcc': 50.0, 'mIoU': value}}}
        (runs / f'{row}.json').write_text(json.dumps(record))
    records = load_records(runs)
    table = table_outputs(records, spec, tmp_path / 'results' / 'smoke')
    path = render_report('smoke', tmp_path / 'reports', [table], records, 'smoke')
    text = path.read_text()
    assert "The paper's other rows, not run by fusionbench" in text
    for key in TABLE3_LITERATURE:
        assert f'| `{key}` |' in text
    assert '| `acnet_resnet50` | RGB-D | ACNet [21] | ResNet50 | — | — | 48.3 |' in text
    line = next(l for l in text.splitlines() if '(`rgb_refinenet101_ms`)' in l)
    assert '| 30.0 | 46.4 | 0.4 |' in line  # one seed: no ± (no spread to show); synthetic: no Δ


@pytest.mark.slow
def test_table3_smoke_one_psp_row_end_to_end(capsys):
    from fusionbench.cli import main

    results = Path(os.environ['FUSIONBENCH_RESULTS'])
    assert main(['run', 'table3', '--protocol', 'smoke', '--seeds', '1',
                 '--rows', 'cen_pspnet152_ms']) == 0
    assert 'table3 [smoke]: 1 runs planned' in capsys.readouterr().out
    [record] = [json.loads(p.read_text())
                for p in (results / 'smoke' / 'runs' / 'table3').glob('cen_pspnet152_ms*.json')]
    assert record['status'] == 'ok', record.get('error')
    assert record['metrics']['primary'] == record['metrics']['ensemble']
    assert record['config']['model']['backbone']['depth'] == 34
    assert record['config']['model']['test_cfg']['flip'] is True
    assert record['config']['model']['test_cfg']['scales'] == [0.75, 1.0, 1.25]
    assert config_path('paper/cen_pspnet-r152_450e_nyudv2-40.py')
