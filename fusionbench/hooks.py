"""Generic training hooks: none knows a fusion method (this module imports none).

:class:`FiniteLossHook` stops a run whose loss goes NaN/inf (on every rank at once).
:class:`RngStateHook` saves the RNG states with each checkpoint and puts them back on resume,
so a run killed and resumed ends bit-identical to one that ran through.
:class:`ChannelsLastHook` switches the model to channels-last memory format (a speed switch).
:class:`LRStagesHook` gives the public code's staged learning rates.

Method-specific hooks live beside their method (CEN's :class:`GammaSparsityHook` and
:class:`GammaDynamicsHook` in :mod:`fusionbench.fusion.gamma_dynamics`), the validation curve's in
:mod:`fusionbench.plateau`; ``HOOKS`` lists every such module in its ``locations``.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from mmengine.hooks import Hook

from fusionbench.registry import HOOKS

__all__ = ['FiniteLossHook', 'RngStateHook', 'ChannelsLastHook', 'LRStagesHook',
           'TrainingDiverged', 'rng_state', 'set_rng_state']


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
            self._check(iteration, 'at' if interval == 1 else 'by')

    def after_train(self, runner) -> None:
        self._check(runner.iter, 'by')

    def _check(self, iteration: int, when: str) -> None:
        first = int(self._first) if self._first is not None else 0
        if not _all_ranks(first == 0):  # every rank stops together: none is left waiting in DDP
            if first:
                raise TrainingDiverged(f'loss is {float(self._value)} at iteration {first}')
            # this rank's losses were finite: it knows only when the ranks compared flags
            raise TrainingDiverged(f'loss is non-finite on another rank {when} iteration '
                                   f'{iteration}')


#: Iterations between two host reads of :class:`FiniteLossHook`'s flag on an accelerator.
CUDA_CHECK_INTERVAL = 50


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


@HOOKS.register_module()
class LRStagesHook(Hook):
    """Piecewise-constant learning rates with the optimiser re-created at each stage.

    The CEN public code trains in stages (``NUM_SEGM_EPOCHS``, ``LR_ENC``, ``LR_DEC`` in its
    ``config.py``) and builds new SGD optimisers at the start of each (``main.py``): the rates
    jump to the stage's values and the momentum buffers start empty. This hook does the same on
    mmengine's one optimiser: at the start of stage ``s`` every parameter group's rate becomes
    its base rate (the rate the config gives it) times ``encoder_factors[s]`` (parameters under
    ``backbone``) or ``decoder_factors[s]`` (everything else, α included, as the public code's
    decoder optimiser holds it), and the momentum buffers are dropped -- SGD then starts them
    from the next gradient, as a fresh optimiser does.

    Args:
        ends: where stages 1, 2, ... start, in epochs (``by_epoch``) or iterations, e.g.
            ``(100, 200)`` for the public code's 3 × 100 epochs.
        encoder_factors / decoder_factors: one factor per stage (``len(ends) + 1``).
        by_epoch: stage boundaries in epochs (epoch-based loops) or iterations.
        reset_momentum: drop the momentum buffers at each boundary (optimiser re-creation).

    The base rates are kept in the optimiser's parameter groups (``stage_base_lr``), so they
    travel with its checkpoint and a resumed run uses the same ones. Raises ValueError when
    the factors do not match the stages.
    """

    priority = 'HIGH'

    def __init__(self, ends: tuple[int, ...], encoder_factors: tuple[float, ...],
                 decoder_factors: tuple[float, ...], by_epoch: bool = True,
                 reset_momentum: bool = True):
        ends = tuple(int(e) for e in ends)
        if list(ends) != sorted(set(ends)) or any(e <= 0 for e in ends):
            raise ValueError(f'LRStagesHook ends must be increasing positive positions, got {ends}')
        for name, factors in (('encoder_factors', encoder_factors),
                              ('decoder_factors', decoder_factors)):
            if len(factors) != len(ends) + 1:
                raise ValueError(f'LRStagesHook {name} needs {len(ends) + 1} values (one per '
                                 f'stage), got {len(factors)}')
        self.ends = ends
        self.factors = {'encoder': tuple(map(float, encoder_factors)),
                        'decoder': tuple(map(float, decoder_factors))}
        self.by_epoch = by_epoch
        self.reset_momentum = reset_momentum

    def stage(self, position: int) -> int:
        """The stage (0-based) that epoch / iteration ``position`` (0-based) belongs to."""
        return sum(position >= end for end in self.ends)

    @staticmethod
    def _groups(runner) -> list[tuple[dict, str]]:
        model = getattr(runner.model, 'module', runner.model)
        encoder = {id(p) for name, p in model.named_parameters() if name.startswith('backbone.')}
        groups = []
        for group in runner.optim_wrapper.optimizer.param_groups:
            kinds = {id(p) in encoder for p in group['params']}
            if len(kinds) > 1:
                raise ValueError('LRStagesHook needs the encoder and the decoder in separate '
                                 "parameter groups: give the optim_wrapper a paramwise_cfg "
                                 "(e.g. custom_keys={'backbone': ...})")
            groups.append((group, 'encoder' if kinds == {True} else 'decoder'))
        return groups

    def _set(self, runner, position: int, boundary: bool) -> None:
        stage = self.stage(position)
        optimizer = runner.optim_wrapper.optimizer
        for group, kind in self._groups(runner):
            group.setdefault('stage_base_lr', group['lr'])
            group['lr'] = group['stage_base_lr'] * self.factors[kind][stage]
            if boundary and self.reset_momentum:
                for param in group['params']:
                    optimizer.state.pop(param, None)

    def before_train(self, runner) -> None:
        self._set(runner, runner.epoch if self.by_epoch else runner.iter, boundary=False)

    def before_train_epoch(self, runner) -> None:
        if self.by_epoch and runner.epoch in self.ends:
            self._set(runner, runner.epoch, boundary=True)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if not self.by_epoch and runner.iter in self.ends:
            self._set(runner, runner.iter, boundary=True)
