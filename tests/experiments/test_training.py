"""Training smoke (the loss falls) and Table 1 end to end on the smoke protocol."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
import torch
from mmengine.dataset import pseudo_collate

from fusionbench import registry
from fusionbench.cli import main
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import build_model, resolve_config

CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'


def test_training_loss_falls():
    torch.manual_seed(0)
    cfg = resolve_config(CEN, get_protocol('smoke'), seed=0)
    model = build_model(cfg)
    dataset = registry.build(registry.DATASETS, cfg.train_dataloader.dataset.to_dict())
    data = model.data_preprocessor(pseudo_collate([dataset[i] for i in range(8)]), True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    totals = []
    for _ in range(25):
        losses = model(**data, mode='loss')
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(float(total.detach()))
    assert all(map(torch.isfinite, map(torch.tensor, totals)))
    assert sum(totals[-3:]) / 3 < 0.8 * sum(totals[:3]) / 3, totals


@pytest.mark.slow
def test_table1_smoke_end_to_end(capsys):
    results = Path(os.environ['FUSIONBENCH_RESULTS'])
    assert main(['run', 'table1', '--protocol', 'smoke', '--seeds', '1']) == 0
    out = capsys.readouterr().out
    assert 'table1 [smoke]: 7 runs planned' in out
    with open(results / 'smoke' / 'table1.csv') as f:
        rows = list(csv.DictReader(f))
    assert [r['row'] for r in rows] == ['unshared', 'shared_bn', 'private_bn',
                                        'private_bn_l1_half', 'cen', 'cen_l1_all',
                                        'cen_shuffled_labels']
    for row in rows:
        for column in ('rgb_miou_mean', 'depth_miou_mean', 'ensemble_miou_mean'):
            assert 0.0 <= float(row[column]) <= 100.0
        assert row['synthetic'] in ('True', 'true', '1')
    assert (results / 'smoke' / 'plots' / 'table1.png').stat().st_size > 1000
    records = list((results / 'smoke' / 'runs' / 'table1').glob('*.json'))
    assert len(records) == 7

    assert main(['report', '--protocol', 'smoke']) == 0
    report = (Path(os.environ['FUSIONBENCH_REPORTS']) / 'smoke.md').read_text()
    assert 'synthetic' in report.lower() and 'Table 1' in report
