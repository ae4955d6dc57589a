"""ModalityNorm: M private norms in one call, equal to M separate BatchNorm2d."""
from __future__ import annotations

import torch
from torch import nn

from fusionbench.modal import ModalityNorm, SharedNorm, split_modalities, stack_modalities


def test_stack_and_split_are_modality_major():
    a, b = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    stacked = stack_modalities([a, b])
    assert stacked.shape == (4, 3, 4, 4)
    assert torch.equal(split_modalities(stacked, 2)[1], b)


def test_private_batch_norm_matches_separate_batchnorms_train_and_eval():
    torch.manual_seed(0)
    m, n, c = 3, 4, 5
    norm = ModalityNorm(c, m)
    refs = [nn.BatchNorm2d(c) for _ in range(m)]
    with torch.no_grad():
        for i, ref in enumerate(refs):
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-1, 1)
            norm.weight[i].copy_(ref.weight)
            norm.bias[i].copy_(ref.bias)
    xs = [torch.randn(n, c, 6, 6) * (i + 1) + i for i in range(m)]
    out = norm(stack_modalities(xs))
    expected = stack_modalities([ref(x) for ref, x in zip(refs, xs)])
    assert torch.allclose(out, expected, atol=1e-5)
    for i, ref in enumerate(refs):
        assert torch.allclose(norm.running_mean[i], ref.running_mean, atol=1e-6)
        assert torch.allclose(norm.running_var[i], ref.running_var, atol=1e-5)
    norm.eval()
    for ref in refs:
        ref.eval()
    assert torch.allclose(norm(stack_modalities(xs)),
                          stack_modalities([ref(x) for ref, x in zip(refs, xs)]), atol=1e-5)


def test_private_instance_norm_has_private_affine():
    norm = ModalityNorm(2, 2, kind='in')
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 2.0]]))
    x = torch.randn(4, 2, 5, 5)
    out = norm(x)
    base = nn.functional.instance_norm(x)
    assert torch.allclose(out[:2], base[:2], atol=1e-5)
    assert torch.allclose(out[2:], 2 * base[2:], atol=1e-5)


def test_shared_norm_uses_joint_statistics():
    norm = SharedNorm(3, 2)
    x = torch.randn(4, 3, 5, 5)
    assert torch.allclose(norm(x), nn.functional.batch_norm(x, None, None, training=True),
                          atol=1e-5)
    assert norm.weight.shape == (1, 3)


def test_load_single_norm_copies_to_every_modality():
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.weight.uniform_()
        bn.running_mean.uniform_()
    norm = ModalityNorm(4, 3)
    norm.load_single_norm(bn.state_dict())
    for i in range(3):
        assert torch.equal(norm.weight[i], bn.weight)
        assert torch.equal(norm.running_mean[i], bn.running_mean)
