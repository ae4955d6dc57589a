"""``fusionbench bench``: the training step's speed against a per-modality loop and a ceiling.

Three training steps (forward, loss, backward, SGD step) on the same weights and inputs, timed
interleaved in one process (A B C A B C …, the median of the repeats):

- **(a) stacked** -- fusionbench's :class:`~fusionbench.models.segmentor.MultiModalSegmentor`:
  the modalities stacked in one ``[M*N, C, H, W]`` batch, every shared layer called once;
- **(b) per-modality** -- :class:`PerModalityCEN`, the same network written the way the
  authors' public code is (one tensor per modality in a Python list, every shared layer called
  once per modality, private BNs as a list of ``BatchNorm2d``, channel exchange by boolean-mask
  indexing), built from (a)'s weights; :func:`check_reference` verifies that its outputs and
  gradients equal (a)'s before anything is timed;
- **(c) ceiling** -- the same network on ONE modality at batch ``M·N``: the same images, the
  same convolution work, nothing multimodal. (a)/(c) per image says what stacking costs.

Throughput is reported per multimodal sample (``samples/s``) and per image (``images/s`` =
``M·samples/s`` for (a) and (b), ``samples/s`` for (c)), so (a)/(c) compares equal work.

``--table NAME`` times the step of every cell of a table (its own model, modalities and
batch) relative to the table's CEN cell and sums the table's training cost:
``Σ_cells seeds · iterations · step`` (evaluation and data loading not included).

Rows are appended to ``results/bench/speed.csv`` and ``results/bench/table.csv`` with the
device, torch version, thread count, clock, date, load and command line.
"""
from __future__ import annotations

import argparse
import copy
import csv
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fusionbench.errors import ConfigError, non_negative_int, positive_float, positive_int
from fusionbench.experiments.tables import T2_BASE, T2_SAME, T2_UNIMODAL

CEN_CONFIG = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
#: The ceiling (c): Table 2's uni-modal RGB row -- its base config and its cell override.
UNIMODAL_CONFIG = T2_BASE.format(T2_SAME)
UNIMODAL_OVERRIDES = T2_UNIMODAL['rgb']
VARIANTS = ('a', 'b', 'c')
VARIANT_NAMES = {'a': 'stacked (fusionbench)', 'b': 'per-modality lists (public-code style)',
                 'c': 'ceiling: 1 modality, batch M·N'}


# --------------------------------------------------------------------------------------------
# (b): the same network in the public code's style
# --------------------------------------------------------------------------------------------
class ParallelNorm(nn.Module):
    """The public code's ``BatchNorm2dParallel``: one ``BatchNorm2d`` per modality, on a list.

    Built from a :class:`~fusionbench.modal.ModalityNorm` (its ``[M, C]`` γ, β and statistics
    are copied row by row). ``[[N, C, H, W]] * M`` -> the same.
    """

    def __init__(self, norm: nn.Module):
        super().__init__()
        self.bns = nn.ModuleList()
        for m in range(norm.num_modalities):
            bn = nn.BatchNorm2d(norm.num_features, eps=norm.eps, momentum=norm.momentum)
            with torch.no_grad():
                bn.weight.copy_(norm.weight[m])
                bn.bias.copy_(norm.bias[m])
                bn.running_mean.copy_(norm.running_mean[m])
                bn.running_var.copy_(norm.running_var[m])
            self.bns.append(bn.to(device=norm.weight.device, dtype=norm.weight.dtype))

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        return [bn(x) for bn, x in zip(self.bns, xs)]


def exchange_lists(xs: list[Tensor], bns: nn.ModuleList, fusion) -> list[Tensor]:
    """The public code's ``Exchange``, for ``M`` modalities and CEN's exchange modes.

    Modality ``m`` keeps the channels with ``|γ_m| >= θ`` (or outside its exchangeable set) and
    takes the others from the other modality (``M = 2``; the mean of the others for ``M > 2``),
    by boolean-mask indexing as the public code does (``x1[:, bn1 < θ] = x[1][:, bn1 < θ]``).
    """
    out = []
    count = len(xs)
    for m, x in enumerate(xs):
        replace = fusion.exchangeable[m] & (bns[m].weight.detach().abs() < fusion.threshold)
        keep = ~replace
        others = xs[1 - m] if count == 2 else sum(xs[k] for k in range(count) if k != m) / (
            count - 1)
        y = torch.zeros_like(x)
        y[:, keep] = x[:, keep]
        y[:, replace] = others[:, replace]
        out.append(y)
    return out


