"""The training step's fast paths equal straightforward reference implementations.

References: the private norms as ONE ``batch_norm`` call over the ``[N, M*C, H, W]`` view of the
stack (the former implementation), CEN's mean of the other modalities as the ``[M, M]``
product, and NCHW activations (no channels-last encoder input on CPU). Values, running
statistics and gradients are compared on tiny inputs: over NCHW the fast norms and exchange are
bit-identical; channels-last moves values by float rounding only.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import nn

from fusionbench import registry
from fusionbench.fusion.cen import ChannelExchange, mean_of_others, others_mean_matrix
from fusionbench.modal import ModalityNorm, split_modalities
from fusionbench.models import resnet


def reference_norm_forward(self: ModalityNorm, x: torch.Tensor) -> torch.Tensor:
    """The M private BNs as one BN with M*C channels over a transposed copy of the stack."""
    m, c = self.num_modalities, self.num_features
    if self.training:
        self.num_batches_tracked.add_(1)
    n = x.shape[0] // m
    per_channel = split_modalities(x, m).transpose(0, 1).reshape(n, m * c, *x.shape[2:])
    y = F.batch_norm(per_channel, self.running_mean.view(-1), self.running_var.view(-1),
                     self.weight.view(-1), self.bias.view(-1), self.training, self.momentum,
                     self.eps)
    return y.view(n, m, c, *x.shape[2:]).transpose(0, 1).reshape(x.shape)


def reference_cen_forward(self: ChannelExchange, x: torch.Tensor, norm=None):
    """CEN with the mean of the others as the ``[M, M] @ [M, N*C*H*W]`` product."""
    gamma = norm.weight
    losses = {'loss_l1': self.sparsity(gamma)} if self.l1 != 'none' else {}
    if self.exchange == 'none':
        return x, losses
    m = self.num_modalities
    y = split_modalities(x, m)
    mixed = (self.others_mean.to(x.dtype) @ y.reshape(m, -1)).view_as(y)
    replace = self.replace_mask(gamma)[:, None, :, None, None]
    return torch.where(replace, mixed, y).reshape(x.shape), losses


def _norm_pair(c: int, m: int) -> tuple[ModalityNorm, ModalityNorm]:
    fast = ModalityNorm(c, m)
    with torch.no_grad():
        fast.weight.uniform_(0.5, 1.5)
        fast.bias.uniform_(-1, 1)
        fast.running_mean.uniform_(-0.5, 0.5)
    return fast, copy.deepcopy(fast)


def _run_norm(norm: ModalityNorm, x: torch.Tensor, grad: torch.Tensor, reference: bool):
    x = x.detach().clone().requires_grad_()
    y = reference_norm_forward(norm, x) if reference else norm(x)
    y.backward(grad)
    return y.detach(), x.grad, norm.weight.grad, norm.bias.grad


@pytest.mark.parametrize('m', [1, 2, 3])
@pytest.mark.parametrize('training', [True, False])
def test_modality_norm_is_bit_identical_to_one_call_reference(m, training):
    torch.manual_seed(0)
    fast, ref = _norm_pair(4, m)
    fast.train(training)
    ref.train(training)
    x = torch.randn(m * 3, 4, 5, 6) * torch.arange(1, m * 3 + 1).view(-1, 1, 1, 1)
    grad = torch.randn_like(x)
    for step in range(2):  # the second step runs with the updated statistics
        got = _run_norm(fast, x, grad, reference=False)
        want = _run_norm(ref, x, grad, reference=True)
        for name, a, b in zip(('output', 'grad input', 'grad weight', 'grad bias'), got, want):
            assert torch.equal(a, b), (name, step)
        assert torch.equal(fast.running_mean, ref.running_mean)
        assert torch.equal(fast.running_var, ref.running_var)
        assert int(fast.num_batches_tracked) == int(ref.num_batches_tracked)
        fast.zero_grad()
        ref.zero_grad()


def test_modality_norm_keeps_channels_last_and_matches_reference():
    torch.manual_seed(1)
    fast, ref = _norm_pair(8, 2)
    x = torch.randn(4, 8, 3, 3).contiguous(memory_format=torch.channels_last)
    grad = torch.randn(4, 8, 3, 3).contiguous(memory_format=torch.channels_last)
    got = _run_norm(fast, x, grad, reference=False)
    want = _run_norm(ref, x, grad, reference=True)
    assert got[0].is_contiguous(memory_format=torch.channels_last)  # no layout round trip
    for a, b in zip(got, want):  # another summation order: float rounding only
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    assert torch.allclose(fast.running_var, ref.running_var, rtol=1e-6)


def test_mean_of_others_for_two_modalities_equals_the_product():
    torch.manual_seed(2)
    y = torch.randn(2, 3, 4, 5, 5, requires_grad=True)
    grad = torch.randn_like(y)
    fast = mean_of_others(y, others_mean_matrix(2))
    (fast_grad,) = torch.autograd.grad(fast, y, grad)
    product = (others_mean_matrix(2) @ y.reshape(2, -1)).view_as(y)
    (product_grad,) = torch.autograd.grad(product, y, grad)
    assert torch.equal(fast, product) and torch.equal(fast, y.flip(0))
    assert torch.equal(fast_grad, product_grad)
    three = torch.randn(3, 2, 4)  # M > 2 keeps the product: row m = mean of the two others
    assert torch.allclose(mean_of_others(three, others_mean_matrix(3))[0],
                          (three[1] + three[2]) / 2)


def _tiny_cen_model() -> nn.Module:
    torch.manual_seed(3)
    model = registry.build(registry.MODELS, dict(
        type='MultiModalSegmentor', modalities=('rgb', 'depth'), num_classes=5,
        backbone=dict(type='MultiModalResNet', depth=18, width=0.125),
        decode_head=dict(type='RefineNetDecoder', width=0.0625, dropout=0.0),
        fusion=dict(type='cen', threshold=2e-2, exchange='directed', l1='half')))
    with torch.no_grad():  # some γ's under θ, so channels do move
        for module in model.modules():
            if isinstance(module, ModalityNorm):
                module.weight.uniform_(-0.05, 1.0)
    return model.train()


def _losses_and_grads(model: nn.Module, inputs: torch.Tensor, samples: list):
    losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    stats = {name: b.clone() for name, b in model.named_buffers()}
    return {k: v.detach() for k, v in losses.items()}, grads, stats


def _tiny_batch() -> tuple[torch.Tensor, list]:
    gen = torch.Generator().manual_seed(4)
    inputs = torch.randn(4, 3, 32, 32, generator=gen)
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 32, 32), generator=gen))
        samples.append(sample)
    return inputs, samples


def _use_references(monkeypatch) -> None:
    """The reference norms and exchange over contiguous (NCHW) activations."""
    monkeypatch.setattr(ModalityNorm, 'forward', reference_norm_forward)
    monkeypatch.setattr(ChannelExchange, 'forward', reference_cen_forward)
    monkeypatch.setattr(resnet, 'cpu_channels_last', lambda x: x)


def test_segmentor_training_step_equals_reference_implementations(monkeypatch):
    """A whole CEN segmentor (ResNet-18, RefineNet, heads) on a tiny batch, both over NCHW
    activations: losses, every parameter's gradient and every running statistic equal those of
    the reference norms and exchange, bit for bit."""
    monkeypatch.setattr(resnet, 'cpu_channels_last', lambda x: x)
    model = _tiny_cen_model()
    reference = copy.deepcopy(model)
    inputs, samples = _tiny_batch()
    moved = sum(int(f.replace_mask(n.weight).sum()) for n, f in (
        (getattr(b, name), b.fusions[name]) for s in model.backbone.stages for b in s
        for name in b.fusions))
    assert moved > 0
    got = _losses_and_grads(model, inputs, samples)
    _use_references(monkeypatch)
    want = _losses_and_grads(reference, inputs, samples)
    for part, a, b in zip(('loss', 'grad', 'buffer'), got, want):
        assert a.keys() == b.keys(), part
        for key in a:
            assert torch.equal(a[key], b[key]), f'{part} {key}'


@pytest.mark.parametrize('threads', [1, 2])
def test_channels_last_step_equals_the_nchw_reference_to_float_rounding(monkeypatch, threads,
                                                                        set_threads):
    """The default CPU step (channels-last activations, fast norms and exchange) against the
    references over NCHW: losses, gradients and statistics differ by float rounding only --
    per tensor by no more than twice what the float32 reference itself is off from the same
    reference in float64, plus 1e-5 of the tensor's largest magnitude (~80 float32 ulps). This
    tiny network's deepest norms see 2 values per channel, which amplifies rounding to ~1e-3
    relative in some gradients, in either layout; and the α gradient sums ~10^4 products with
    cancellation to ~1e-3, so the two layouts' summation orders differ by ~15 ulps of it while
    the reference can happen to be off from float64 by less than one (measured at 1 thread).
    A layout bug gives errors of the tensor's own order. Run at 1 and 2 threads: the
    summation order, hence the rounding, depends on the thread count."""
    set_threads(threads)
    model = _tiny_cen_model()
    reference = copy.deepcopy(model)
    exact = copy.deepcopy(model).double()
    inputs, samples = _tiny_batch()
    got = _losses_and_grads(model, inputs, samples)
    features, _ = model.backbone(inputs)
    assert all(f.is_contiguous(memory_format=torch.channels_last) for f in features)
    _use_references(monkeypatch)
    want = _losses_and_grads(reference, inputs, samples)
    truth = _losses_and_grads(exact, inputs.double(), samples)
    for part, a, b, c in zip(('loss', 'grad', 'buffer'), got, want, truth):
        assert a.keys() == b.keys() == c.keys(), part
        for key in a:
            if not a[key].is_floating_point():
                assert torch.equal(a[key], b[key]), f'{part} {key}'
                continue
            float32_error = float((b[key].double() - c[key]).abs().max())
            bound = 2 * float32_error + 1e-5 * (float(c[key].abs().max()) or 1.0)
            assert float((a[key] - b[key]).abs().max()) <= bound, f'{part} {key}'


def _trajectory(steps: int) -> list[float]:
    model = _tiny_cen_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
    inputs, samples = _tiny_batch()
    totals = []
    for _ in range(steps):
        total = sum(model.loss(inputs, samples).values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(float(total.detach()))
    return totals


#: Per-step relative tolerance of the training loss, channels-last against NCHW: the
#: convolutions sum in another order (~1e-7 relative per value), which training carries forward
#: (measured on this tiny network: 0 at steps 1-2, at most 1.0e-4 over the 20 steps).
TRAJECTORY_RTOL = 5e-4


def test_channels_last_training_trajectory_matches_nchw(monkeypatch):
    """20 SGD steps of the tiny CEN segmentor from the same seed: per-step losses of the
    default CPU step and of the NCHW references agree within ``TRAJECTORY_RTOL``."""
    fast = _trajectory(20)
    _use_references(monkeypatch)
    slow = _trajectory(20)
    assert fast != slow  # the layout does reorder sums: the comparison is not vacuous
    for step, (a, b) in enumerate(zip(fast, slow)):
        assert a == pytest.approx(b, rel=TRAJECTORY_RTOL), (step, fast, slow)
