"""CEN's γ dynamics over training: what to record, and a check for lockstep collapse.

The paper's mechanism (Theorem 1): a penalised γ is attracted to 0 -- and its channel starts to
be exchanged once ``|γ| < θ`` -- with a probability that depends on its channel's task gradient,
so the channels of a layer cross θ *at different times*, the less useful first. A uniform decay
does the opposite: every penalised γ of a layer shrinks in lockstep and the whole sub-part flips
within a few iterations (a fixed exchange of half the channels, the paper's "fixed portion"
ablation, not CEN). :class:`GammaDynamicsHook` records, for every exchanging layer:

- ``share``: the share of its penalised γ's under θ every ``interval`` iterations;
- ``first_crossing``: each penalised channel's first iteration with ``|γ| < θ`` (−1: never),
  checked every iteration (on the device, no host synchronisation);
- ``hist``: the final ``|γ|`` histograms of the penalised and the other γ's (shared bin edges),
  as the paper's appendix plots them;
- ``returns``: how many times each penalised γ went from under θ back to ``|γ| >= θ`` (checked
  every iteration), and ``under_at_end``: whether it is under θ after training -- the empirical
  check of Theorem 1 (a γ attracted to 0 stays there): :func:`comebacks` summarises them;

and :func:`lockstep_layers` flags the layers whose crossings collapse together. A run record
keeps all of it under ``gamma_dynamics`` (see :meth:`GammaDynamicsHook.record_fields`).
:class:`GammaSparsityHook` logs the shares under θ during training and puts the final ones in
the record under ``gamma_sparsity``.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from mmengine.hooks import Hook
from torch import nn

from fusionbench.fusion.cen import ChannelExchange
from fusionbench.registry import HOOKS

#: Histogram bins of the final |γ| (equal widths from 0 to the layer's largest |γ|).
HIST_BINS = 20
#: Lockstep: at least this share of a layer's penalised γ's crossed θ ...
LOCKSTEP_MIN_CROSSED = 0.5
#: ... and the 10th–90th percentiles of their first-crossing iterations lie within this share of
#: the run. Measured on the mini protocol's collapse (cen row, seed 0, 240 iterations): every
#: layer crossed 100 %, with 10th–90th percentile spreads of 0–10 iterations after the first
#: 3×3 norms and 0–12.5 after the second (≤ 5.2 % of the run); data-driven selection spreads
#: crossings over much of the run.
LOCKSTEP_MAX_SPREAD = 0.10
#: ... or within this many iterations, whichever is larger ("a few iterations").
LOCKSTEP_MIN_WINDOW = 5


def exchange_layers(model: nn.Module) -> Iterator[tuple[ChannelExchange, nn.Module]]:
    """Every CEN module of ``model`` with the norm whose γ it reads, in forward order.

    Block-position fusions live in their block's ``fusions`` (``{norm name: module}``; see
    :mod:`fusionbench.fusion.base`); the norm is the block's attribute of that name.
    """
    model = getattr(model, 'module', model)
    for block in model.modules():
        fusions = getattr(block, 'fusions', None)
        if not isinstance(fusions, nn.ModuleDict):
            continue
        for norm_name, fusion in fusions.items():
            if isinstance(fusion, ChannelExchange):
                yield fusion, getattr(block, norm_name)


def tracked_mask(fusion: ChannelExchange) -> torch.Tensor:
    """``[M, C]`` bool: the γ's whose crossing matters -- the penalised ones (the exchangeable
    ones when nothing is penalised; every one when neither)."""
    mask = fusion.penalised if fusion.l1 != 'none' else fusion.exchangeable
    return mask if bool(mask.any()) else torch.ones_like(mask)


def gamma_sparsity(model: nn.Module) -> dict[str, float]:
    """``{point name: share of tracked |γ| < θ}`` for every CEN point, plus ``'mean'``."""
    fractions = {}
    for fusion, norm in exchange_layers(model):
        gamma = norm.weight.detach().abs()
        mask = tracked_mask(fusion)
        fractions[fusion.point.name] = float(((gamma < fusion.threshold) & mask).sum()
                                             / mask.sum())
    if fractions:
        fractions['mean'] = sum(fractions.values()) / len(fractions)
    return fractions


def gamma_histograms(model: nn.Module, bins: int = HIST_BINS) -> dict[str, dict]:
    """``{point: {'edges', 'penalised', 'other'}}``: final |γ| histograms (counts) per layer.

    ``penalised`` counts the tracked γ's (:func:`tracked_mask`), ``other`` the rest of the
    norm's γ's (empty counts when every γ is tracked); both share ``edges`` (``bins + 1``
    values, 0 to the layer's largest |γ|).
    """
    out = {}
    for fusion, norm in exchange_layers(model):
        gamma = norm.weight.detach().abs().float().cpu().numpy()
        mask = tracked_mask(fusion).cpu().numpy()
        top = float(gamma.max()) if gamma.size and gamma.max() > 0 else 1.0
        edges = np.linspace(0.0, top, bins + 1)
        out[fusion.point.name] = {
            'edges': [round(float(e), 6) for e in edges],
            'penalised': np.histogram(gamma[mask], edges)[0].tolist(),
            'other': np.histogram(gamma[~mask], edges)[0].tolist()}
    return out


def crossing_spread(first_crossing: list[int]) -> tuple[float, float]:
    """``(share crossed, 10th–90th percentile spread in iterations)`` of first crossings (−1 =
    never; NaN spread when fewer than 2 crossed)."""
    crossings = np.asarray(first_crossing, dtype=float)
    if crossings.size == 0:
        return 0.0, float('nan')
    crossed = crossings[crossings >= 0]
    share = crossed.size / crossings.size
    if crossed.size < 2:
        return share, float('nan')
    low, high = np.percentile(crossed, [10, 90])
    return share, float(high - low)


def is_lockstep(first_crossing: list[int], max_iters: int,
                min_crossed: float = LOCKSTEP_MIN_CROSSED,
                max_spread: float = LOCKSTEP_MAX_SPREAD,
                min_window: int = LOCKSTEP_MIN_WINDOW) -> bool:
    """Whether a layer's penalised γ's crossed θ in lockstep.

    True when at least ``min_crossed`` of them crossed and the 10th–90th percentiles of their
    first-crossing iterations lie within ``max(min_window, max_spread · max_iters)`` iterations
    (our choice of thresholds, see :data:`LOCKSTEP_MAX_SPREAD`: the collapse found on the
    ``mini`` protocol put every γ of a layer across θ within at most 12.5 of 240 iterations;
    data-driven selection spreads them over the run).
    """
    share, spread = crossing_spread(first_crossing)
    if share < min_crossed or spread != spread:  # NaN: fewer than 2 crossed
        return False
    return spread <= max(min_window, max_spread * max_iters)


def crossing_order(first_crossing: list[int], gradient: list[float],
                   max_iters: int) -> float:
    """Spearman's ρ between the penalised γ's first-crossing iterations and their channels'
    task-gradient magnitudes ``|E ∂L/∂γ|`` (same order; never crossed counts as
    ``max_iters + 1``, ties share ranks). NaN when fewer than 2 crossed or none stayed.

    Positive: channels the task holds up least cross first, as Theorem 1 predicts for
    data-driven selection; about 0 when crossing order is unrelated to the task (a uniform decay
    or a shuffled-label control). ``scipy.stats.spearmanr``.
    """
    from scipy.stats import spearmanr

    times = np.asarray(first_crossing, dtype=float)
    magnitudes = np.asarray(gradient, dtype=float)
    if times.shape != magnitudes.shape:
        raise ValueError(f'crossing_order: {times.size} crossings but {magnitudes.size} '
                         'gradients')
    times = np.where(times < 0, max_iters + 1, times)
    if np.unique(times).size < 2:
        return float('nan')
    return float(spearmanr(times, magnitudes).statistic)


def crossing_orders(record: dict) -> dict[str, float]:
    """``{layer: ρ}`` of :func:`crossing_order` for a run record with ``gamma_dynamics`` and the
    calibration's per-channel gradients (``record['pretraining']['gradient']``, ``[M][C]`` per
    layer); {} when the record has either missing.

    The tracked γ's of ``first_crossing`` are every γ of the layer (``M·C`` entries) or, for
    ``M·C/M = C`` entries, each modality's own sub-part (:func:`~fusionbench.fusion.cen.
    subpart_mask`, modality-major) -- the two ℓ1 scopes that track anything.
    """
    from fusionbench.fusion.cen import subpart_mask

    dynamics = record.get('gamma_dynamics') or {}
    gradients = (record.get('pretraining') or {}).get('gradient') or {}
    max_iters = int(dynamics.get('max_iters') or 0)
    out = {}
    for name, layer in (dynamics.get('layers') or {}).items():
        if name not in gradients:
            continue
        gradient = torch.tensor(gradients[name])
        crossings = layer['first_crossing']
        if len(crossings) == gradient.numel():
            tracked = gradient.flatten()
        else:
            tracked = gradient[subpart_mask(*gradient.shape)]
        if len(crossings) == tracked.numel():
            out[name] = crossing_order(crossings, tracked.tolist(), max_iters)
    return out


def comebacks(layer: dict) -> dict[str, int] | None:
    """Theorem 1's check for one recorded layer: of its penalised γ's that ever crossed θ,
    how many came back above θ at least once, and how many are above θ at the end.

    Returns ``{'crossed', 'came_back', 'above_at_end', 'returns'}`` (``returns``: all
    under -> above transitions of the layer), or None for a record made before the returns
    were counted (no ``returns`` / ``under_at_end``).
    """
    if 'returns' not in layer or 'under_at_end' not in layer:
        return None
    first = np.asarray(layer['first_crossing'], dtype=int)
    returns = np.asarray(layer['returns'], dtype=int)
    under = np.asarray(layer['under_at_end'], dtype=bool)
    crossed = first >= 0
    return {'crossed': int(crossed.sum()), 'came_back': int((crossed & (returns > 0)).sum()),
            'above_at_end': int((crossed & ~under).sum()), 'returns': int(returns.sum())}


def lockstep_layers(dynamics: dict, **thresholds) -> list[str]:
    """The layers of a recorded ``gamma_dynamics`` whose crossings are in lockstep."""
    max_iters = int(dynamics.get('max_iters') or 0)
    return [name for name, layer in dynamics.get('layers', {}).items()
            if is_lockstep(layer['first_crossing'], max_iters, **thresholds)]


@HOOKS.register_module()
class GammaDynamicsHook(Hook):
    """Record CEN's γ dynamics (see the module docstring); a no-op for models without CEN.

    Checks the crossings after every training iteration (device tensors, no synchronisation),
    samples the shares every ``interval`` iterations and after training, and keeps its state in
    checkpoints so a resumed run records the same history as one that ran through.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 50, bins: int = HIST_BINS):
        self.interval = max(1, int(interval))
        self.bins = bins
        self._first: dict[str, torch.Tensor] = {}
        self._under: dict[str, torch.Tensor] = {}    # under θ at the last check
        self._returns: dict[str, torch.Tensor] = {}  # under -> above transitions so far
        self._masks: dict[str, torch.Tensor] = {}
        self._iterations: list[int] = []
        self._shares: dict[str, list[float]] = {}
        self._hist: dict[str, dict] = {}
        self._max_iters = 0

    # ------------------------------------------------------------------ recording
    def before_train(self, runner) -> None:
        self._max_iters = int(getattr(runner, 'max_iters', 0) or 0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.track(runner.model, runner.iter + 1)
        if self.every_n_train_iters(runner, self.interval):
            self.sample(runner.model, runner.iter + 1)

    def after_train(self, runner) -> None:
        if not self._iterations or self._iterations[-1] != runner.iter:
            self.sample(runner.model, runner.iter)
        self._hist = gamma_histograms(runner.model, self.bins)

    def track(self, model: nn.Module, iteration: int) -> None:
        """Note ``iteration`` as the first crossing of every tracked γ now under θ for the first
        time, and count every tracked γ that was under θ at the last check and is not now."""
        with torch.no_grad():
            for fusion, norm in exchange_layers(model):
                name = fusion.point.name
                if name not in self._masks:  # once: tracked_mask synchronises with the device
                    self._masks[name] = tracked_mask(fusion)
                mask = self._masks[name]
                first = self._first.get(name)
                if first is None or first.device != mask.device:
                    first = (torch.full(mask.shape, -1, dtype=torch.long) if first is None
                             else first).to(mask.device)
                    self._first[name] = first
                under = (norm.weight.detach().abs() < fusion.threshold) & mask
                first.masked_fill_(under & (first < 0), iteration)
                before = self._under.get(name)
                if before is not None:  # a resumed run's state may come from another device
                    before = before.to(under.device)
                    returns = self._returns.get(name)
                    if returns is None or returns.device != under.device:
                        returns = (torch.zeros(mask.shape, dtype=torch.long) if returns is None
                                   else returns).to(under.device)
                        self._returns[name] = returns
                    returns.add_(before & ~under)
                self._under[name] = under

    def sample(self, model: nn.Module, iteration: int) -> None:
        """Append the shares under θ at ``iteration``."""
        shares = {k: v for k, v in gamma_sparsity(model).items() if k != 'mean'}
        if not shares:
            return
        self._iterations.append(int(iteration))
        for name, value in shares.items():
            self._shares.setdefault(name, []).append(round(value, 4))

    # ------------------------------------------------------------------ checkpoints
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['gamma_dynamics'] = {
            'first': {k: v.cpu() for k, v in self._first.items()},
            'under': {k: v.cpu() for k, v in self._under.items()},
            'returns': {k: v.cpu() for k, v in self._returns.items()},
            'iterations': list(self._iterations), 'shares': dict(self._shares)}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('gamma_dynamics')
        if state:
            self._first = {k: v.clone() for k, v in state['first'].items()}
            self._under = {k: v.clone() for k, v in state.get('under', {}).items()}
            self._returns = {k: v.clone() for k, v in state.get('returns', {}).items()}
            self._iterations = list(state['iterations'])
            self._shares = {k: list(v) for k, v in state['shares'].items()}

    # ------------------------------------------------------------------ the record
    def dynamics(self, model: nn.Module | None = None) -> dict:
        """The compact record: ``{'interval', 'max_iters', 'iterations', 'layers': {point:
        {'share', 'first_crossing', 'hist'}}, 'lockstep_layers'}`` ({} without CEN layers).

        ``first_crossing`` lists the tracked γ's modality-major (−1: never crossed);
        ``returns`` and ``under_at_end`` list the same γ's in the same order.
        """
        if not self._first:
            return {}
        masks = ({f.point.name: tracked_mask(f) for f, _ in exchange_layers(model)}
                 if model is not None else {})
        layers = {}
        for name, first in self._first.items():
            mask = masks.get(name, torch.ones_like(first, dtype=torch.bool)).to(first.device)
            returns = self._returns.get(name, torch.zeros_like(first)).to(first.device)
            under = self._under.get(name, first >= 0).to(first.device)
            layers[name] = {'share': self._shares.get(name, []),
                            'first_crossing': first[mask].cpu().tolist(),
                            'returns': returns[mask].cpu().tolist(),
                            'under_at_end': under[mask].cpu().tolist(),
                            'hist': self._hist.get(name, {})}
        record = {'interval': self.interval, 'max_iters': self._max_iters,
                  'iterations': list(self._iterations), 'layers': layers}
        record['lockstep_layers'] = lockstep_layers(record)
        return record

    def record_fields(self, runner) -> dict:
        """What a run record keeps from this hook: ``{'gamma_dynamics': ...}`` (or nothing)."""
        dynamics = self.dynamics(runner.model)
        return {'gamma_dynamics': dynamics} if dynamics else {}


@HOOKS.register_module()
class GammaSparsityHook(Hook):
    """Log :func:`gamma_sparsity` every ``interval`` iterations and after training.

    For every channel-exchanging layer, the share of its penalised γ's under the threshold θ --
    the channels that are (or, without exchange, would be) replaced: whether the ℓ1 term did its
    job in the chosen budget. The final values are kept in ``runner.message_hub`` under
    ``'gamma_sparsity'`` (info) and in the run record (:meth:`record_fields`).
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

    def record_fields(self, runner) -> dict:
        """What a run record keeps from this hook: ``{'gamma_sparsity': {point: share, 'mean':
        share}}`` (``{}`` for a model without CEN)."""
        return {'gamma_sparsity': runner.message_hub.get_info('gamma_sparsity') or {}}
