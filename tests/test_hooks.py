"""γ sparsity, the NaN guard, and where the hooks live."""
from __future__ import annotations

import ast
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fusionbench import registry
from fusionbench.fusion.gamma_dynamics import gamma_sparsity
from fusionbench.hooks import FiniteLossHook, TrainingDiverged


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


def test_the_generic_hooks_import_no_fusion_method_and_every_hook_is_listed():
    import fusionbench.hooks
    tree = ast.parse(Path(fusionbench.hooks.__file__).read_text(encoding='utf-8'))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not [m for m in imported
                if m.startswith(('fusionbench.fusion', 'fusionbench.baselines'))]
    names = registry.list_names(registry.HOOKS)
    for name in ('GammaSparsityHook', 'GammaDynamicsHook', 'ValidationCurveHook',
                 'FiniteLossHook', 'RngStateHook', 'ChannelsLastHook', 'LRStagesHook'):
        assert name in names, name
    # found by the registry's own imports, not because a test imported the module first
    # (hooks that other tests register from their own modules are not fusionbench's)
    for name in names:
        module = registry.HOOKS.get(name).__module__
        if module.startswith('fusionbench'):
            assert module in registry.HOOKS._locations, name
