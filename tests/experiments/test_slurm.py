"""The Slurm launcher on a machine without CUDA: gloo, from ``srun``'s ``SLURM_*`` variables."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fusionbench import compat

REPO = Path(__file__).resolve().parents[2]
CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def slurm_task(rank: int, tasks: int, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('SLURM_') and k not in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK',
                                                       'MASTER_ADDR', 'MASTER_PORT')}
    env.update(SLURM_PROCID=str(rank), SLURM_NTASKS=str(tasks), SLURM_LOCALID=str(rank),
               SLURM_NODELIST='localhost', MASTER_PORT=str(port), OMP_NUM_THREADS='1',
               CUDA_VISIBLE_DEVICES='', PYTHONUNBUFFERED='1', **extra)
    return env


def test_slurm_environment_maps_the_task_variables():
    env = {'SLURM_PROCID': '3', 'SLURM_NTASKS': '8', 'SLURM_LOCALID': '1',
           'SLURM_NODELIST': 'node017'}
    assert compat.slurm_environment(env) == {'RANK': '3', 'WORLD_SIZE': '8', 'LOCAL_RANK': '1',
                                             'MASTER_PORT': '29500', 'MASTER_ADDR': 'node017'}
    env.update(MASTER_ADDR='10.0.0.2', MASTER_PORT='1234')
    got = compat.slurm_environment(env)
    assert got['MASTER_ADDR'] == '10.0.0.2' and got['MASTER_PORT'] == '1234'


def test_slurm_environment_fails_in_one_line_outside_srun():
    with pytest.raises(RuntimeError, match='start the command with srun'):
        compat.slurm_environment({})
    ranged = {'SLURM_PROCID': '0', 'SLURM_NTASKS': '2', 'SLURM_NODELIST': 'node[01-02]',
              'PATH': ''}
    if not any(os.access(os.path.join(d, 'scontrol'), os.X_OK)
               for d in os.environ.get('PATH', '').split(os.pathsep) if d):
        with pytest.raises(RuntimeError, match='set MASTER_ADDR'):
            compat.slurm_environment(ranged)


TASK = '''
import torch, torch.distributed as dist
from fusionbench import compat
assert compat.init_distributed(launcher='slurm')
value = torch.tensor([dist.get_rank() + 1.0])
dist.all_reduce(value)
print(dist.get_backend(), dist.get_rank(), dist.get_world_size(), int(value.item()))
dist.destroy_process_group()
'''


def test_two_slurm_tasks_join_a_gloo_group_without_cuda():
    port = free_port()
    procs = [subprocess.Popen([sys.executable, '-c', TASK], cwd=REPO, text=True,
                              env=slurm_task(rank, 2, port, MASTER_ADDR='127.0.0.1'),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for rank in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert sorted(out.split() for out, _ in outs) == [['gloo', '0', '2', '3'],
                                                     ['gloo', '1', '2', '3']]


@pytest.mark.slow
def test_train_under_the_slurm_launcher_on_cpu(tmp_path):
    """One ``srun`` task, no CUDA: trains and prints its metrics (mmengine's Slurm path would
    call ``torch.cuda.set_device`` and fail)."""
    env = slurm_task(0, 1, free_port())
    env.update(FUSIONBENCH_RESULTS=str(tmp_path / 'results'),
               FUSIONBENCH_CACHE=os.environ.get('FUSIONBENCH_CACHE', str(tmp_path / 'cache')))
    proc = subprocess.run([sys.executable, '-m', 'fusionbench', 'train', CEN, '--protocol', 'smoke',
                           '--launcher', 'slurm', '--work-dir', str(tmp_path / 'work')],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'ensemble' in proc.stdout and '(1 process)' in proc.stdout
