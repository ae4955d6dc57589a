"""A hook that kills a run before a chosen training iteration (shared by the resume tests).

``Killed`` stands for SIGKILL: a ``BaseException`` nothing catches, so nothing after it runs --
the checkpoints written up to then are what a real kill leaves on disk.
"""
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
