"""Exact resume of epoch-based runs (the paper configs' schedules): checkpoints at epoch ends.

A run killed in the middle of an epoch resumes from the end of the last whole epoch and ends
bit-identical to a run that never stopped (a mid-epoch checkpoint would make mmengine's epoch
loop replay the whole epoch: more iterations, other results).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from grid_support import Killed  # registers TestKillAt (tests/experiments on sys.path)

from fusionbench.compat import load_checkpoint
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import resolve_config, train_and_evaluate

CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
EPOCHS, SCENES, BATCH = 3, 16, 4  # 4 iterations per epoch, 12 in all



def epoch_config(work_dir: Path, kill_at: int | None = None, fidelity: str = 'paper'):
    """The smoke-scale CEN row on an epoch-based loop, checkpointing as the paper configs do."""
    from mmengine.config import Config
    cfg = Config.fromfile(f'configs/{CEN}')
    cfg.fidelity = fidelity
    cfg = resolve_config(cfg, get_protocol('smoke'), seed=0, work_dir=str(work_dir))
    base = Config.fromfile('configs/_base_/default_runtime.py')
    cfg.default_hooks.checkpoint = base.default_hooks.checkpoint  # the paper configs' hook
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=EPOCHS, val_interval=EPOCHS + 1)
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    cfg.train_dataloader.dataset.num_scenes = SCENES
    cfg.train_dataloader.batch_size = BATCH
    if fidelity == 'paper':
        cfg.param_scheduler = [dict(type='StepLR', step_size=1, gamma=0.5, by_epoch=True)]
    else:  # the official LR stages, as epochs 1 | 2 | 3
        cfg.custom_hooks[-1].update(ends=(1, 2), by_epoch=True)
    if kill_at is not None:
        cfg.custom_hooks = [*cfg.custom_hooks, dict(type='TestKillAt', at=kill_at)]
    return cfg


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(str(path))['state_dict']


def test_paper_configs_checkpoint_at_epoch_ends():
    cfg = resolve_config(CEN, get_protocol('paper'), seed=0)
    assert cfg.train_cfg.type == 'EpochBasedTrainLoop'
    assert cfg.default_hooks.checkpoint.by_epoch is True
    assert cfg.default_hooks.checkpoint.interval == 1
    smoke = resolve_config(CEN, get_protocol('smoke'), seed=0)  # iteration budgets: by iteration
    assert smoke.train_cfg.type == 'IterBasedTrainLoop'
    assert smoke.default_hooks.checkpoint.by_epoch is False


@pytest.mark.slow
@pytest.mark.parametrize('fidelity', ['paper', 'official'])
def test_run_killed_mid_epoch_resumes_bit_identical(tmp_path, one_thread, fidelity):
    """Killed before iteration 6 (epoch 2 of 3, half done; epoch 1's checkpoint on disk),
    resumed: 12 iterations in all, the same weights and metrics as the uninterrupted run.
    Official mode also crosses its LR-stage boundaries (momentum reset) across the resume."""
    straight = train_and_evaluate(epoch_config(tmp_path / 'straight', fidelity=fidelity))
    with pytest.raises(Killed):
        train_and_evaluate(epoch_config(tmp_path / 'killed', kill_at=6, fidelity=fidelity))
    assert sorted(p.name for p in (tmp_path / 'killed').glob('*.pth')) == ['epoch_1.pth']
    resumed = train_and_evaluate(epoch_config(tmp_path / 'killed', fidelity=fidelity))
    assert straight['resumed_from_iter'] == 0 and resumed['resumed_from_iter'] == 4
    final_straight = load_checkpoint(str(tmp_path / 'straight' / f'epoch_{EPOCHS}.pth'))
    final_resumed = load_checkpoint(str(tmp_path / 'killed' / f'epoch_{EPOCHS}.pth'))
    total = EPOCHS * SCENES // BATCH
    assert final_straight['meta']['iter'] == final_resumed['meta']['iter'] == total
    a, b = final_straight['state_dict'], final_resumed['state_dict']
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'
    assert resumed['metrics'] == straight['metrics']
