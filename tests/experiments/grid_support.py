"""Shared by the grid and resume tests: the environment of a grid subprocess, and a hook that
kills a run before a chosen training iteration.

``Killed`` stands for SIGKILL: a ``BaseException`` nothing catches, so nothing after it runs --
the checkpoints written up to then are what a real kill leaves on disk.
"""
import os
from pathlib import Path

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
