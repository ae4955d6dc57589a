"""Training hooks.

:class:`GammaSparsityHook` logs, for every channel-exchanging layer, the fraction of its
penalised γ's that are under the threshold θ -- the channels that are (or, without exchange,
would be) replaced. It shows whether the ℓ1 term did its job in the chosen budget.

:class:`FiniteLossHook` stops a run whose loss goes NaN/inf (on every rank at once).
:class:`RngStateHook` saves the RNG states with each checkpoint and puts them back on resume,
so a run killed and resumed ends bit-identical to one that ran through.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.hooks import Hook

from fusionbench.fusion.cen import ChannelExchange
from fusionbench.registry import HOOKS


def gamma_sparsity(model: torch.nn.Module) -> dict[str, float]:
    """``{point name: fraction of penalised |γ| < θ}`` for every CEN point (``'mean'`` too).

    With ``l1='none'`` the exchangeable γ's are used instead of the penalised ones.
    """
    model = getattr(model, 'module', model)
    fractions = {}
    for block in model.modules():
        fusion = getattr(block, 'fusion', None)
        if not isinstance(fusion, ChannelExchange):
            continue
        gamma = getattr(block, type(block).fusion_norm).weight.detach().abs()
        mask = fusion.penalised if fusion.l1 != 'none' else fusion.exchangeable
        if not mask.any():
            mask = torch.ones_like(mask)
        under = ((gamma < fusion.threshold) & mask).sum() / mask.sum()
        fractions[fusion.point.name] = float(under)
    if fractions:
        fractions['mean'] = sum(fractions.values()) / len(fractions)
    return fractions


@HOOKS.register_module()
class GammaSparsityHook(Hook):
    """Log :func:`gamma_sparsity` every ``interval`` iterations and after training.

    The final values are kept in ``runner.message_hub`` under ``'gamma_sparsity'`` (info).
    """

    priority = 'LOW'

    def __init__(self, interval: int = 50):
        self.interval = interval

    def _log(self, runner) -> None:
        fractions = gamma_sparsity(runner.model)
        if not fractions:
            return
        runner.message_hub.update_info('gamma_sparsity', fractions)
        for name, value in fractions.items():
            runner.message_hub.update_scalar(f'train/gamma_under_theta/{name}', value)
        runner.logger.info('γ under θ (penalised): mean %.3f, per layer %s', fractions['mean'],
                           ' '.join(f'{k}={v:.2f}' for k, v in fractions.items() if k != 'mean'))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval):
            self._log(runner)

    def after_train(self, runner) -> None:
        self._log(runner)


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop training with :class:`TrainingDiverged` once the loss has been NaN or infinite.

    The check reads the device every ``interval`` iterations (and after the last one), not
    every iteration: in between, the first non-finite iteration and its loss are kept on the
    device (``torch.where``, no host synchronisation), so the error still names the exact
    iteration. ``interval=None``: 1 for a loss on the CPU (reading it costs nothing there),
    :data:`CUDA_CHECK_INTERVAL` on an accelerator. Our choice: a diverged run is stopped at most
    ``interval - 1`` iterations late and fails exactly as before.
    """

    priority = 'VERY_HIGH'

    def __init__(self, interval: int | None = None):
        if interval is not None and interval < 1:
            raise ValueError(f'FiniteLossHook interval must be >= 1, got {interval}')
        self.interval = interval
        self._first: torch.Tensor | None = None   # first non-finite iteration (1-based), or 0
        self._value: torch.Tensor | None = None   # the loss at that iteration

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is None:
            return
        loss = loss.detach()
        iteration = runner.iter + 1
        if self._first is None:
            self._first = torch.zeros((), dtype=torch.long, device=loss.device)
            self._value = torch.zeros((), dtype=loss.dtype, device=loss.device)
        new = (~torch.isfinite(loss).all()) & (self._first == 0)
        self._first = torch.where(new, torch.full_like(self._first, iteration), self._first)
        self._value = torch.where(new, loss.reshape(-1)[0], self._value)
        interval = self.interval or (1 if loss.device.type == 'cpu' else CUDA_CHECK_INTERVAL)
        last = iteration >= getattr(getattr(runner, 'train_loop', None), 'max_iters', 1 << 62)
        if iteration % interval == 0 or last:
            self._check()

    def after_train(self, runner) -> None:
        self._check()

    def _check(self) -> None:
        first = int(self._first) if self._first is not None else 0
        if not _all_ranks(first == 0):  # every rank stops together: none is left waiting in DDP
            value = float(self._value) if first else 'non-finite on another rank'
            where = f' at iteration {first}' if first else ''
            raise TrainingDiverged(f'loss is {value}{where}')


