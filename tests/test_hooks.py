"""γ sparsity logging and the NaN guard."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from fusionbench import registry
from fusionbench.hooks import FiniteLossHook, TrainingDiverged, gamma_sparsity


def test_gamma_sparsity_counts_penalised_gammas_under_threshold():
    model = registry.build(registry.MODELS, dict(
        type='MultiModalResNet', depth=18, width=0.125, num_modalities=2,
        fusion=dict(type='cen', l1='half', threshold=0.02, stages=(1,))))
    block = model.layer1[0]
    norm = block.bn1
    with torch.no_grad():  # 8 channels, M=2: modality 0 penalised on 0-3, modality 1 on 4-7
        norm.weight.fill_(1.0)
        norm.weight[0, :2] = 0.001   # two of modality 0's four penalised γ under θ
        norm.weight[0, 6] = 0.0      # not penalised for modality 0: not counted
        norm.weight[1, 4] = -0.01    # |γ| under θ, penalised
    fractions = gamma_sparsity(model)
    assert fractions['layer1.0.bn1'] == pytest.approx(3 / 8)
    assert fractions['layer1.0.bn2'] == fractions['layer1.1.bn1'] == 0.0
    assert fractions['mean'] == pytest.approx(3 / 32)  # 4 points: bn1 and bn2 of 2 blocks


def test_finite_loss_hook_raises_on_nan():
    hook = FiniteLossHook()
    runner = SimpleNamespace(iter=6)
    hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})
    with pytest.raises(TrainingDiverged, match='nan at iteration 7'):
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(math.nan)})
