"""Pretraining: the small protocols' stand-in for ImageNet initialisation, and the per-layer
λ and γ learning rates derived from it (the paper's Theorem 1).

Why. The paper fine-tunes ImageNet-initialised ResNets for ~40k iterations with λ = 5e-3: its
γ's start diverse and the ℓ1 term competes with a per-channel task gradient. Trained from
scratch for a few hundred iterations, every γ starts at 1, every layer's task gradient is far
below λ in the deep layers (at 64×64 the last stage works on 2×2 maps) and all penalised γ's of a
layer shrink together and cross θ within a few iterations of each other -- a fixed swap of half
the channels, the paper's "fixed portion" ablation, not CEN (:mod:`fusionbench.fusion.
gamma_dynamics` records and flags that lockstep).

What. A protocol with a :class:`Pretraining` runs, per seed and once (cached):

1. **Pretrain** ``config`` (shared convolutions and shared BNs, no ℓ1: one network for both
   modalities, the way ImageNet weights serve both streams in the paper) on its own scenes
   (generator seeds disjoint from the protocol's train / val / test splits) for ``max_iters``.
2. Save its encoder as a torchvision-layout ResNet state dict (``backbone.pth``): every row of
   the protocol loads it through ``backbone.pretrained`` exactly as the paper protocol loads
   ImageNet weights (each modality's private BN starts from the one BN). The decoder
   (``model.pth``) is loaded too wherever its keys and shapes match (mmengine's ``Pretrained``
   init, prefix ``decode_head.``); the paper's decoders start from scratch, but on a
   600-iteration budget a random decoder spends the run catching up (measured, cen row, seed 0:
   36.7 vs 39.9 % ensemble mIoU, neither at a plateau) and the calibration below is measured
   with the pretrained decoder, so the fine-tuning starts where the calibration was taken.
   Our choice; decoders of another architecture (PSPNet rows) start from scratch.
3. **Calibrate** (Theorem 1: a γ is attracted to 0 with probability 2Φ(λ / |∂L/∂x'|) − 1, so
   λ must lie *inside* the spread of a layer's per-channel task gradients for the data to
   decide which channels go): the pretrained model with private BNs, in training mode, on
   ``calibration_batches`` training batches; per exchange layer ``l``, λ_l is the median over
   its γ's of ``|E[∂L_task/∂γ]|`` (× ``l1_scale``, 1 by default; the λ sweep varies it). The
   measured medians fall by two orders of magnitude from ``layer1`` to ``layer4`` (``mini``,
   seed 0: 3.3e-3 … 8.1e-3 in layer 1, 1.2e-3 … 1.9e-3 in layer 2, 1.1e-4 … 2.0e-4 in layer 3,
   3.2e-5 … 4.3e-5 in layer 4), so one λ for all layers would either leave the deep layers
   untouched or flatten the shallow ones.
4. **γ learning rates**: every row's γ's at the exchange positions get the learning rate with
   which the ℓ1 term alone would move a γ by ``l1_travel`` over the fine-tuning schedule,
   ``lr_l = l1_travel · (1 − momentum) / (λ_l · iterations · mean LR factor)``. Our choice of
   ``l1_travel`` = 1.5 × the median initial |γ| (≈ 1 after pretraining): the paper's schedule
   gives ``5e-4 · 5e-3 · 40k / 0.1 · 0.58 ≈ 0.58`` of travel, about twice the typical ImageNet
   |γ| of a ResNet's inner BNs; a budget below the initial |γ| lets no channel reach θ at all
   (measured: CEN then equals "private BNs + ℓ1"). The same learning rates apply to every row
   (with or without ℓ1), so rows differ only by their fusion.

The artifact directory (``$FUSIONBENCH_CACHE/pretrained/<key>/seed<k>``) holds the two weight
files, ``calibration.json`` (per-layer λ, the per-channel gradient magnitudes, the γ learning
rates) and ``provenance.json`` (the spec, the code fingerprint, the pretraining's validation
curve, CPU time, SHA-256 of the weights); ``key`` hashes the spec, the protocol's model scale
and the code fingerprint, so other code never reuses it. Every record of a run that used it
keeps that provenance under ``pretraining``.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import torch

from fusionbench import compat
from fusionbench.experiments.fingerprint import run_fingerprint, short_hash
from fusionbench.experiments.protocols import Pretraining, Protocol, SyntheticData
from fusionbench.tasks.base import mean_lr_factor



#: Fields of :class:`Pretraining` that act on the fine-tuning only (not in the artifact key).
FINE_TUNE_KEYS = ('l1_travel', 'l1_scale', 'momentum')


def pretraining_protocol(protocol: Protocol) -> Protocol:
    """The protocol that pretrains: ``protocol``'s model scale, batch and learning rates on the
    pretraining scenes and iterations, no ℓ1 override, no pretraining of its own."""
    spec = protocol.pretraining
    return dataclasses.replace(protocol, name=f'{protocol.name}-pretrain', data=spec.data,
                               max_iters=spec.max_iters, pretraining=None, l1_weight=None,
                               from_scratch=True, val_points=4)


def artifact_key(protocol: Protocol, code: str, depth: int | None = None) -> str:
    """12 hex digits over the pretraining spec, the protocol's model scale and schedule, the
    encoder depth (``None``: the pretraining config's under the protocol) and the code
    fingerprint ``code``: what decides the pretrained weights and the calibration."""
    spec = pretraining_protocol(protocol)
    pretraining = {k: v for k, v in protocol.pretraining.as_dict().items()
                   if k not in FINE_TUNE_KEYS}
    return short_hash({'pretraining': pretraining, 'model': spec.model,
                       'batch_size': spec.batch_size, 'encoder_lr': spec.encoder_lr,
                       'decoder_lr': spec.decoder_lr, 'lr_halvings': spec.lr_halvings,
                       'clip_grad': spec.clip_grad, 'code': code,
                       **({'depth': depth} if depth is not None else {})})


def artifact_dir(protocol: Protocol, seed: int, code: str, depth: int | None = None) -> str:
    """``$FUSIONBENCH_CACHE/pretrained/<protocol>-<key>/seed<seed>``."""
    from fusionbench.paths import cache_root
    return os.path.join(cache_root(), 'pretrained',
                        f'{protocol.name}-{artifact_key(protocol, code, depth)}', f'seed{seed}')


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def torchvision_backbone_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A shared-BN segmentor's ``state_dict`` -> its encoder in torchvision's ResNet layout.

    ``backbone.layer1.0.bn1.norm.weight`` -> ``layer1.0.bn1.weight`` (a shared norm wraps one
    ``BatchNorm2d`` as ``.norm``); decoder and ensemble keys are dropped.
    """
    out = {}
    for key, value in state.items():
        if not key.startswith('backbone.'):
            continue
        key = key[len('backbone.'):]
        out[key.replace('.norm.', '.')] = value
    return out


def calibrate(protocol: Protocol, seed: int, model_state: dict[str, torch.Tensor],
              backbone_path: str, depth: int | None = None) -> dict[str, Any]:
    """Per exchange layer, the task-gradient scale behind λ_l (step 3 of the module docstring).

    Builds ``protocol.pretraining.calibration_config`` under ``protocol`` (private BNs, every
    exchange layer; its encoder from ``backbone_path``, its decoder from ``model_state``),
    averages ``∂L_task/∂γ`` (the cross-entropy terms only) over the first
    ``calibration_batches`` training batches of seed ``seed`` in training mode.

    Returns ``{'median_gradient': {point: median_c |E ∂L/∂γ|}, 'gradient': {point:
    [[|E ∂L/∂γ_{m,c}|] per modality]}, 'batches': K}``. Raises ``ValueError`` when the config
    has no exchange layer.
    """
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from fusionbench.experiments.config_check import build_model, resolve_config
    from fusionbench.fusion.gamma_dynamics import exchange_layers

    spec = protocol.pretraining
    cfg = resolve_config(spec.calibration_config, dataclasses.replace(protocol, pretraining=None,
                                                                      from_scratch=True), seed)
    cfg.pop('pretraining', None)
    cfg.model.backbone.pretrained = backbone_path
    if depth is not None:
        cfg.model.backbone.depth = depth
    with DefaultScope.overwrite_default_scope('fusionbench'):
        model = build_model(cfg)
        model.init_weights()
        decoder = {k: v for k, v in model_state.items() if not k.startswith('backbone.')}
        missing = model.load_state_dict(decoder, strict=False)
        if missing.unexpected_keys:
            raise ValueError(f'pretrained model has keys the calibration model lacks: '
                             f'{missing.unexpected_keys[:3]}')
        loader = Runner.build_dataloader(copy.deepcopy(cfg.train_dataloader), seed=seed)
        layers = list(exchange_layers(model))
        if not layers:
            raise ValueError(f'{spec.calibration_config} has no channel-exchange layer to '
                             'calibrate')
        weights = [norm.weight for _, norm in layers]
        sums = [torch.zeros_like(w) for w in weights]
        model.train()  # batch statistics and dropout, as in training
        with torch.random.fork_rng():  # the decoder's dropout: seeded, the caller's RNG kept
            torch.manual_seed(seed)
            count = _accumulate(model, loader, weights, sums, spec.calibration_batches)
    median, gradient = {}, {}
    for (fusion, _), total in zip(layers, sums):
        magnitude = (total / count).abs()
        median[fusion.point.name] = float(magnitude.median())
        gradient[fusion.point.name] = [[float(f'{v:.4g}') for v in row]
                                       for row in magnitude.tolist()]
    return {'median_gradient': median, 'gradient': gradient, 'batches': count}


def _accumulate(model, loader, weights: list, sums: list, batches: int) -> int:
    """Add ``∂L_task/∂γ`` of up to ``batches`` batches of ``loader`` into ``sums``; return the
    number of batches."""
    count = 0
    for batch in loader:
        if count == batches:
            break
        data = model.data_preprocessor(batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])
        task = sum(v for k, v in losses.items() if k.startswith('loss_ce'))
        for total, grad in zip(sums, torch.autograd.grad(task, weights)):
            total += grad
        count += 1
    return count