#: Iterations between two host reads of :class:`FiniteLossHook`'s flag on an accelerator.
CUDA_CHECK_INTERVAL = 50


@HOOKS.register_module()
class LastValidationHook(Hook):
    """Keep the metrics of the latest validation and the training iteration it ran after.

    mmengine's train loops validate after the last iteration (epoch) whatever the interval;
    :func:`~fusionbench.experiments.run.train_and_evaluate` takes those metrics instead of
    evaluating the same weights a second time.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self.metrics: dict | None = None
        self.at_iter: int | None = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = dict(metrics or {})
        self.at_iter = runner.iter


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Put the model's weights in channels-last memory format before training (a speed switch).

    Convolutions then run over NHWC (cuDNN's fast layout for bf16/tensor cores); their inputs
    follow. Values change only by float rounding of another summation order.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        runner.model.to(memory_format=torch.channels_last)


def _all_ranks(flag: bool) -> bool:
    """``flag`` and-ed over the ranks of the process group (just ``flag`` outside one)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = 'cuda' if dist.get_backend() == 'nccl' else 'cpu'
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def rng_state() -> dict:
    """The global RNG states (python, numpy, torch, CUDA), weights-only loadable."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {'python': random.getstate(), 'torch': torch.get_rng_state(),
             'numpy': {'kind': kind, 'keys': keys.tolist(), 'pos': int(pos),
                       'has_gauss': int(has_gauss), 'cached': float(cached)}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Put back what :func:`rng_state` returned."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    n = state['numpy']
    np.random.set_state((n['kind'], np.asarray(n['keys'], dtype=np.uint32), n['pos'],
                         n['has_gauss'], n['cached']))
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in state['cuda']])


@HOOKS.register_module()
class RngStateHook(Hook):
    """Save the RNG states in every checkpoint (``checkpoint['rng_state']``); restore on resume.

    mmengine's resume restores weights, optimizer, schedulers and the iteration, and replays the
    data loader to the resumed iteration, but not the global RNGs: dropout (and anything else
    drawing from torch's RNG in a training step) then differs from a run that never stopped.
    The states are saved when the checkpoint is written (after iteration k-1) and put back right
    before batch k is fetched on resume -- after the loader's replay, which re-draws the data
    augmentation -- so the resumed run continues exactly where the killed one left off. For
    epoch-based loops they are put back at the start of the resumed epoch (exact for
    checkpoints written at epoch ends). In distributed runs rank 0's states are saved (every
    rank draws the same as long as ranks share the seed, mmengine's default).

    ``resumed_from`` is the iteration training resumed at (0 for a fresh start).
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._state: dict | None = None
        self.resumed_from = 0

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._state = checkpoint.get('rng_state')

    def before_train(self, runner) -> None:
        self.resumed_from = runner.iter
        if self._state is None or runner.iter == 0:
            self._state = None
            return
        loop = runner.train_loop
        iterator = getattr(loop, 'dataloader_iterator', None)
        if iterator is None:  # epoch-based: the epoch starts with a fresh loader
            return
        loop.dataloader_iterator = _RestoreBeforeBatch(loop, iterator, runner.iter, self._restore)

    def before_train_epoch(self, runner) -> None:
        if self._state is not None and getattr(runner.train_loop, 'dataloader_iterator',
                                               None) is None:
            self._restore()

    def _restore(self) -> None:
        if self._state is not None:
            set_rng_state(self._state)
            self._state = None


class _RestoreBeforeBatch:
    """The train loop's data iterator, calling ``restore`` before the batch after ``skip``."""

    def __init__(self, loop, iterator, skip: int, restore):
        self._loop, self._iterator, self._left, self._restore = loop, iterator, skip, restore

    def __iter__(self):
        return self

    def __next__(self):
        if self._left == 0:
            self._restore()
            self._loop.dataloader_iterator = self._iterator  # unwrap: a one-shot
        self._left -= 1
        return next(self._iterator)

    def __getattr__(self, name: str):
        return getattr(self._iterator, name)


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or infinite loss."""
