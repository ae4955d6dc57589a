"""The validation curve of a run and its plateau check.

A protocol that validates during training (``Protocol.val_points``) gets, in every run record:

- ``val_curve``: ``{'iterations': [...], 'mIoU': {head: [...]}}`` -- each head's validation mIoU
  (%) at every validation (another task's hook names its metric: translation's is ``'FID'``,
  lower is better, ``ValidationCurveHook(metric='FID', higher_is_better=False, gain=...)``);
- ``plateau``: whether the last fifth of training still improved the model's main prediction
  (the α-ensemble, or the only modality) on the validation split by at least
  :data:`PLATEAU_GAIN` points (``plateaued`` False) -- a model still improving there is not
  trained to a plateau, and its row differences are not the converged ones.

The validation split serves this check alone; reported numbers come from the held-out test
split (see :mod:`fusionbench.experiments.protocols`).
"""
from __future__ import annotations

import math
import random

import numpy as np
import torch
from mmengine.hooks import Hook

from fusionbench.registry import HOOKS

#: A run is at a plateau when its last fifth improved the validation mIoU by less than this
#: (points of mIoU, %; the acceptance criterion of the valid default).
PLATEAU_GAIN = 1.0
#: The share of training the check looks back over.
LAST_SHARE = 0.2
#: The metric key of the model's main prediction in mmseg-style results (unprefixed mIoU).
MAIN_KEY = 'mIoU'


def plateau_check(iterations: list[int], values: list[float], max_iters: int,
                  gain: float = PLATEAU_GAIN, last_share: float = LAST_SHARE,
                  higher_is_better: bool = True, metric: str = MAIN_KEY) -> dict:
    """Gain of ``values`` over the last ``last_share`` of training and whether it is < ``gain``.

    The gain is the improvement from the value at the last validation at or before iteration
    ``(1 - last_share) · max_iters`` to the final value (final minus earlier; earlier minus
    final when lower is better). Returns ``{'from_iter', 'to_iter', 'gain', 'threshold',
    'plateaued', 'metric'}``; ``plateaued`` is None (and ``gain`` NaN) when there is no
    validation that early, or none at all.
    """
    start = (1 - last_share) * max_iters
    early = [i for i, it in enumerate(iterations) if it <= start]
    if not iterations or not early:
        return {'from_iter': None, 'to_iter': iterations[-1] if iterations else None,
                'gain': math.nan, 'threshold': gain, 'plateaued': None, 'metric': metric}
    delta = (float(values[-1]) - float(values[early[-1]])) * (1 if higher_is_better else -1)
    return {'from_iter': int(iterations[early[-1]]), 'to_iter': int(iterations[-1]),
            'gain': round(delta, 4), 'threshold': gain, 'plateaued': bool(delta < gain),
            'metric': metric}


@HOOKS.register_module()
class ValidationCurveHook(Hook):
    """Keep every validation's per-head mIoU with its iteration; add the plateau check.

    ``last`` holds the latest validation's raw metrics and ``last_iter`` its iteration, so the
    caller can reuse the end-of-training validation instead of running it twice.

    Validation leaves the training RNGs as it found them (python, numpy, torch, CUDA): creating
    the validation loader draws a seed from torch's RNG, which would otherwise shift every later
    dropout mask -- the curve would change the run it measures, and a run resumed from a
    checkpoint written just before a validation would not end where an uninterrupted one does.
    """

    priority = 'LOW'

    def __init__(self, metric: str = MAIN_KEY, higher_is_better: bool = True,
                 gain: float = PLATEAU_GAIN):
        self.metric = metric
        self.higher_is_better = higher_is_better
        self.gain = gain
        self.iterations: list[int] = []
        self.curves: dict[str, list[float]] = {}
        self.last: dict | None = None
        self.last_iter: int | None = None
        self._max_iters = 0
        self._rng: tuple | None = None

    def before_train(self, runner) -> None:
        self._max_iters = int(getattr(runner, 'max_iters', 0) or 0)
        # A run resumed from a checkpoint written at a validation iteration: the checkpoint is
        # saved before that iteration's validation, which the resumed loop does not repeat.
        if runner.iter == 0 or runner.iter in self.iterations:
            return
        interval = getattr(runner.train_loop, 'val_interval', 0) or 0
        if interval and runner.iter % interval == 0 and runner.val_loop is not None:
            runner.val_loop.run()

    def before_val(self, runner) -> None:
        cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self._rng = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
                     torch.cuda.get_rng_state_all() if cuda else None)

    def after_val(self, runner) -> None:
        state, self._rng = self._rng, None
        if state is None:
            return
        python, numpy, cpu, cuda = state
        random.setstate(python)
        np.random.set_state(numpy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)

    def after_val_epoch(self, runner, metrics: dict | None = None) -> None:
        if not metrics:
            return
        self.last, self.last_iter = dict(metrics), int(runner.iter)
        if self.iterations and self.iterations[-1] == runner.iter:
            return  # the same model validated twice
        self.iterations.append(int(runner.iter))
        for key, value in metrics.items():
            head, _, name = key.rpartition('/')
            if name == self.metric:
                self.curves.setdefault(head or 'primary', []).append(round(float(value), 4))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['val_curve'] = {'iterations': self.iterations, 'curves': self.curves}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('val_curve')
        if state:
            self.iterations = list(state['iterations'])
            self.curves = {k: list(v) for k, v in state['curves'].items()}

    def record_fields(self, runner) -> dict:
        """``{'val_curve', 'plateau'}`` for the run record (nothing without validations)."""
        if not self.iterations:
            return {}
        main = self.curves.get('primary') or next(iter(self.curves.values()), [])
        return {'val_curve': {'iterations': list(self.iterations),
                              self.metric: {k: list(v) for k, v in self.curves.items()}},
                'plateau': plateau_check(self.iterations, main, self._max_iters, self.gain,
                                         higher_is_better=self.higher_is_better,
                                         metric=self.metric)}
