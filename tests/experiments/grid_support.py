"""Shared by the grid, resume, distributed and robustness tests: the environment of a grid
subprocess, a command run in its own process group, and a hook that kills a run before a chosen
training iteration.

``Killed`` stands for SIGKILL: a ``BaseException`` nothing catches, so nothing after it runs --
the checkpoints written up to then are what a real kill leaves on disk.
"""
import os
import signal
import subprocess
from pathlib import Path

import pytest

from mmengine.hooks import Hook

from fusionbench.registry import HOOKS


class Killed(BaseException):
    """Stands for SIGKILL: nothing catches it, nothing after it runs."""


@HOOKS.register_module(name='TestKillAt', force=True)
class KillAt(Hook):
    """Die before training iteration ``at`` (checkpoints up to then are on disk)."""

    priority = 'VERY_HIGH'

    def __init__(self, at: int):
        self.at = at

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter == self.at:
            raise Killed


def grid_env(root: Path) -> dict[str, str]:
    """The environment of a grid subprocess writing under ``root`` (shared scene cache)."""
    env = dict(os.environ)
    env.update(FUSIONBENCH_RESULTS=str(root / 'results'), FUSIONBENCH_REPORTS=str(root / 'reports'),
               OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    return env


def run_command(cmd: list[str], root: Path, timeout: float, cwd: Path | str | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``cmd`` in its own process group with results under ``root`` (:func:`grid_env`, or
    ``env``); on timeout the whole group is killed and the test fails with the output."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env or grid_env(root), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f'{cmd} timed out after {timeout} s (a rank left waiting?)\n{out}\n'
                    f'{err[-3000:]}')
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
