"""CEN's γ dynamics: crossing times, shares, histograms, and the lockstep-collapse check."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fusionbench import registry
from fusionbench.fusion.gamma_dynamics import (GammaDynamicsHook, crossing_spread,
                                               exchange_layers, gamma_histograms, is_lockstep,
                                               lockstep_layers)

MAX_ITERS = 240


def history(first_crossings: dict[str, list[int]]) -> dict:
    """A recorded ``gamma_dynamics`` with the given first crossings per layer."""
    return {'interval': 5, 'max_iters': MAX_ITERS, 'iterations': [],
            'layers': {name: {'share': [], 'first_crossing': crossings, 'hist': {}}
                       for name, crossings in first_crossings.items()}}


def test_lockstep_history_fails_the_check():
    """Today's collapse on mini: the whole penalised half crosses θ within 10-30 iterations."""
    rng = np.random.default_rng(0)
    collapse = (130 + rng.integers(0, 10, size=64)).tolist()  # all 64 within 130-139
    # measured on mini (seed 0): layer1.0.bn2 crossed over iterations 132-157, q10-q90 12.5
    wider = np.linspace(132, 157, 32).round().astype(int).tolist()
    recorded = history({'layer1.0.bn1': collapse, 'layer1.0.bn2': wider,
                        'layer4.1.bn2': [137] * 126 + [-1, -1]})
    assert lockstep_layers(recorded) == ['layer1.0.bn1', 'layer1.0.bn2', 'layer4.1.bn2']
    share, spread = crossing_spread(collapse)
    assert share == 1.0 and spread <= 9


def test_spread_out_history_passes_the_check():
    """Data-driven selection: crossings spread over the run, some channels never cross."""
    spread_out = np.linspace(20, 230, 48).round().astype(int).tolist() + [-1] * 16
    few = [100, 101, 102] + [-1] * 61  # a tight cluster of 3 out of 64 is not a collapse
    recorded = history({'layer1.0.bn1': spread_out, 'layer2.0.bn1': few,
                        'layer3.0.bn1': [-1] * 64})
    assert lockstep_layers(recorded) == []
    share, spread = crossing_spread(spread_out)
    assert share == 0.75 and spread == pytest.approx(168, abs=1)


def test_lockstep_window_scales_with_the_run():
    crossings = [1000 + i for i in range(100)]  # 10th-90th percentile spread: 79.2 iterations
    assert is_lockstep(crossings, max_iters=40_000)      # 79 ≤ 10 % of 40k
    assert is_lockstep(crossings, max_iters=1_000)       # 79 ≤ 100
    assert not is_lockstep(crossings, max_iters=500)     # 79 > max(5, 50)
    assert is_lockstep([7, 8, 9, 10], max_iters=20)      # spread 2.4 ≤ the 5-iteration floor
    assert not is_lockstep([], max_iters=240) and not is_lockstep([5, -1], max_iters=240)


def tiny_cen(**fusion):
    return registry.build(registry.MODELS, dict(
        type='MultiModalResNet', depth=18, width=0.125, num_modalities=2,
        fusion=dict(type='cen', threshold=0.02, stages=(1,), **fusion)))


def test_hook_records_crossings_shares_and_histograms():
    model = tiny_cen()
    hook = GammaDynamicsHook(interval=2, bins=4)
    runner = SimpleNamespace(model=model, iter=0, max_iters=6)
    hook.before_train(runner)
    norm = model.layer1[0].bn1  # 8 channels; modality 0 penalised on 0-3, modality 1 on 4-7
    for it in range(6):
        with torch.no_grad():
            if it == 1:
                norm.weight[0, 0] = 0.01            # crosses at iteration 2
                norm.weight[0, 6] = 0.0             # not penalised: never tracked
            if it == 3:
                norm.weight[1, 5] = -0.001          # |γ| counts: crosses at iteration 4
                norm.weight[0, 0] = 0.5             # back above θ: the first crossing stays
        runner.iter = it
        hook.after_train_iter(runner, it)
    runner.iter = 6
    hook.after_train(runner)
    record = hook.record_fields(runner)['gamma_dynamics']
    assert record['iterations'] == [2, 4, 6] and record['max_iters'] == 6
    layer = record['layers']['layer1.0.bn1']
    assert layer['first_crossing'] == [2, -1, -1, -1, -1, 4, -1, -1]  # tracked γ's only
    assert layer['share'] == [0.125, 0.125, 0.125]  # 1 of 8 tracked under θ at each sample
    assert record['layers']['layer1.0.bn2']['first_crossing'] == [-1] * 8
    hist = layer['hist']
    assert len(hist['edges']) == 5 and sum(hist['penalised']) == 8 and sum(hist['other']) == 8
    assert hist['other'][0] == 1  # the unpenalised γ set to 0
    assert record['lockstep_layers'] == []
    assert len(record['layers']) == 4  # bn1 and bn2 of layer1's two blocks


def test_hook_state_survives_a_checkpoint():
    model = tiny_cen()
    hook = GammaDynamicsHook(interval=1)
    runner = SimpleNamespace(model=model, iter=0, max_iters=4)
    with torch.no_grad():
        model.layer1[0].bn1.weight[0, 1] = 0.0
    hook.after_train_iter(runner, 0)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    resumed = GammaDynamicsHook(interval=1)
    resumed.after_load_checkpoint(runner, checkpoint)
    assert resumed.dynamics(model)['layers']['layer1.0.bn1']['first_crossing'][1] == 1
    assert resumed.dynamics(model)['iterations'] == [1]


