"""Common random numbers: the same seed gives every row the same start for the parts it shares."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.runner import set_random_seed

from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import build_model, resolve_config
from fusionbench.experiments.tables import get_table
from fusionbench.models.init import name_seed, reset_by_name, seeded

T1 = 'table1/{}_refinenet-r101_300e_nyudv2-40.py'
#: Table 2's cells: ``table2:<row>/<cell>`` (a base config plus the row's fusion override)
T2 = 'table2:{}'
#: Table 1's unshared row (the private-BN config with one encoder per modality)
UNSHARED = 'table1:unshared/main'


def smoke_config(config: str, seed: int = 0):
    """The smoke config of a config file or of a table's cell ``<table>:<row>/<cell>``."""
    if ':' not in config:
        return resolve_config(config, get_protocol('smoke'), seed)
    table, key = config.split(':')
    row, name = key.split('/')
    cell = get_table(table).row(row).cells[name]
    return resolve_config(cell.config, get_protocol('smoke'), seed, cell.overrides)


def initialised(config: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Parameters as mmengine's Runner leaves them: seed set, model built, init_weights."""
    cfg = smoke_config(config, seed)
    set_random_seed(seed)
    model = build_model(cfg)
    model.init_weights()
    return {k: v.detach() for k, v in model.named_parameters()}


def shared(a: dict, b: dict) -> list[str]:
    return [k for k in a if k in b and a[k].shape == b[k].shape]


@pytest.fixture(scope='module')
def private_bn():
    return initialised(T1.format('private-bn'))


@pytest.mark.parametrize('config', [T1.format('cen-directed-l1half'), T1.format('shared-bn'),
                                    T2.format('concat_early/same')])
def test_rows_start_alike_where_they_share_parts(private_bn, config):
    """CEN's interface checks and a baseline's layers draw random numbers while the model is
    built; the decoder and the encoder still start exactly as in the private-BN row."""
    other = initialised(config)
    names = shared(private_bn, other)
    assert len(names) > 40 and any(n.startswith('decode_head.') for n in names)
    assert [n for n in names if not torch.equal(private_bn[n], other[n])] == []


def test_unshared_first_stream_starts_as_the_shared_encoder(private_bn):
    unshared = initialised(UNSHARED)
    assert torch.equal(unshared['backbone.streams.0.layer2.0.conv1.weight'],
                       private_bn['backbone.layer2.0.conv1.weight'])
    assert not torch.equal(unshared['backbone.streams.1.layer2.0.conv1.weight'],
                           private_bn['backbone.layer2.0.conv1.weight'])
    decoder = [n for n in shared(private_bn, unshared) if n.startswith('decode_head.')]
    assert decoder and all(torch.equal(private_bn[n], unshared[n]) for n in decoder)


def test_another_seed_starts_elsewhere(private_bn):
    other = initialised(T1.format('private-bn'), seed=1)
    assert not torch.equal(other['backbone.conv1.weight'], private_bn['backbone.conv1.weight'])
    decoder = next(n for n in private_bn if n.startswith('decode_head.'))
    assert not torch.equal(other[decoder], private_bn[decoder])


def test_model_code_leaves_the_data_rng_alone():
    """Batches come from the sampler's own seeded generator and flips from numpy's global RNG:
    building and initialising any row must not draw from numpy, or the rows' data would differ."""
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    for config in (T1.format('cen-directed-l1half'), UNSHARED,
                   T2.format('self_attention_all/common')):
        model = build_model(smoke_config(config))
        model.init_weights()
    after = np.random.get_state()
    assert np.array_equal(before, after[1]) and after[2] == 624  # untouched position


def test_seeded_restores_the_global_stream():
    torch.manual_seed(3)
    expected = torch.rand(2)
    torch.manual_seed(3)
    with seeded(0, 'decode_head'):
        inside = torch.rand(2)
    assert torch.equal(torch.rand(2), expected) and not torch.equal(inside, expected)
    assert name_seed(0, 'a') == name_seed(0, 'a') != name_seed(1, 'a') != name_seed(0, 'b')
    assert 0 <= name_seed(0, 'a') < 2 ** 63


def test_reset_by_name_skips_what_it_is_told():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Sequential(torch.nn.Linear(3, 3)))
    kept = net[1][0].weight.detach().clone()
    assert reset_by_name(net, 0, skip=(torch.nn.Sequential,)) == 0  # the root is skipped too
    assert reset_by_name(net[1], 0) == 1 and not torch.equal(net[1][0].weight, kept)
    a = torch.nn.Linear(3, 3)
    b = torch.nn.Linear(3, 3)
    reset_by_name(a, 5, prefix='x.')
    reset_by_name(b, 5, prefix='x.')
    assert torch.equal(a.weight, b.weight)
