"""Training hooks.

:class:`GammaSparsityHook` logs, for every channel-exchanging layer, the fraction of its
penalised γ's that are under the threshold θ -- the channels that are (or, without exchange,
would be) replaced. It shows whether the ℓ1 term did its job in the chosen budget.
"""
from __future__ import annotations

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
    """Stop training with :class:`TrainingDiverged` as soon as the loss is NaN or infinite."""

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if loss is not None and not torch.isfinite(loss).all():
            raise TrainingDiverged(
                f'loss is {float(loss)} at iteration {runner.iter + 1}')


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or infinite loss."""