def test_models_without_cen_record_nothing():
    model = registry.build(registry.MODELS, dict(type='MultiModalResNet', depth=18, width=0.125,
                                                 num_modalities=2))
    hook = GammaDynamicsHook()
    runner = SimpleNamespace(model=model, iter=0, max_iters=2)
    hook.after_train_iter(runner, 0)
    hook.after_train(runner)
    assert list(exchange_layers(model)) == [] and gamma_histograms(model) == {}
    assert hook.record_fields(runner) == {}


def test_crossing_order_by_hand():
    from fusionbench.fusion.gamma_dynamics import crossing_order
    # small task gradients cross first, large ones never: perfect rank agreement
    assert crossing_order([10, 20, -1, -1], [0.1, 0.2, 0.3, 0.4], 100) == pytest.approx(
        # ranks of times (never = 101, tied): 1, 2, 3.5, 3.5 against 1, 2, 3, 4
        0.9486833, abs=1e-6)
    assert crossing_order([30, 20, 10], [0.1, 0.2, 0.3], 100) == pytest.approx(-1.0)
    assert math.isnan(crossing_order([-1, -1], [0.1, 0.2], 100))  # nothing crossed
    assert math.isnan(crossing_order([5, 5], [0.1, 0.2], 100))  # no order to speak of
    with pytest.raises(ValueError, match='3 crossings but 2 gradients'):
        crossing_order([1, 2, 3], [0.1, 0.2], 10)


def test_crossing_orders_of_a_record_pick_the_tracked_gradients():
    from fusionbench.fusion.gamma_dynamics import crossing_orders
    # M = 2, C = 4: the own sub-parts are channels 0-1 of modality 0 and 2-3 of modality 1
    gradient = [[0.1, 0.2, 9.0, 9.0], [9.0, 9.0, 0.3, 0.4]]
    record = {'gamma_dynamics': {'max_iters': 100, 'layers': {
        'half': {'first_crossing': [10, 20, -1, -1]},
        'all': {'first_crossing': [1, 2, -1, -1, -1, -1, 3, 4]}}},
        'pretraining': {'gradient': {'half': gradient, 'all': gradient}}}
    orders = crossing_orders(record)
    assert orders['half'] == pytest.approx(0.9486833, abs=1e-6)
    assert set(orders) == {'half', 'all'}
    assert crossing_orders({'gamma_dynamics': record['gamma_dynamics']}) == {}


def test_sparsity_hook_puts_the_final_shares_in_the_record():
    from mmengine.logging import MessageHub, MMLogger

    from fusionbench.fusion.gamma_dynamics import GammaSparsityHook
    model = tiny_cen()
    with torch.no_grad():  # 1 of layer1.0.bn1's 8 tracked γ's under θ; 4 CEN points in all
        model.layer1[0].bn1.weight[0, 0] = 0.0
    runner = SimpleNamespace(model=model, iter=0,
                             message_hub=MessageHub(f'gamma-sparsity-{id(model)}'),
                             logger=MMLogger.get_instance(f'gamma-sparsity-{id(model)}'))
    hook = GammaSparsityHook()
    assert hook.record_fields(runner) == {'gamma_sparsity': {}}  # before any sample
    hook.after_train(runner)
    shares = hook.record_fields(runner)['gamma_sparsity']
    assert shares['layer1.0.bn1'] == 0.125 and shares['layer1.0.bn2'] == 0.0
    assert shares['mean'] == pytest.approx(0.125 / 4)



def test_hook_counts_comebacks_above_theta():
    """Theorem 1's check: a γ under θ that comes back above it is counted at each return."""
    from fusionbench.fusion.gamma_dynamics import comebacks

    model = tiny_cen()
    hook = GammaDynamicsHook(interval=10)
    runner = SimpleNamespace(model=model, iter=0, max_iters=6)
    norm = model.layer1[0].bn1  # modality 0 penalised on channels 0-3, modality 1 on 4-7
    # per iteration: γ[0, 0] under, back, under, back (2 returns, above at the end);
    # γ[0, 1] under from iteration 2 on (no return); γ[1, 4] under once, back (1 return)
    plan = {0: {(0, 0): 0.0, (1, 4): 0.0}, 1: {(0, 0): 0.5, (0, 1): 0.0, (1, 4): 0.5},
            2: {(0, 0): 0.0}, 3: {(0, 0): 0.5}}
    for it in range(6):
        with torch.no_grad():
            for (m, c), value in plan.get(it, {}).items():
                norm.weight[m, c] = value
        runner.iter = it
        hook.after_train_iter(runner, it)
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)  # the counts survive a resume
    resumed = GammaDynamicsHook(interval=10)
    resumed.after_load_checkpoint(runner, checkpoint)
    for recorder in (hook, resumed):
        layer = recorder.dynamics(model)['layers']['layer1.0.bn1']
        assert layer['returns'] == [2, 0, 0, 0, 1, 0, 0, 0]
        assert layer['under_at_end'] == [False, True, False, False, False, False, False, False]
        assert comebacks(layer) == {'crossed': 3, 'came_back': 2, 'above_at_end': 2,
                                    'returns': 3}
    assert comebacks({'first_crossing': [3, -1]}) is None  # a record made before the count