def derive(median_gradient: dict[str, float], l1_scale: float, l1_travel: float,
           iterations: int, halvings: int, momentum: float) -> tuple[dict, dict]:
    """``({point: λ_l}, {point: γ learning rate})`` from the calibration's median task
    gradients (steps 3-4 of the module docstring): ``λ_l = l1_scale · median_l``, ``lr_l =
    l1_travel · (1 − momentum) / (median_l · iterations · mean LR factor)``.

    Hand check: median 1e-3, travel 1.5, 600 iterations, 2 halvings (factor 7/12), momentum 0.9
    -> lr = 0.15 / (1e-3 · 600 · 7/12) = 0.4286.
    """
    factor = mean_lr_factor(halvings)
    l1_weight = {name: value * l1_scale for name, value in median_gradient.items()}
    gamma_lr = {name: l1_travel * (1 - momentum) / (value * iterations * factor)
                for name, value in median_gradient.items()}
    return l1_weight, gamma_lr


def ensure_artifact(protocol: Protocol, seed: int, train: Callable,
                    depth: int | None = None) -> dict[str, Any]:
    """The pretraining artifact of (``protocol``, ``seed``): made once, then read from the cache.

    ``train``: the training function (:func:`fusionbench.experiments.run.train_and_evaluate`,
    passed in by the caller: the training module imports this one). ``depth``: the encoder
    depth to pretrain (a row's; ``None``: the pretraining config's), so deeper rows (Table 3's
    ResNet-34 on the small protocols) get their own pretrained encoder.

    Concurrent runs of the same seed wait on one file lock; the first pretrains. Returns the
    provenance dict (with ``dir``, the artifact folder). Raises whatever training raises
    (nothing half-written is kept: files are written to temporary names and renamed).
    """
    from filelock import FileLock

    from fusionbench.experiments.config_check import resolve_config
    from fusionbench.paths import source_path

    cfg = resolve_config(protocol.pretraining.config, pretraining_protocol(protocol), seed)
    if depth is not None:
        cfg.model.backbone.depth = depth
    # the code the pretraining run can reach (its task's, no method plugin)
    code = run_fingerprint(source_path, cfg.to_dict())
    folder = artifact_dir(protocol, seed, code, depth)
    os.makedirs(folder, exist_ok=True)
    provenance_path = os.path.join(folder, 'provenance.json')
    with FileLock(os.path.join(folder, '.lock')):
        if not os.path.isfile(provenance_path):
            cfg.work_dir = os.path.join(folder, 'work')
            _pretrain(protocol, seed, code, cfg, folder, provenance_path, train, depth)
        with open(provenance_path, encoding='utf-8') as f:
            provenance = json.load(f)
    provenance['dir'] = folder
    return provenance