class PerModalityCEN(nn.Module):
    """CEN's segmentor as the public code writes it: lists of per-modality tensors.

    Built from a :class:`~fusionbench.models.segmentor.MultiModalSegmentor` with a
    :class:`~fusionbench.models.resnet.MultiModalResNet` backbone (CEN or no fusion, private BN
    norms): a deep copy whose ``ModalityNorm``'s become :class:`ParallelNorm`'s. Every
    convolution, the decoder and the heads run once per modality; the ℓ1 term is summed over
    the penalised γ's picked by boolean masks (the public code's ``slim_params``).

    ``loss(inputs, data_samples)``: ``inputs`` a list of ``M`` tensors ``[N, C, H, W]``; the
    same loss terms as the segmentor. Raises ``ValueError`` for any other kind of model.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        from fusionbench.fusion.cen import ChannelExchange
        from fusionbench.modal import ModalityNorm
        from fusionbench.models.resnet import MultiModalResNet

        backbone = model.backbone
        if not isinstance(backbone, MultiModalResNet) or backbone.first_stage != 1:
            raise ValueError(f'the per-modality reference is written for MultiModalResNet, got '
                             f'{type(backbone).__name__}')
        if len(backbone.stage_fusions) or any(
                not isinstance(f, ChannelExchange) for f in backbone.fusion_modules()):
            raise ValueError('the per-modality reference is written for CEN (or no fusion)')
        self.net = copy.deepcopy(model)
        for name, module in list(self.net.named_modules()):
            if isinstance(module, ModalityNorm):
                if module.kind != 'bn':
                    raise ValueError(f'the per-modality reference needs BN norms, got '
                                     f'{module.kind!r} at {name}')
                parent, _, leaf = name.rpartition('.')
                setattr(self.net.get_submodule(parent) if parent else self.net, leaf,
                        ParallelNorm(module))
            elif 'norm' in type(module).__name__.lower() and not isinstance(
                    module, (ParallelNorm, nn.BatchNorm2d)):
                raise ValueError(f'the per-modality reference needs private norms, got '
                                 f'{type(module).__name__} at {name}')

    # -- encoder --------------------------------------------------------------------------
    def _block(self, block: nn.Module, xs: list[Tensor], losses: dict) -> list[Tensor]:
        from fusionbench.models.resnet import BasicBlock

        if block.downsample is None:
            identity = xs
        else:
            conv, norm = block.downsample
            identity = norm([conv(x) for x in xs])
        if isinstance(block, BasicBlock):
            out = self._fused(block, 'bn1', block.bn1([block.conv1(x) for x in xs]), losses)
            out = self._fused(block, 'bn2', block.bn2([block.conv2(block.relu(o)) for o in out]),
                              losses)
        else:
            out = [block.relu(o) for o in block.bn1([block.conv1(x) for x in xs])]
            out = self._fused(block, 'bn2', block.bn2([block.conv2(o) for o in out]), losses)
            out = block.bn3([block.conv3(block.relu(o)) for o in out])
        return [block.relu(o + i) for o, i in zip(out, identity)]

    @staticmethod
    def _fused(block: nn.Module, norm_name: str, xs: list[Tensor], losses: dict) -> list[Tensor]:
        fusion = block.fusions[norm_name] if norm_name in block.fusions else None
        if fusion is None:
            return xs
        bns = getattr(block, norm_name).bns
        if fusion.l1 != 'none':
            l1 = sum(bn.weight[mask].abs().sum() for bn, mask in zip(bns, fusion.penalised))
            losses['loss_l1'] = losses['loss_l1'] + fusion.l1_weight * l1 if 'loss_l1' in \
                losses else fusion.l1_weight * l1
        if fusion.exchange == 'none':
            return xs
        return exchange_lists(xs, bns, fusion)

    def head_logits(self, xs: list[Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``[[N, C, H, W]] * M`` -> (``{head: [N, K, h, w]}``, fusion loss terms)."""
        from fusionbench.models.layout import cpu_channels_last
        from fusionbench.models.segmentor import ENSEMBLE

        net, bb = self.net, self.net.backbone
        losses: dict[str, Tensor] = {}
        xs = [cpu_channels_last(x) for x in xs]  # the layout (a)'s encoder takes on CPU
        xs = bb.bn1([bb.conv1(x) for x in xs])
        xs = [bb.maxpool(bb.relu(x)) for x in xs]
        levels = []
        for stage in bb.stages:
            for block in stage:
                xs = self._block(block, xs, losses)
            levels.append(xs)
        per_modality = [net.decode_head([level[m] for level in levels]) for m in range(len(xs))]
        out = dict(zip(net.modalities, per_modality))
        if net.use_ensemble:
            weights = torch.softmax(net.alpha, dim=0)
            ensemble = 0
            for m, logits in enumerate(per_modality):
                ensemble = ensemble + weights[m] * logits.detach()
            out[ENSEMBLE] = ensemble
        return out, losses

    def loss(self, xs: list[Tensor], data_samples: list) -> dict[str, Tensor]:
        """The segmentor's loss terms (CE per head, fusion terms) from per-modality inputs.

        The heads upsample with the segmentor's kernel (the public code uses
        ``F.interpolate``): the comparison is about lists against stacking, not head kernels.
        """
        from fusionbench.models.resize import bilinear_resize

        logits, losses = self.head_logits(xs)
        labels = torch.stack([s.gt_sem_seg.data.squeeze(0) for s in data_samples]).to(
            xs[0].device, torch.long)
        for head, value in logits.items():
            up = bilinear_resize(value, labels.shape[-2:])  # as (a): the same head kernels
            losses[f'loss_ce_{head}'] = F.cross_entropy(up, labels,
                                                        ignore_index=self.net.ignore_index)
        return losses

    def stacked_grads(self) -> dict[str, Tensor | None]:
        """Gradients named and shaped as the segmentor's parameters (``[M, C]`` norms)."""
        grads: dict[str, Tensor | None] = {}
        for name, module in self.net.named_modules():
            if isinstance(module, ParallelNorm):
                for attr in ('weight', 'bias'):
                    parts = [getattr(bn, attr).grad for bn in module.bns]
                    grads[f'{name}.{attr}'] = (None if any(p is None for p in parts)
                                               else torch.stack(parts))
        for name, param in self.net.named_parameters():
            if '.bns.' not in name:
                grads[name] = param.grad
        return grads


