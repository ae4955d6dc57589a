"""Final checkpoints of finished runs and ``load_trained`` (smoke protocol, one toy cell)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from fusionbench.errors import ConfigError
from fusionbench.experiments.checkpoints import (FINAL_CHECKPOINT, adopt_finished_checkpoint,
                                                 drop_resumable_checkpoints,
                                                 final_checkpoint_path, find_job,
                                                 keep_final_checkpoint, load_trained)
from fusionbench.experiments.grid import runs_dir, work_dir, write_json_atomic
from fusionbench.fusion.gamma_dynamics import exchange_layers


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    return tmp_path / 'results'


@pytest.mark.slow
def test_load_trained_trains_the_missing_cell_once_then_reuses_it(results, one_thread,
                                                                  monkeypatch):
    job = find_job('table1', 'cen', 0, protocol='smoke')
    with pytest.raises(ConfigError) as missing:
        load_trained('table1', 'cen', 0, protocol='smoke', train_missing=False)
    message = str(missing.value)
    assert '\n' not in message and 'no checkpoint for table1/cen seed 0 (smoke)' in message
    assert 'run robustness --table table1 --protocol smoke --rows cen --seeds 1' in message

    said: list[str] = []
    trained = load_trained('table1', 'cen', 0, protocol='smoke', echo=said.append)
    assert len(said) == 1 and said[0].startswith(
        'no checkpoint for table1/cen seed 0 (smoke): training it first (')
    record_file = Path(runs_dir('smoke', 'table1')) / job.record_name
    assert record_file.is_file()  # the record lands where `run` puts it
    assert trained.checkpoint == final_checkpoint_path(job)
    work = Path(trained.checkpoint).parent
    assert sorted(p.name for p in work.glob('*.pth')) == [FINAL_CHECKPOINT]  # only the final one
    assert not (work / 'last_checkpoint').exists()
    assert trained.record['run_id'] == job.run_id and trained.record['status'] == 'ok'
    assert not trained.model.training and list(exchange_layers(trained.model))  # CEN's layers
    assert trained.cfg.model.fusion.type == 'cen' and trained.cfg.randomness.seed == 0
    assert os.path.getsize(trained.checkpoint) < 5e6  # weights only (the smoke model is tiny)

    stamp = os.path.getmtime(trained.checkpoint)
    said.clear()
    cache = os.environ['FUSIONBENCH_CACHE']
    monkeypatch.setenv('FUSIONBENCH_CACHE', str(results.parent / 'elsewhere'))  # another machine
    again = load_trained('table1', 'cen', 0, protocol='smoke', echo=said.append,
                         train_missing=False)
    assert said == [] and os.path.getmtime(again.checkpoint) == stamp  # reused, not retrained
    assert again.cfg.test_dataloader.dataset.cache_dir == str(results.parent / 'elsewhere')
    assert again.cfg.work_dir == str(work)
    monkeypatch.setenv('FUSIONBENCH_CACHE', cache)
    for (name, a), b in zip(trained.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), name

    # A fresh clone: the (committed) record is there, the checkpoint is not. The cell is
    # retrained for its weights and the record file is left byte for byte.
    before = record_file.read_bytes()
    os.remove(trained.checkpoint)
    said.clear()
    retrained = load_trained('table1', 'cen', 0, protocol='smoke', echo=said.append)
    assert len(said) == 1 and said[0].endswith('; its record is kept as it is)')
    assert '(~' in said[0] and ' s, as its record took' in said[0]  # the record's time
    assert record_file.read_bytes() == before
    assert retrained.record['run_id'] == job.run_id
    assert retrained.record['finished_at'] != trained.record['finished_at']


def test_unknown_row_and_cell_are_one_line():
    with pytest.raises(ConfigError, match=r"unknown row 'nope' of table1; valid: unshared, "):
        find_job('table1', 'nope', protocol='smoke')
    with pytest.raises(ConfigError, match=r"unknown cell 'x' of table1/cen; valid: main"):
        find_job('table1', 'cen', protocol='smoke', cell='x')


def _checkpoint(path: Path, value: float) -> None:
    torch.save({'meta': {'iter': 12, 'cfg': "model = dict(type='M')\n"},
                'state_dict': {'module.w': torch.full((2,), value)}}, path)


def test_final_checkpoint_keeps_the_pointed_weights_and_drops_the_resumable_ones(tmp_path):
    _checkpoint(tmp_path / 'iter_6.pth', 1.0)
    _checkpoint(tmp_path / 'iter_12.pth', 2.0)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_12.pth'))
    (tmp_path / 'run.log').write_text('log')
    assert drop_resumable_checkpoints(str(tmp_path)) == []  # no final weights yet: keep all
    path = keep_final_checkpoint(str(tmp_path), {'run_id': 'abc', 'status': 'ok'})
    final = torch.load(path, weights_only=True)
    assert torch.equal(final['state_dict']['w'], torch.full((2,), 2.0))  # wrapper prefix gone
    assert final['meta']['run_id'] == 'abc' and final['meta']['iter'] == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'final.pth', 'iter_12.pth', 'iter_6.pth', 'last_checkpoint', 'run.log']
    drop_resumable_checkpoints(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['final.pth', 'run.log']
    assert keep_final_checkpoint(str(tmp_path / 'none'), {}) is None


def test_a_finished_run_without_final_checkpoint_adopts_its_last_one(results):
    """Work dirs of runs finished before runs kept final checkpoints: the resumable checkpoint
    at the schedule's last iteration (smoke: 12) becomes final.pth; an earlier one does not."""
    job = find_job('table1', 'cen', 0, protocol='smoke')
    record = {'schema': 1, 'run_id': job.run_id, 'table': 'table1', 'row': 'cen',
              'cell': 'main', 'protocol': 'smoke', 'seed': 0, 'status': 'ok', 'error': None,
              'metrics': {'primary': {'mIoU': 10.0}}, 'params': {'total': 100}}
    assert adopt_finished_checkpoint(job) is None  # no record, no work dir
    write_json_atomic(str(Path(runs_dir('smoke', 'table1')) / job.record_name), record)
    work = Path(work_dir('smoke', 'table1', job.run_id))
    work.mkdir(parents=True)
    torch.save({'meta': {'iter': 6, 'cfg': ''}, 'state_dict': {'w': torch.ones(2)}},
               work / 'iter_6.pth')
    (work / 'last_checkpoint').write_text(str(work / 'iter_6.pth'))
    assert adopt_finished_checkpoint(job) is None  # an unfinished (re)run's checkpoint
    assert (work / 'iter_6.pth').exists() and not (work / FINAL_CHECKPOINT).exists()
    _checkpoint(work / 'iter_12.pth', 2.0)
    (work / 'last_checkpoint').write_text(str(work / 'iter_12.pth'))
    path = adopt_finished_checkpoint(job)
    assert path == final_checkpoint_path(job)
    final = torch.load(path, weights_only=True)
    assert torch.equal(final['state_dict']['w'], torch.full((2,), 2.0))
    assert json.loads(final['meta']['record'])['metrics'] == record['metrics']
    assert sorted(p.name for p in work.iterdir()) == [FINAL_CHECKPOINT]
