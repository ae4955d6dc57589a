"""The grid through a scheduler (submitit): the same records as a local run, resumable by them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from fusionbench.cli import main
from fusionbench.experiments.grid import run_grid
from fusionbench.experiments.scheduler import (SchedulerError, make_executor, parse_options,
                                               submit_grid)

ROWS = ['cen']  # one cell of Table 1 on the smoke protocol (one seed): kept fast
#: Fields that describe when / how long / where a run happened, not what it computed.
CIRCUMSTANCES = {'started_at', 'finished_at', 'wall_time_s', 'traceback'}


def records(root: Path) -> dict[str, dict]:
    folder = root / 'smoke' / 'runs' / 'table1'
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob('*.json'))}


def without_circumstances(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in CIRCUMSTANCES}


@pytest.mark.slow
def test_local_submitit_writes_the_same_records_as_a_local_run(tmp_path, one_thread):
    local, submitted = tmp_path / 'local', tmp_path / 'submitted'
    run_grid('table1', 'smoke', seeds=1, rows=ROWS, root=str(local))
    summary = submit_grid('table1', 'smoke', executor='local', seeds=1, rows=ROWS,
                          root=str(submitted))
    assert summary['planned'] == 1 and len(summary['submitted']) == 1
    assert summary['ran'] == 1 and summary['failed'] == []
    a, b = records(local), records(submitted)
    assert sorted(a) == sorted(b) and len(a) == 1  # same run id, same file name
    for name in a:
        assert b[name]['status'] == 'ok'
        assert without_circumstances(a[name]) == without_circumstances(b[name])
    # resumable by the same records: nothing left to submit
    again = submit_grid('table1', 'smoke', executor='local', seeds=1, rows=ROWS,
                        root=str(submitted))
    assert again['skipped'] == 1 and again['submitted'] == []
    assert (submitted / 'smoke' / 'submitit' / 'table1').is_dir()  # scripts and logs


def test_submit_slurm_without_sbatch_fails_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('PATH', str(tmp_path))  # no sbatch here
    with pytest.raises(SchedulerError, match='`sbatch` not found'):
        make_executor('slurm', str(tmp_path / 'f'))
    assert main(['run', 'table1', '--protocol', 'smoke', '--rows', 'cen', '--submit',
                 'slurm']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'sbatch' in err[0]
    assert main(['run', 'table1', '--protocol', 'smoke', '--rows', 'cen', '--submit', 'local',
                 '--shard', '0/2']) == 2
    assert 'drop --shard' in capsys.readouterr().err


def test_scheduler_options_parse_and_are_checked(tmp_path):
    assert parse_options(['slurm_partition=gpu', 'gpus_per_node=1', 'mem_gb=7.5',
                          'slurm_exclusive=true']) == {
        'slurm_partition': 'gpu', 'gpus_per_node': 1, 'mem_gb': 7.5, 'slurm_exclusive': True}
    with pytest.raises(SchedulerError, match='key=value'):
        parse_options(['partition'])
    with pytest.raises(SchedulerError, match='--submit must be one of'):
        make_executor('pbs', str(tmp_path))
    with pytest.raises(SchedulerError, match='--scheduler-opt'):
        make_executor('local', str(tmp_path), {'nodes': 2})  # submitit: one node only