def _no_dropout(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def check_reference(model: nn.Module, inputs: Tensor, samples: list,
                    rtol: float = 1e-8) -> dict[str, float]:
    """(a) == (b): the largest relative difference of the outputs, losses and gradients.

    Both run one training-mode forward and backward on float64 copies of ``model`` (dropout
    off: the two draw different masks) on ``model``'s device. Float64, our choice: the check
    is about the code, and in float32 the two summation orders differ by up to 1e-2 relative on
    a randomly initialised ResNet-101 (batch-1 norms over 3×3 maps; the ensemble weights'
    gradient is a near-cancelling sum of about 1e-6), where float64 agrees to 1e-14. Relative to
    each tensor's largest magnitude. Raises ``AssertionError`` naming the tensor when a
    difference exceeds ``rtol``.
    """
    from fusionbench.modal import split_modalities

    stacked = copy.deepcopy(model).double().train()
    _no_dropout(stacked)
    reference = PerModalityCEN(stacked).train()
    inputs = inputs.double()
    xs = list(split_modalities(inputs, len(stacked.modalities)).unbind(0))
    with torch.no_grad():  # one autograd graph alive at a time: float64 at 500² is large
        out_a, _ = stacked.head_logits(inputs)
        out_b, _ = reference.head_logits([x.clone() for x in xs])
    diffs = {}

    def compare(name: str, a: Tensor, b: Tensor) -> None:
        scale = float(a.detach().abs().max()) or 1.0
        diffs[name] = float((a.detach() - b.detach()).abs().max()) / scale
        if diffs[name] > rtol:
            raise AssertionError(f'per-modality reference differs from the stacked model at '
                                 f'{name}: {diffs[name]:.2e} relative > {rtol}')

    for head in out_a:
        compare(f'logits/{head}', out_a[head], out_b[head])
    stacked.zero_grad(set_to_none=True)
    reference.zero_grad(set_to_none=True)
    losses_a = stacked.loss(inputs, samples)
    sum(losses_a.values()).backward()
    losses_b = reference.loss(xs, samples)
    sum(losses_b.values()).backward()
    for key in losses_a:
        compare(f'loss/{key}', losses_a[key], losses_b[key])
    grads_b = reference.stacked_grads()
    for name, param in stacked.named_parameters():
        if param.grad is None and grads_b.get(name) is None:
            continue
        compare(f'grad/{name}', param.grad, grads_b[name])
    return diffs


# --------------------------------------------------------------------------------------------
# building and timing
# --------------------------------------------------------------------------------------------
@dataclass
class Variant:
    """One timed training step: a name, the step itself, images per step."""

    name: str
    step: Callable[[], Tensor]
    images: int
    samples: int
    times: list[float]
    peak_bytes: int = 0
    warmup_s: float = 0.0


def synthetic_batch(modalities: int, batch: int, crop: int, classes: int, device: str,
                    seed: int = 0) -> tuple[Tensor, list]:
    """``[M*N, 3, crop, crop]`` normal inputs and ``N`` samples with random labels (5 % 255)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(modalities * batch, 3, crop, crop, generator=gen)
    samples = []
    for _ in range(batch):
        label = torch.randint(0, classes, (1, crop, crop), generator=gen)
        label[torch.rand(label.shape, generator=gen) < 0.05] = 255
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label.to(device))
        samples.append(sample)
    return inputs.to(device), samples


def without_pretrained_weights(cfg) -> None:
    """Drop ``model.backbone.pretrained`` (ImageNet weights) from ``cfg`` in place.

    Our choice: a step's time does not depend on the weights' values, so ``bench`` times
    randomly initialised models and needs no weight files (``--protocol paper`` would otherwise
    ask for ``checkpoints/resnet101-*.pth``).
    """
    backbone = cfg.get('model', {}).get('backbone')
    if backbone is not None and backbone.get('pretrained'):
        backbone.pretrained = None


def resolved_model(config: str, protocol: str, overrides: dict, seed: int = 0,
                   cell: dict | None = None):
    """``(cfg, model)``: ``config`` with a table cell's overrides ``cell`` under ``protocol``,
    then ``overrides`` (dotted keys under the config root, e.g. ``{'model.backbone.depth':
    50}``), weights initialised at random (:func:`without_pretrained_weights`)."""
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.run import build_model, resolve_config

    cfg = resolve_config(config, get_protocol(protocol), seed, cell)
    if overrides:  # after the protocol: the shape asked for wins over the protocol's scale
        cfg.merge_from_dict(overrides)
    without_pretrained_weights(cfg)
    torch.manual_seed(seed)
    model = build_model(cfg)
    model.init_weights()
    return cfg, model.train()


def _autocast(amp: str | None, device: str) -> Callable:
    """A factory of the step's precision context: bf16 autocast on ``device``'s type when
    ``amp == 'bf16'``, else a no-op."""
    if amp == 'bf16':
        return lambda: torch.autocast(device_type=device.split(':')[0], dtype=torch.bfloat16)
    return nullcontext


def make_step(loss_fn: Callable[[], dict], params, amp: str | None,
              device: str) -> Callable[[], Tensor]:
    """forward + loss (under bf16 autocast when ``amp``), backward, SGD(momentum 0.9) step."""
    params = list(params)
    optimizer = torch.optim.SGD(params, lr=1e-4, momentum=0.9, weight_decay=1e-5)
    autocast = _autocast(amp, device)

    def step() -> Tensor:
        with autocast():
            total = sum(loss_fn().values())
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        return total.detach()

    def resident_bytes() -> int:
        """Bytes this step keeps between steps: weights and optimiser state."""
        tensors = list(params) + [t for state in optimizer.state.values()
                                  for t in state.values() if isinstance(t, Tensor)]
        return sum(t.numel() * t.element_size() for t in tensors)
    step.resident_bytes = resident_bytes
    return step


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _clock(kind: str) -> Callable[[], float]:
    return time.process_time if kind == 'cpu' else time.perf_counter


def time_interleaved(variants: Sequence[Variant], repeats: int, steps: int, warmup: int,
                     device: str, clock: str = 'wall', announce: bool = False) -> None:
    """Fill each variant's ``times`` (s/step): ``warmup`` steps each, then ``repeats`` rounds
    of ``steps`` steps of every variant in turn (A B C A B C …). ``warmup_s``: the wall seconds
    of a variant's warm-up steps (compiling included under ``torch.compile``), printed at once
    when ``announce``.

    CUDA peak of a variant: the most memory allocated during its steps, less what the OTHER
    variants keep resident meanwhile (their weights and optimiser state), so each peak is what
    that step alone would need.
    """
    tick = _clock(clock)
    for variant in variants:
        # wall time: under --compile the first call compiles (minutes at the paper's shape),
        # a cost the per-step medians leave out; printed as soon as known, so a run stopped
        # later still shows how far compiling got
        _sync(device)
        start = time.perf_counter()
        for _ in range(warmup):
            variant.step()
        _sync(device)
        variant.warmup_s = time.perf_counter() - start
        if announce and warmup:
            print(f'({variant.name}) warm-up: {warmup} step(s) in {variant.warmup_s:.1f} s wall',
                  flush=True)
    for _ in range(repeats):
        for variant in variants:
            if device.startswith('cuda'):
                torch.cuda.reset_peak_memory_stats()
                others = sum(v.step.resident_bytes() for v in variants if v is not variant
                             and hasattr(v.step, 'resident_bytes'))
            _sync(device)
            start = tick()
            for _ in range(steps):
                variant.step()
            _sync(device)
            variant.times.append((tick() - start) / steps)
            if device.startswith('cuda'):
                variant.peak_bytes = max(variant.peak_bytes,
                                         torch.cuda.max_memory_allocated() - others)


def _to_layout(model: nn.Module, channels_last: bool) -> nn.Module:
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _layout(x: Tensor, channels_last: bool) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def model_overrides(args: argparse.Namespace) -> dict:
    """Dotted config overrides for the chosen backbone/decoder scale."""
    overrides = {}
    if args.depth is not None:
        overrides['model.backbone.depth'] = args.depth
    if args.width is not None:
        overrides['model.backbone.width'] = args.width
    if args.decoder_width is not None:
        overrides['model.decode_head.width'] = args.decoder_width
    return overrides


def _batch_and_crop(args: argparse.Namespace) -> tuple[int, int]:
    from fusionbench.experiments.protocols import get_protocol

    protocol = get_protocol(args.protocol)
    batch = args.batch or protocol.batch_size or 6
    crop = args.crop or (protocol.data.size if protocol.data is not None else 500)
    return batch, crop


def build_variants(args: argparse.Namespace) -> tuple[list[Variant], dict]:
    """The three steps (a), (b), (c) of the chosen shape, and what was built (for the rows)."""
    from fusionbench.modal import split_modalities

    device, amp, cl = args.device, args.amp, args.channels_last
    batch, crop = _batch_and_crop(args)
    overrides = model_overrides(args)
    cfg, model = resolved_model(CEN_CONFIG, args.protocol, overrides)
    m = len(cfg.model.modalities)
    classes = cfg.model.num_classes
    inputs, samples = synthetic_batch(m, batch, crop, classes, device)
    model = model.to(device)
    diffs = check_reference(model, inputs, samples) if not args.no_check else {}
    model = _to_layout(model, cl)
    inputs = _layout(inputs, cl)

    def compiled(fn):
        return torch.compile(fn) if args.compile else fn
    loss_a = compiled(model.loss)
    variants = [Variant('a', make_step(lambda: loss_a(inputs, samples), model.parameters(), amp,
                                       device), m * batch, batch, [])]
    if 'b' in args.variants:
        reference = _to_layout(PerModalityCEN(model).to(device), cl)
        xs = [_layout(x, cl) for x in split_modalities(inputs, m).unbind(0)]
        loss_b = compiled(reference.loss)
        variants.append(Variant('b', make_step(lambda: loss_b(xs, samples),
                                               reference.parameters(), amp, device),
                                m * batch, batch, []))
    if 'c' in args.variants:
        _, unimodal = resolved_model(UNIMODAL_CONFIG, args.protocol, overrides,
                                     cell=UNIMODAL_OVERRIDES)
        unimodal = _to_layout(unimodal.to(device), cl)
        uni_inputs, uni_samples = synthetic_batch(1, m * batch, crop, classes, device, seed=1)
        uni_inputs = _layout(uni_inputs, cl)
        loss_c = compiled(unimodal.loss)
        variants.append(Variant('c', make_step(lambda: loss_c(uni_inputs, uni_samples),
                                               unimodal.parameters(), amp, device),
                                m * batch, m * batch, []))
    backbone = cfg.model.backbone
    shape = {'backbone': f"R{backbone.depth}x{backbone.width:g}",
             'decoder_width': cfg.model.decode_head.width, 'modalities': m, 'batch': batch,
             'crop': crop, 'max_check_diff': max(diffs.values()) if diffs else ''}
    return variants, shape


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------
def environment(args: argparse.Namespace) -> dict:
    """The columns every row carries: device, versions, threads, clock, date, load, command."""
    device = args.device
    name = (torch.cuda.get_device_name(torch.device(device)) if device.startswith('cuda')
            else f'cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)')
    try:
        load = ' '.join(f'{v:.2f}' for v in os.getloadavg())
    except OSError:
        load = ''
    return {'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'device': name, 'torch': torch.__version__, 'threads': torch.get_num_threads(),
            'clock': args.clock, 'load': load, 'protocol': args.protocol,
            'amp': args.amp or 'fp32', 'channels_last': bool(args.channels_last),
            'compile': bool(args.compile),
            'command': 'python -m fusionbench ' + ' '.join(args.argv)}


def append_rows(path: str, rows: list[dict]) -> None:
    """Append ``rows`` to the CSV at ``path`` (header written when the file is new). When the
    file's columns differ from the rows' (a file written by an older version), the file is
    rewritten once with the union of the columns, old columns first, cells missing in a row left
    empty (written to a temporary file and moved over, so nothing is lost on failure)."""
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    fields = list(rows[0])
    if os.path.isfile(path):
        with open(path, newline='') as f:
            reader = csv.DictReader(f)
            old_fields = list(reader.fieldnames or [])
            old_rows = list(reader) if old_fields != fields else None
        if old_rows is not None:
            merged = old_fields + [k for k in fields if k not in old_fields]
            tmp = f'{path}.tmp{os.getpid()}'
            with open(tmp, 'w', newline='') as f:
                writer = csv.DictWriter(f, fieldnames=merged, restval='')
                writer.writeheader()
                writer.writerows(old_rows + rows)
            os.replace(tmp, path)
            return
    new = not os.path.isfile(path)
    with open(path, 'a', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerows(rows)


def bench_dir() -> str:
    from fusionbench.paths import results_root
    return os.path.join(results_root(), 'bench')


def _rounded(ratio, digits: int = 4):
    """``ratio`` rounded, or '' for a ratio whose variant was not timed."""
    return round(ratio, digits) if ratio != '' else ''


def run_speed(args: argparse.Namespace) -> list[dict]:
    """Time (a), (b), (c) for the chosen shape; print the table; return the rows written."""
    variants, shape = build_variants(args)
    time_interleaved(variants, args.repeats, args.steps, args.warmup, args.device, args.clock,
                     announce=True)
    env = environment(args)
    median = {v.name: statistics.median(v.times) for v in variants}
    # '' where a variant was left out (--variants)
    ratio_ab = median['b'] / median['a'] if 'b' in median else ''   # same samples per step
    ratio_ac = median['c'] / median['a'] if 'c' in median else ''   # same images per step
    rows = []
    print(f"bench: {shape['backbone']} + RefineNet ×{shape['decoder_width']:g}, M={shape['modalities']}, "
          f"batch {shape['batch']}, {shape['crop']}×{shape['crop']}, {env['amp']}, "
          f"channels_last={env['channels_last']}, compile={env['compile']}, on {env['device']}, "
          f"{env['threads']} thread(s), {args.clock} clock, load {env['load']}")
    if shape['max_check_diff'] != '':
        print(f"(a) == (b): outputs, losses and gradients within {shape['max_check_diff']:.1e} "
              'relative')
    print(f"{'variant':42s} {'ms/step':>9s} {'samples/s':>10s} {'images/s':>9s} {'peak MiB':>9s}")
    for v in variants:
        ms = median[v.name] * 1e3
        peak = f'{v.peak_bytes / 2 ** 20:.0f}' if v.peak_bytes else ''
        row = {**env, **shape, 'variant': v.name, 'variant_name': VARIANT_NAMES[v.name],
               'ms_per_step': round(ms, 3), 'samples_per_s': round(v.samples / median[v.name], 2),
               'images_per_s': round(v.images / median[v.name], 2), 'peak_mib': peak,
               'ratio_a_b': _rounded(ratio_ab), 'ratio_a_c_per_image': _rounded(ratio_ac),
               'repeats': args.repeats, 'steps': args.steps, 'warmup': args.warmup,
               'warmup_s': round(v.warmup_s, 3),
               'spread_ms': round((max(v.times) - min(v.times)) * 1e3, 3)}
        rows.append(row)
        print(f"({v.name}) {VARIANT_NAMES[v.name]:38s} {ms:9.1f} {row['samples_per_s']:10.2f} "
              f"{row['images_per_s']:9.2f} {peak:>9s}")
    print(f"(a)/(b) throughput: {'-' if ratio_ab == '' else f'{ratio_ab:.3f}'}   "
          f"(a)/(c) per image: {'-' if ratio_ac == '' else f'{ratio_ac:.3f}'}")
    path = os.path.join(bench_dir(), 'speed.csv')
    append_rows(path, rows)
    print(f'appended {len(rows)} row(s) to {os.path.relpath(path)}')
    return rows


def _segmentation_step(model: nn.Module, cfg, batch: int, crop: int,
                       args: argparse.Namespace) -> tuple[Callable[[], Tensor], int]:
    """A segmentation cell's training step on a synthetic batch, and its images per sample."""
    m = len(cfg.model.modalities)
    inputs, samples = synthetic_batch(m, batch, crop, cfg.model.num_classes, args.device)
    inputs = _layout(inputs, args.channels_last)
    loss = torch.compile(model.loss) if args.compile else model.loss
    return make_step(lambda: loss(inputs, samples), model.parameters(), args.amp,
                     args.device), m


def _translation_step(model: nn.Module, cfg, batch: int, crop: int,
                      args: argparse.Namespace) -> tuple[Callable[[], Tensor], int]:
    """A translation cell's whole pix2pix step (one discriminator and one generator update,
    the model's ``train_step`` with the config's optimisers) on inputs and target uniform in
    ``[-1, 1]``, and its input images per sample. Raises ``ConfigError`` for ``--compile``."""
    from mmengine.model import BaseDataPreprocessor

    from fusionbench.tasks.translation.model import PerNetworkOptimWrapperConstructor

    if args.compile:
        raise ConfigError('bench --compile: segmentation tables only (a translation step '
                          'updates two networks through their optimiser wrappers); drop '
                          '--compile')
    m = model.num_modalities
    gen = torch.Generator().manual_seed(0)
    inputs = torch.rand(m * batch, model.generator.in_channels, crop, crop, generator=gen)
    target = torch.rand(batch, 3, crop, crop, generator=gen)
    data = {'inputs': _layout(inputs.mul(2).sub(1).to(args.device), args.channels_last),
            'target': _layout(target.mul(2).sub(1).to(args.device), args.channels_last)}
    # the batch is already the preprocessor's output: pass it through as is
    model.data_preprocessor = BaseDataPreprocessor().to(args.device)
    wrappers = PerNetworkOptimWrapperConstructor(cfg.optim_wrapper)(model)
    autocast = _autocast(args.amp, args.device)

    def step() -> Tensor:
        with autocast():
            return model.train_step(data, wrappers)['loss']
    return step, m


#: ``bench --table``: a cell's synthetic training step, by the table's task (data, not an if).
TABLE_STEPS = {'segmentation': _segmentation_step, 'translation': _translation_step}
#: a real-data cell's image size by task where the protocol's segmentation crop does not apply
#: (pix2pix's U-Net-256 takes 256×256; synthetic cells use their scenes' size).
TABLE_CROPS = {'translation': 256}
#: the cell every other cell's step is compared with, by task: CEN in Table 1 / Table 4.
REFERENCE_CONFIGS = {'segmentation': CEN_CONFIG,
                     'translation': 'table4/cen_pix2pix-unet256_200e_taskonomy-shade-texture.py'}


def _cell_crop(cfg, args: argparse.Namespace, default: int) -> int:
    """``--crop``, else the cell's synthetic scenes' size, else ``default``."""
    if args.crop:
        return args.crop
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    return int(dataset.get('height') or default)


def run_table(args: argparse.Namespace) -> list[dict]:
    """Per-cell step cost of a table relative to its task's CEN cell (timed beside each cell),
    and the table's total training cost (Σ cells · seeds · iterations · relative step · the
    CEN step; 0 for epoch-based cells, whose iteration count depends on the dataset). Raises
    ``ConfigError`` for a table of a task without a synthetic step."""
    from mmengine.config import Config

    from fusionbench.experiments.grid import plan
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.run import build_model, resolve_config
    from fusionbench.experiments.tables import get_table

    from fusionbench.registry import UnknownNameError

    protocol = get_protocol(args.protocol)
    try:
        spec = get_table(args.table)
    except UnknownNameError as err:
        raise ConfigError(f'bench --table: {err}') from None
    if spec.task not in TABLE_STEPS:
        raise ConfigError(f'bench --table {args.table}: no synthetic step for {spec.task!r} '
                          f'tables; tables of {sorted(TABLE_STEPS)} can be timed')
    build_step = TABLE_STEPS[spec.task]
    seeds = args.seeds or protocol.seeds
    jobs = plan(spec, protocol, 1)
    batch, crop = _batch_and_crop(args)
    crop = TABLE_CROPS.get(spec.task, crop)
    cells: list[tuple[str, Config]] = [('cen (reference)', resolve_config(
        REFERENCE_CONFIGS[spec.task], protocol, 0))] + [
        (f'{j.row}/{j.cell}', Config(j.resolved)) for j in jobs]

    def build(cfg) -> tuple[Variant, int]:
        without_pretrained_weights(cfg)
        torch.manual_seed(0)
        model = _to_layout(build_model(cfg).to(args.device), args.channels_last)
        model.init_weights()
        model.train()
        cell_batch = cfg.train_dataloader.get('batch_size', batch) if args.batch is None \
            else batch
        step, m = build_step(model, cfg, cell_batch, _cell_crop(cfg, args, crop), args)
        train_cfg = cfg.get('train_cfg') or {}
        return (Variant('', step, m * cell_batch, cell_batch, []),
                train_cfg.get('max_iters') or protocol.max_iters or 0)

    # Each cell is timed interleaved with the reference (C R C R …), one cell model alive at a
    # time: all of a table's models at once (with their optimiser states) outgrow the memory at
    # the paper's shapes (35 U-Net-256 cells took 22 GB), and the ratio to the reference
    # measured beside it is what noise on a shared machine leaves intact.
    reference, ref_iters = build(cells[0][1])
    measured = []   # (name, cell median s, reference median s beside it, iterations)
    for name, cfg in cells[1:]:
        variant, n_iter = build(cfg)
        reference.times = []
        time_interleaved([reference, variant], args.repeats, args.steps, args.warmup,
                         args.device, args.clock)
        measured.append((name, statistics.median(variant.times),
                         statistics.median(reference.times), n_iter))
        del variant
        if args.device.startswith('cuda'):
            torch.cuda.empty_cache()
    env = environment(args)
    ref_s = statistics.median(r for _, _, r, _ in measured)
    rows, total = [], 0.0
    print(f'{args.table} [{args.protocol}] step cost per cell (× the CEN step timed beside '
          f"it), {env['device']}, {env['threads']} thread(s), {args.clock} clock, "
          f"load {env['load']}")
    width = max(len(name) for name, *_ in cells)
    for name, cell_s, beside_s, n_iter in [(cells[0][0], ref_s, ref_s, ref_iters), *measured]:
        relative = cell_s / beside_s
        # the cell's step as the ratio to the CEN step beside it, times the median CEN step:
        # robust to load drifting between cells (the cell's own ms is printed beside it)
        cost = 0.0 if name == cells[0][0] else relative * ref_s * n_iter * seeds
        total += cost
        rows.append({**env, 'table': args.table, 'cell': name, 'batch': args.batch or '',
                     'crop': args.crop or '', 'ms_per_step': round(cell_s * 1e3, 3),
                     'cen_ms_beside': round(beside_s * 1e3, 3),
                     'relative_to_cen': round(relative, 3), 'iterations': n_iter,
                     'seeds': seeds, 'cell_cost_s': round(cost, 3),
                     'repeats': args.repeats, 'steps': args.steps})
        print(f'  {name:{width}s} {cell_s * 1e3:8.1f} ms  ×{relative:5.2f}  '
              f'(CEN beside it {beside_s * 1e3:.1f} ms)')
    for row in rows:
        row['table_total_s'] = round(total, 3)
    epoch_based = sum(1 for *_, n_iter in measured if not n_iter)
    if epoch_based == len(measured):
        print(f'{args.table}: no total training cost: every cell trains by epochs (its '
              'iterations depend on the dataset); the per-step costs above still hold')
    else:
        print(f'{args.table} total training cost: {total:.0f} s ({total / 60:.1f} min) for '
              f'{len(jobs) - epoch_based} cells × {seeds} seed(s) × their iterations × '
              '(× the CEN step beside it) × the median CEN step (step cost only: no '
              'evaluation, no data loading)')
        if epoch_based:
            print(f'  {epoch_based} cell(s) train by epochs: left out of the total (their '
                  'iterations depend on the dataset); the per-step costs above still hold')
    path = os.path.join(bench_dir(), 'table.csv')
    append_rows(path, rows)
    print(f'appended {len(rows)} row(s) to {os.path.relpath(path)}')
    return rows


def _device(text: str) -> str:
    """``--device``: ``cpu``, ``cuda`` or ``cuda:<index>`` (torch's own error is a traceback)."""
    kind, _, index = text.partition(':')
    if kind not in ('cpu', 'cuda') or (index and (kind == 'cpu' or not index.isdigit())):
        raise argparse.ArgumentTypeError(f'needs cpu, cuda or cuda:<index>, got {text!r}')
    return text


#: ResNet depths the backbone builds (``--depth``).
DEPTHS = (18, 34, 50, 101, 152)
#: Options that shape (a), (b), (c) and that ``--table`` (each cell's own config) does not take.
SPEED_ONLY = {'depth': '--depth', 'width': '--width', 'decoder_width': '--decoder-width',
              'no_check': '--no-check'}


def _variants(text: str) -> str:
    """``--variants``: letters from 'abc' that include 'a' (the step every ratio is taken to)."""
    if not text or set(text) - set('abc') or 'a' not in text:
        raise argparse.ArgumentTypeError(f'{text!r}: letters from "abc" including "a", e.g. "ac"')
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``bench`` subcommand's options."""
    p.add_argument('--protocol', default='mini', help='the shape comes from this protocol '
                   '(mini: ResNet-18 ×1/4, RefineNet ×1/16, batch 16, 64×64; paper: R101, '
                   'full width, batch 6, 500×500)')
    p.add_argument('--depth', type=int, choices=DEPTHS, default=None,
                   help='ResNet depth override (not with --table)')
    p.add_argument('--width', type=positive_float('--width'), default=None,
                   help='encoder width override (not with --table)')
    p.add_argument('--decoder-width', type=positive_float('--decoder-width'), default=None,
                   help='decoder width override (not with --table)')
    p.add_argument('--batch', type=positive_int('--batch'), default=None, help='multimodal samples per step')
    p.add_argument('--crop', type=positive_int('--crop'), default=None, help='square crop size')
    p.add_argument('--amp', choices=['bf16'], default=None, help='bf16 autocast')
    p.add_argument('--channels-last', action='store_true', help='channels-last weights/inputs')
    p.add_argument('--compile', action='store_true', help='torch.compile the loss')
    p.add_argument('--device', type=_device, default=None,
                   help='cpu | cuda[:i] (default: cuda if present)')
    p.add_argument('--threads', type=positive_int('--threads'), default=None, help='torch threads (default: 1 on CPU)')
    p.add_argument('--repeats', type=positive_int('--repeats'), default=5, help='interleaved rounds (median taken)')
    p.add_argument('--steps', type=positive_int('--steps'), default=2, help='steps per variant per round')
    p.add_argument('--warmup', type=non_negative_int('--warmup'), default=2,
                   help='untimed steps per variant first (default 2); their wall time is printed '
                   'and recorded as warmup_s: the compile time under --compile')
    p.add_argument('--clock', choices=['wall', 'cpu'], default='wall',
                   help='wall time, or process CPU time (robust on a shared CPU machine)')
    p.add_argument('--table', default=None, help='per-cell cost of this table instead')
    p.add_argument('--seeds', type=positive_int('--seeds'), default=None,
                   help="seeds per cell in --table's total (default: the protocol's)")
    p.add_argument('--no-check', action='store_true',
                   help='skip the (a) == (b) check (not with --table)')
    p.add_argument('--variants', type=_variants, default='abc',
                   help='which of (a), (b), (c) to time, e.g. "ac" (default: abc; (a) always; '
                   'not with --table); (b) recompiles at every data-dependent mask under '
                   '--compile; the (a) == (b) check still runs unless --no-check')


def main(args: argparse.Namespace) -> int:
    """Entry point of ``fusionbench bench`` (``args.argv``: the command line, for the rows)."""
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        print(f'fusionbench bench: --device {args.device}: no CUDA device is visible; use '
              '--device cpu (or leave --device out)', file=sys.stderr)
        return 2
    if args.table:
        given = [flag for key, flag in SPEED_ONLY.items() if getattr(args, key, None)]
        given += ['--variants'] if getattr(args, 'variants', 'abc') != 'abc' else []
        if given:
            print(f"fusionbench bench: {', '.join(given)} shape(s) the (a)/(b)/(c) comparison, "
                  'not --table (each cell times its own config; --batch, --crop, --amp, '
                  '--channels-last, --compile do apply): drop them or --table', file=sys.stderr)
            return 2
    if args.threads is not None or args.device == 'cpu':
        torch.set_num_threads(args.threads or 1)
    import logging
    from mmengine.logging import MMLogger
    logging.getLogger('mmengine').setLevel(logging.WARNING)  # init_weights' per-tensor lines
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    if not hasattr(args, 'argv'):
        args.argv = ['bench']
    if args.table:
        run_table(args)
    else:
        run_speed(args)
    return 0
