"""The validation curve and the plateau check (the last fifth improves by < 1 point)."""
from __future__ import annotations

import math
from types import SimpleNamespace

from fusionbench.plateau import ValidationCurveHook, plateau_check


def test_plateau_check_hand_computed():
    iterations = [24 * k for k in range(1, 11)]  # 24 ... 240; the last fifth starts at 192
    rising = [10, 14, 17, 19, 21, 23, 25, 27, 28, 29.5]
    check = plateau_check(iterations, rising, max_iters=240)
    assert check == {'from_iter': 192, 'to_iter': 240, 'gain': 2.5, 'threshold': 1.0,
                     'plateaued': False, 'metric': 'mIoU'}
    flat = [10, 14, 17, 19, 21, 23, 25, 27.2, 27.9, 28.0]
    assert plateau_check(iterations, flat, 240)['plateaued'] is True   # +0.8
    worse = flat[:-1] + [26.0]
    assert plateau_check(iterations, worse, 240)['gain'] == -1.2       # a drop is a plateau too
    assert plateau_check([100, 200], [5.0, 5.5], 200)['from_iter'] == 100  # last one ≤ 160


def test_plateau_check_lower_is_better():
    # translation's L1: the gain is the decrease; 0.150 -> 0.140 over the last fifth
    falling = [0.30, 0.2, 0.18, 0.17, 0.16, 0.155, 0.152, 0.150, 0.145, 0.140]
    check = plateau_check([24 * k for k in range(1, 11)], falling, 240, gain=0.005,
                          higher_is_better=False, metric='L1')
    assert check['gain'] == 0.01 and check['plateaued'] is False and check['metric'] == 'L1'
    hook = ValidationCurveHook(metric='L1', higher_is_better=False, gain=0.005)
    runner = SimpleNamespace(iter=0, max_iters=10)
    hook.before_train(runner)
    for it, value in ((5, 0.2), (10, 0.1985)):
        runner.iter = it
        hook.after_val_epoch(runner, {'ensemble/L1': value, 'L1': value, 'FID': 3.0})
    fields = hook.record_fields(runner)
    assert fields['val_curve'] == {'iterations': [5, 10],
                                   'L1': {'ensemble': [0.2, 0.1985], 'primary': [0.2, 0.1985]}}
    assert fields['plateau']['gain'] == 0.0015 and fields['plateau']['plateaued'] is True


def test_plateau_check_without_an_early_validation_is_unknown():
    check = plateau_check([240], [30.0], 240)
    assert check['plateaued'] is None and math.isnan(check['gain'])
    assert plateau_check([], [], 240)['to_iter'] is None


def test_hook_keeps_the_curve_per_head_and_the_last_metrics():
    hook = ValidationCurveHook()
    runner = SimpleNamespace(iter=0, max_iters=10)
    hook.before_train(runner)
    for it, (rgb, ens) in zip((5, 10, 10), ((20.0, 22.0), (21.0, 22.5), (21.0, 22.5))):
        runner.iter = it
        hook.after_val_epoch(runner, {'rgb/mIoU': rgb, 'rgb/aAcc': 50.0,
                                      'ensemble/mIoU': ens, 'mIoU': ens})
    fields = hook.record_fields(runner)
    assert fields['val_curve'] == {'iterations': [5, 10],  # the repeat at 10 counted once
                                   'mIoU': {'rgb': [20.0, 21.0], 'ensemble': [22.0, 22.5],
                                            'primary': [22.0, 22.5]}}
    assert fields['plateau']['gain'] == 0.5 and fields['plateau']['plateaued'] is True
    assert hook.last_iter == 10 and hook.last['mIoU'] == 22.5
    checkpoint = {}
    hook.before_save_checkpoint(runner, checkpoint)
    resumed = ValidationCurveHook()
    resumed.after_load_checkpoint(runner, checkpoint)
    assert resumed.iterations == [5, 10] and resumed.curves['rgb'] == [20.0, 21.0]
    assert ValidationCurveHook().record_fields(runner) == {}


def test_a_resumed_run_repeats_the_validation_its_checkpoint_skipped():
    ran = []
    runner = SimpleNamespace(iter=6, max_iters=12, train_loop=SimpleNamespace(val_interval=6),
                             val_loop=SimpleNamespace(run=lambda: ran.append(runner.iter)))
    hook = ValidationCurveHook()
    hook.before_train(runner)
    assert ran == [6]
    hook.iterations = [6]  # already validated (restored from the checkpoint): not again
    hook.before_train(runner)
    runner.iter = 5  # not a validation iteration
    ValidationCurveHook().before_train(runner)
    assert ran == [6]


def test_validation_leaves_the_training_rngs_alone():
    import random

    import numpy as np
    import torch
    hook = ValidationCurveHook()
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    expected = (torch.rand(1), np.random.rand(), random.random())
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    hook.before_val(None)
    torch.rand(5), np.random.rand(5), random.random()  # what a validation loader may draw
    hook.after_val(None)
    assert (torch.rand(1), np.random.rand(), random.random()) == expected
