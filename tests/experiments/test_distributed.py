"""Distributed training on CPU: two processes, gloo, through ``torchrun``.

``torchrun -m fusionbench train ... --launcher pytorch`` and the grid under torchrun
(``run ... --launcher pytorch``) train on both ranks; rank 0 alone prints, checkpoints and writes
the record. A NaN on one rank stops every rank at once (no rank is left waiting in DDP's
all-reduce), so the grid goes on to its next cell in step.
"""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fusionbench import compat
from fusionbench.experiments.aggregate import load_records

REPO = Path(__file__).resolve().parents[2]
CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
from grid_support import grid_env, run_command  # noqa: E402  (tests/experiments on sys.path)
from nan_probe import NAN_TABLE  # noqa: E402  (tests/experiments on sys.path)
TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(cmd: list[str], root: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``cmd`` in its own process group (killed whole on timeout) with results under ``root``."""
    env = grid_env(root)
    env.pop('WORLD_SIZE', None)
    return run_command(cmd, root, timeout, cwd=REPO, env=env)


def torchrun(*args: str) -> list[str]:
    return [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
            '--master_addr', '127.0.0.1', '--master_port', str(free_port()), *args]


def test_init_distributed_is_a_no_op_outside_torchrun(monkeypatch):
    monkeypatch.delenv('WORLD_SIZE', raising=False)
    assert compat.init_distributed() is False
    assert compat.is_main_process()
    compat.barrier()  # nothing to wait for
    assert compat.model_wrapper_cfg()['device_ids'] is None  # CPU DDP: no device ids


RANKS = '''
import os, sys, torch, torch.multiprocessing as mp
import torch.distributed as dist
from types import SimpleNamespace
from fusionbench import compat  # imported once, before the fork
from fusionbench.hooks import FiniteLossHook, TrainingDiverged

def worker(rank, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE='2')
    assert compat.init_distributed() and dist.get_backend() == 'gloo'
    hook, runner = FiniteLossHook(), SimpleNamespace(iter=4)
    hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})  # finite everywhere
    try:
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(
            float('nan') if rank == 1 else 2.0)})
        result = 'went on'
    except TrainingDiverged as err:
        result = str(err)
    open(os.path.join(out, f'rank{rank}'), 'w').write(result)
    dist.destroy_process_group()

if __name__ == '__main__':
    mp.start_processes(worker, args=(int(sys.argv[1]), sys.argv[2]), nprocs=2,
                       start_method='fork')
'''


def test_nan_on_one_rank_stops_every_rank(tmp_path):
    script = tmp_path / 'ranks.py'
    script.write_text(RANKS)
    done = run([sys.executable, str(script), str(free_port()), str(tmp_path)], tmp_path, 120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / 'rank1').read_text() == 'loss is nan at iteration 5'
    assert (tmp_path / 'rank0').read_text() == 'loss is non-finite on another rank at iteration 5'


@pytest.mark.slow
def test_torchrun_train_on_cpu_trains_on_both_ranks_and_reports_once(tmp_path):
    work = tmp_path / 'work'
    done = run(torchrun('-m', 'fusionbench', 'train', CEN, '--protocol', 'smoke',
                        '--launcher', 'pytorch', '--work-dir', str(work)), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines if line.split()[0] in ('rgb', 'depth', 'ensemble')] \
        == ['depth', 'ensemble', 'rgb']                                 # printed by rank 0 only
    (wall,) = [line for line in lines if line.startswith('wall time')]
    assert wall.endswith('on cpu (2 processes)')
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_12.pth']  # trained to the end
    assert compat.intact_checkpoint(str(work / 'iter_12.pth'))
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_12.pth')




@pytest.mark.slow
def test_torchrun_grid_writes_each_record_once_and_survives_divergence(tmp_path):
    script = tmp_path / 'grid.py'
    script.write_text(NAN_TABLE)
    done = run(torchrun(str(script), 'run', 'nan_probe', '--protocol', 'smoke', '--seeds', '1',
                        '--launcher', 'pytorch'), tmp_path)
    assert done.returncode != 0  # a cell failed
    assert done.stdout.count('2 runs planned, 0 already done, 2 ran, 1 failed') == 1
    wrote = [line for line in done.stdout.splitlines() if line.startswith('  wrote ')]
    assert len(wrote) == len(set(wrote)) >= 2                # CSV, plots: each once (rank 0)
    assert sum(line.endswith('nan_probe.csv') for line in wrote) == 1
    assert done.stderr.count('1 run(s) failed:') == 1
    runs = tmp_path / 'results' / 'smoke' / 'runs' / 'nan_probe'
    assert len(list(runs.iterdir())) == 2                               # one record per cell
    records = {r['row']: r for r in load_records(runs)}
    assert records['diverges']['status'] == 'failed'
    assert records['diverges']['error'].startswith('TrainingDiverged: loss is')
    fine = records['fine']
    assert fine['status'] == 'ok' and fine['world_size'] == 2 and fine['metrics']['rgb']
    csv = (tmp_path / 'results' / 'smoke' / 'nan_probe.csv').read_text().splitlines()
    assert len(csv) == 3 and csv[2].startswith('fine,')