def _pretrain(protocol: Protocol, seed: int, code: str, cfg, folder: str,
              provenance_path: str, train: Callable, depth: int | None) -> None:
    from fusionbench.analysis.files import atomic_write_text

    spec = protocol.pretraining
    start = time.process_time()
    result = train(cfg, fresh=True)
    checkpoint = os.path.join(folder, 'work', f'iter_{spec.max_iters}.pth')
    state = compat.load_checkpoint(checkpoint)['state_dict']
    backbone_path = os.path.join(folder, 'backbone.pth')
    model_path = os.path.join(folder, 'model.pth')
    for path, content in ((backbone_path, torchvision_backbone_state(state)),
                          (model_path, state)):
        torch.save(content, path + '.tmp')
        os.replace(path + '.tmp', path)
    calibration = calibrate(protocol, seed, state, backbone_path, depth)
    atomic_write_text(os.path.join(folder, 'calibration.json'),
                      json.dumps(calibration, indent=1, sort_keys=True))
    provenance = {
        'protocol': protocol.name, 'seed': seed, 'code_fingerprint': code,
        'key': artifact_key(protocol, code, depth), 'spec': spec.as_dict(), 'depth': depth,
        'metrics': result['metrics'], 'val_curve': result.get('val_curve'),
        'cpu_time_s': round(time.process_time() - start, 1),
        'wall_time_s': result['wall_time_s'],
        'sha256': {'backbone.pth': _sha256(backbone_path), 'model.pth': _sha256(model_path)},
        'median_gradient': calibration['median_gradient']}
    shutil.rmtree(os.path.join(folder, 'work'), ignore_errors=True)
    atomic_write_text(provenance_path, json.dumps(provenance, indent=1, sort_keys=True,
                                                  default=str))


