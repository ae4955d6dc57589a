"""``run table4`` / ``run table5`` on the smoke protocol end to end, then ``report``: records with
per-head FID / KID / L1 / PSNR / SSIM, the feature extractor labelled in records, CSVs and the
report, the FID validation curve."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from fusionbench.cli import main

#: One row per fusion method (each at another stage, both tasks), and CEN.
T4_ROWS = ['depth_normal_to_rgb.cen', 'depth_normal_to_rgb.concat_early',
           'shade_texture_to_rgb.average_middle', 'shade_texture_to_rgb.align_mmd_late',
           'depth_normal_to_rgb.self_attention_all']


def _records(table: str) -> list[dict]:
    runs = Path(os.environ['FUSIONBENCH_RESULTS']) / 'smoke' / 'runs' / table
    return [json.loads(p.read_text()) for p in sorted(runs.glob('*.json'))]


@pytest.fixture
def no_inception(monkeypatch):
    monkeypatch.delenv('FUSIONBENCH_INCEPTION', raising=False)


@pytest.mark.slow
def test_table5_smoke_end_to_end(no_inception, capsys):
    assert main(['run', 'table5', '--protocol', 'smoke', '--seeds', '1', '--jobs', '1']) == 0
    assert 'table5 [smoke]: 7 runs planned' in capsys.readouterr().out
    records = {r['row']: r for r in _records('table5')}
    assert len(records) == 7 and all(r['status'] == 'ok' for r in records.values()), \
        [r.get('error') for r in records.values()]
    one, four = records['depth'], records['depth_normal_texture_shade']
    assert set(one['metrics']) == {'depth', 'primary'}                   # M = 1: no ensemble
    assert set(four['metrics']) == {'depth', 'normal', 'edge_texture', 'reshading', 'ensemble',
                                    'primary'}
    assert set(four['metrics']['primary']) == {'FID', 'KID', 'KID_std', 'L1', 'PSNR', 'SSIM'}
    assert four['feature_extractor']['label'] == 'surrogate'
    assert four['val_curve']['iterations'] == [2, 4] and 'L1' in four['val_curve']
    assert four['plateau']['metric'] == 'L1'
    assert 'U-Net' in four['protocol_description']        # translation's own smoke fields
    csv = pd.read_csv(Path(os.environ['FUSIONBENCH_RESULTS']) / 'smoke' / 'table5.csv')
    assert set(csv['extractor']) == {'surrogate'}


@pytest.mark.slow
def test_table4_smoke_end_to_end_and_report(no_inception, capsys):
    assert main(['run', 'table4', '--protocol', 'smoke', '--list']) == 0
    captured = capsys.readouterr()
    listing = captured.out + captured.err
    assert 'table4 [smoke]: 34 cell(s)' in listing
    assert 'shade_texture_to_rgb.self_attention_early/main/seed0' in listing
    assert main(['run', 'table4', '--protocol', 'smoke', '--seeds', '1', '--jobs', '1',
                 '--rows', *T4_ROWS]) == 0
    records = {r['row']: r for r in _records('table4')}
    assert set(records) == set(T4_ROWS)
    assert all(r['status'] == 'ok' for r in records.values()), \
        [r.get('error') for r in records.values()]
    cen = records['depth_normal_to_rgb.cen']
    assert set(cen['gamma_sparsity']) == {'down2', 'mean'}               # smoke U-Net: D = 3
    assert records['depth_normal_to_rgb.concat_early']['params']['fusion'] > 0
    assert main(['report', '--protocol', 'smoke']) == 0
    report = (Path(os.environ['FUSIONBENCH_REPORTS']) / 'smoke.md').read_text()
    assert '## Table 4: multimodal image translation to RGB' in report
    assert 'translation tables: synthetic procedural scenes' in report
    assert '`table4.depth_normal_to_rgb.cen_beats_all`' in report
    line = next(l for l in report.splitlines() if '(`depth_normal_to_rgb.cen`)' in l)
    assert '| surrogate |' in line and '| 84.33 |' in line                # the paper's FID
