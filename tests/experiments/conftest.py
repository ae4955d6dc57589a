"""Fixtures shared by the experiment-layer tests."""
from __future__ import annotations

import dataclasses

import pytest

from fusionbench.experiments.protocols import (CALIBRATION_CONFIG, PRETRAIN_CONFIG, Pretraining,
                                               SyntheticData, get_protocol)


@pytest.fixture
def tiny(monkeypatch, one_thread):
    """The smoke protocol with a 4-iteration pretraining on 16 scenes, registered as 'smoke'."""
    from fusionbench import registry
    smoke = get_protocol('smoke')
    tiny = dataclasses.replace(smoke, pretraining=Pretraining(
        config=PRETRAIN_CONFIG, calibration_config=CALIBRATION_CONFIG, max_iters=4,
        calibration_batches=2, data=SyntheticData(train_scenes=16, val_scenes=16, size=32,
                                                  train_seed=11)))
    monkeypatch.setitem(registry.PROTOCOLS._module_dict, 'smoke', lambda: tiny)
    return tiny