def apply_pretraining(cfg, train: Callable) -> dict[str, Any] | None:
    """Materialise ``cfg.pretraining`` (set by :meth:`Protocol.apply`) in place, before a run.

    Makes or reads the artifact of the config's seed (:func:`ensure_artifact`), points
    ``model.backbone.pretrained`` at its encoder and the decoder's ``init_cfg`` at its decoder,
    sets the fusion's ``l1_weight`` to the
    per-layer λ's when the fusion has one, and gives the γ's of every exchange position the
    derived learning rates (``optim_wrapper.paramwise_cfg.custom_keys``, matched by name in
    every row's encoder: private, shared or per-stream norms). Returns the provenance a record
    keeps (``None`` when the config asks for no pretraining); ``train`` pretrains (see
    :func:`ensure_artifact`). The fine-tuning schedule
    (iterations, halvings, momentum) is read from ``cfg`` itself.
    """
    from fusionbench.experiments.protocols import get_protocol

    marker = cfg.get('pretraining')
    if not marker:
        return None
    marker = dict(marker)
    base = get_protocol(marker.pop('protocol'))
    spec = Pretraining(**{**marker, 'data': SyntheticData(**marker['data'])})
    protocol = dataclasses.replace(base, pretraining=spec)
    seed = int(cfg.randomness['seed'])
    provenance = ensure_artifact(protocol, seed, train, cfg.model.backbone.get('depth'))
    folder = provenance.pop('dir')
    with open(os.path.join(folder, 'calibration.json'), encoding='utf-8') as f:
        calibration = json.load(f)
    iterations = int(cfg.train_cfg['max_iters'])
    halvings = _halvings(cfg, iterations)
    momentum = float(cfg.optim_wrapper.optimizer.get('momentum', 0.0))
    l1_weight, gamma_lr = derive(calibration['median_gradient'], spec.l1_scale, spec.l1_travel,
                                 iterations, halvings, momentum)
    cfg.model.backbone.pretrained = os.path.join(folder, 'backbone.pth')
    head = cfg.model.get('decode_head')
    if head is not None:  # the pretrained decoder where its keys and shapes match
        head['init_cfg'] = dict(type='Pretrained', checkpoint=os.path.join(folder, 'model.pth'),
                                prefix='decode_head.')
    fusion = cfg.model.get('fusion') or {}
    if 'l1_weight' in fusion:
        fusion['l1_weight'] = l1_weight
    base_lr = float(cfg.optim_wrapper.optimizer.lr)
    paramwise = cfg.optim_wrapper.setdefault('paramwise_cfg', {})
    keys = dict(paramwise.get('custom_keys') or {})
    for name, lr in gamma_lr.items():
        for key in (f'{name}.weight', f'{name}.norm.weight'):  # private / shared norm's γ
            keys[key] = dict(lr_mult=lr / base_lr)
    paramwise['custom_keys'] = keys
    record = {}
    if 'l1_weight' in fusion:  # CEN rows: the per-channel task gradients, for crossing order
        record['gradient'] = calibration['gradient']
    return {**record, 'key': provenance['key'], 'seed': seed, 'code_fingerprint':
            provenance['code_fingerprint'], 'sha256': provenance['sha256'],
            'metrics': provenance['metrics'], 'cpu_time_s': provenance['cpu_time_s'],
            'l1_weight': l1_weight, 'gamma_lr': gamma_lr,
            'spec': {**spec.as_dict(), 'protocol': base.name}}


def _halvings(cfg, iterations: int) -> int:
    """How many times the StepLR schedule of ``cfg`` halves the learning rate in the run."""
    halvings = 0
    for scheduler in cfg.get('param_scheduler') or []:
        if scheduler.get('type') == 'StepLR' and scheduler.get('gamma') == 0.5:
            halvings += (iterations - 1) // int(scheduler['step_size'])
    return halvings
