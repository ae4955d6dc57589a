"""Train and evaluate one resolved config with mmengine's Runner; return what a record holds.

:func:`resolve_config` turns (config file, protocol, seed, overrides) into the config that
actually runs; :func:`train_and_evaluate` runs it and returns metrics per head, parameter
counts, the γ sparsity of the exchanging layers and the wall time.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any

import torch
from mmengine.config import Config

from fusionbench import compat
from fusionbench.evaluation.params import parameter_counts
# Config resolution lives in config_check (the preflight uses it without importing this
# training module) and the roots in fusionbench.paths; both are re-exported for callers.
from fusionbench.experiments.config_check import build_model, resolve_config  # noqa: F401
from fusionbench.experiments.preflight import prepare
from fusionbench.experiments.pretrain import apply_pretraining
from fusionbench.hooks import RngStateHook, TrainingDiverged
from fusionbench.paths import CONFIG_ROOT, REPO_ROOT, config_path  # noqa: F401

#: Head name under which a record also keeps the model's main prediction (the α-ensemble, or the
#: only modality of a uni-modal model), so one table column can span both kinds of rows.
PRIMARY_HEAD = 'primary'

__all__ = ['CONFIG_ROOT', 'PERFORMANCE_KEYS', 'PRIMARY_HEAD', 'REPO_ROOT', 'apply_performance',
           'build_model', 'config_path', 'resolve_config', 'resolve_performance',
           'train_and_evaluate']


PERFORMANCE_KEYS = ('amp', 'channels_last', 'compile', 'deterministic')


def resolve_performance(requested: dict | None, device: str) -> dict:
    """The speed switches that apply on ``device``: ``{amp, channels_last, compile,
    deterministic, loader_workers}``.

    ``requested``: ``amp`` ('bf16' | 'fp32'), ``channels_last``, ``compile``, ``deterministic``
    (bools; missing ones off). bf16 autocast and channels-last apply on CUDA only (on a CPU they
    are slower or change nothing useful, and CPU runs stay float32 NCHW); ``compile`` and
    ``deterministic`` apply everywhere. On CUDA the loaders get worker processes (up to 4,
    pinned memory, persistent) so that data loading keeps up. Raises ``ValueError`` for an
    unknown key or amp mode.
    """
    requested = dict(requested or {})
    unknown = sorted(set(requested) - set(PERFORMANCE_KEYS))
    if unknown:
        raise ValueError(f'unknown performance switches {unknown}; known: {PERFORMANCE_KEYS}')
    amp = requested.get('amp') or 'fp32'
    if amp not in ('bf16', 'fp32'):
        raise ValueError(f"performance amp must be 'bf16' or 'fp32', got {amp!r}")
    cuda = device.startswith('cuda')
    return {'amp': amp if cuda else 'fp32',
            'channels_last': bool(requested.get('channels_last')) and cuda,
            'compile': bool(requested.get('compile')),
            'deterministic': bool(requested.get('deterministic')),
            'loader_workers': min(4, os.cpu_count() or 1) if cuda else 0}


def apply_performance(cfg: Config, performance: dict) -> None:
    """Rewrite ``cfg`` for the resolved switches of :func:`resolve_performance` (in place)."""
    if performance['amp'] == 'bf16':
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = 'bfloat16'
    if performance['channels_last']:
        hooks = list(cfg.get('custom_hooks') or [])
        cfg.custom_hooks = [*hooks, dict(type='ChannelsLastHook')]
    if performance['compile']:
        cfg.compile = True
    cfg.randomness = dict(cfg.get('randomness') or {}, deterministic=performance['deterministic'])
    workers = performance['loader_workers']
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if workers and loader:
            loader.update(num_workers=workers, pin_memory=True, persistent_workers=True)


def _quiet_mmengine(level: int) -> None:
    logging.getLogger('mmengine').setLevel(level)


def train_and_evaluate(cfg: Config, launcher: str = 'none', fresh: bool = False,
                       performance: dict | None = None) -> dict[str, Any]:
    """Train ``cfg`` with mmengine's Runner, then evaluate it (on a held-out test split if any).

    A work dir holding a killed run's checkpoint resumes from it (``cfg.resume``), exactly: the
    pointer is repaired first (:func:`~fusionbench.compat.prepare_resume`) and
    :class:`~fusionbench.hooks.RngStateHook` restores the RNG states. ``fresh`` deletes the work
    dir's checkpoints first, so the run starts over (``run --force``). The result also holds
    ``resumed_from_iter`` (0 for a fresh start), ``torch_threads`` (CPU results depend on the
    thread count: float reductions are split differently) and ``world_size`` (processes that
    trained it, each on its own batches).

    Returns ``{'metrics': {head: {aAcc, mIoU, mAcc}}, 'eval_split', 'params': {...},
    'wall_time_s': float, 'device': str, ...}``; the heads include
    :data:`PRIMARY_HEAD`. ``metrics`` are on the held-out test split when the config has one
    distinct from its validation split (``eval_split`` 'test'; the validation metrics are then
    ``val_metrics``), else on the validation split. Hooks add their own fields (CEN's
    ``gamma_sparsity`` and ``gamma_dynamics``; ``val_curve`` and ``plateau`` when the protocol
    validates during training, see :mod:`fusionbench.plateau`).
    Raises :class:`TrainingDiverged` (from :class:`~fusionbench.hooks.FiniteLossHook`) when the
    loss goes NaN or infinite, and :class:`~fusionbench.experiments.preflight.PreflightError` --
    before anything is built -- when a data set or weights file is missing (``data/`` and
    ``checkpoints/`` paths are resolved against ``$FUSIONBENCH_DATA`` / ``$FUSIONBENCH_WEIGHTS``
    first).

    ``performance``: the speed switches asked for (see :func:`resolve_performance`; e.g. a
    protocol's :meth:`~fusionbench.experiments.protocols.Protocol.default_performance`); the
    result's ``performance`` holds what applied on this device. The model is evaluated once:
    the train loop's own final validation is kept (:class:`~fusionbench.plateau.
    ValidationCurveHook`), a validation is run only when the loop did not end with one.
    """
    from mmengine.runner import Runner


    compat.apply()
    compat.enforce_weights_only_loading()  # resume / load_from / Pretrained: weights only
    pretraining = apply_pretraining(cfg, train_and_evaluate)  # the seed's pretrained encoder and per-layer λ
    prepare(cfg)
    if launcher != 'none':
        compat.init_distributed(launcher=launcher)
        cfg.model_wrapper_cfg = compat.model_wrapper_cfg()
    cfg.launcher = launcher
    _quiet_mmengine(logging.WARNING)
    start = time.perf_counter()
    if cfg.get('work_dir') and (fresh or cfg.get('resume')):
        if compat.is_main_process():
            compat.prepare_resume(cfg.work_dir, fresh=fresh)
        compat.barrier()
        # nothing to resume: say so to mmengine, which would print that it found no checkpoint
        cfg.resume = bool(cfg.get('resume')) and os.path.isfile(
            os.path.join(cfg.work_dir, 'last_checkpoint'))
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    applied = resolve_performance(performance, device)
    apply_performance(cfg, applied)
    hooks = list(cfg.get('custom_hooks') or [])
    for always in ('RngStateHook', 'ValidationCurveHook'):
        if not any(h.get('type') == always for h in hooks):
            hooks.append(dict(type=always))
    cfg.custom_hooks = hooks
    cfg.setdefault('experiment_name', f'fusionbench-{os.getpid()}-{time.time_ns()}')
    runner = Runner.from_cfg(cfg)
    compat.silence_known_noise(runner.logger)
    runner.train()
    val_flat = _final_validation(runner)
    held_out = _has_test_split(cfg)
    # the trained model as is (runner.test() would reload a checkpoint)
    flat = runner.test_loop.run() if held_out else val_flat
    wall = time.perf_counter() - start
    device = (torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')
    declared = _declared_metrics(cfg)
    return {
        'metrics': _by_head(flat, declared),
        'eval_split': 'test' if held_out else 'val',
        **({'val_metrics': _by_head(val_flat, declared)} if held_out else {}),
        'params': parameter_counts(runner.model),
        'wall_time_s': round(wall, 2),
        'device': device,
        'resumed_from_iter': next((int(h.resumed_from) for h in runner.hooks
                                   if isinstance(h, RngStateHook)), 0),
        'torch_threads': torch.get_num_threads(),
        'world_size': runner.world_size,
        'performance': applied,
        **({'pretraining': pretraining} if pretraining else {}),
        **_hook_record_fields(runner),
        **_evaluator_record_fields(runner.test_loop if held_out else runner.val_loop),
    }


def _declared_metrics(cfg: Config) -> dict:
    """``{metric name: MetricInfo}`` of the config's task (empty when it cannot be told)."""
    from fusionbench.errors import ConfigError
    from fusionbench.tasks.base import task_of
    try:
        return dict(task_of(cfg).metrics)
    except ConfigError:
        return {}


def _evaluator_record_fields(loop) -> dict[str, Any]:
    """Fields the evaluation's metrics add to the record (a metric's ``record_fields()``, e.g.
    the translation evaluator's ``feature_extractor``)."""
    fields: dict[str, Any] = {}
    for metric in getattr(getattr(loop, 'evaluator', None), 'metrics', ()):
        if callable(getattr(metric, 'record_fields', None)):
            fields.update(metric.record_fields())
    return fields


def _by_head(flat: dict, declared: dict | None = None) -> dict[str, dict[str, float]]:
    """``{'rgb/mIoU': v, 'mIoU': w}`` -> ``{'rgb': {'mIoU': v}, PRIMARY_HEAD: {'mIoU': w}}``.

    Values are rounded to one digit beyond the printed precision of the task's declared metric
    (``declared``: ``{name: MetricInfo}``), at least to 0.01 (mmseg rounds to 0.01 %): drops
    float32 noise, keeps L1 / SSIM (3 decimals) meaningful."""
    metrics: dict[str, dict[str, float]] = {}
    declared = declared or {}
    for key, value in flat.items():
        name = key.split('/', 1)[-1]
        info = declared.get(name)
        value = round(float(value), max(2, info.decimals + 1) if info else 2)
        if '/' in key:
            head, name = key.split('/', 1)
            metrics.setdefault(head, {})[name] = value
        else:  # the model's main prediction, unprefixed: the ensemble, or the only modality
            metrics.setdefault(PRIMARY_HEAD, {})[key] = value
    return metrics


def _final_validation(runner) -> dict:
    """The trained model's validation metrics: reused from the train loop's validation at the
    last iteration when there was one (a protocol with ``val_points``), else run now."""
    from fusionbench.plateau import ValidationCurveHook
    curve = next((h for h in runner.hooks if isinstance(h, ValidationCurveHook)), None)
    if curve is not None and curve.last is not None and curve.last_iter == runner.iter:
        return curve.last
    return runner.val_loop.run()


def _has_test_split(cfg: Config) -> bool:
    """Whether ``cfg`` evaluates a held-out test split distinct from its validation split."""
    test = cfg.get('test_dataloader')
    return test is not None and test != cfg.get('val_dataloader')


def _hook_record_fields(runner) -> dict[str, Any]:
    """Fields that hooks add to the record (a hook's ``record_fields(runner)``, e.g. CEN's
    γ dynamics), so method-specific records live beside their method."""
    fields: dict[str, Any] = {}
    for hook in runner.hooks:
        if callable(getattr(hook, 'record_fields', None)):
            fields.update(hook.record_fields(runner))
    return fields
