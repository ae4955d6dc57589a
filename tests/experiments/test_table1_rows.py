"""Table 1's rows: three config files, the other rows one override each (configs as diffs)."""
from __future__ import annotations

import pytest

from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import resolve_config
from fusionbench.experiments.tables import T1, get_table

CEN_FUSION = dict(type='cen', l1_weight=5e-3, threshold=2e-2, stages=(1, 2, 3, 4))
#: Each row's components as the paper's Table 1 lists them: (backbone type, norm sharing, fusion).
EXPECTED = {
    'unshared': ('UnsharedResNet', 'private', dict(type='none')),
    'shared_bn': ('MultiModalResNet', 'shared', dict(type='none')),
    'private_bn': ('MultiModalResNet', 'private', dict(type='none')),
    'private_bn_l1_half': ('MultiModalResNet', 'private',
                           dict(CEN_FUSION, exchange='none', l1='half')),
    'cen': ('MultiModalResNet', 'private', dict(CEN_FUSION, exchange='directed', l1='half')),
    'cen_l1_all': ('MultiModalResNet', 'private', dict(CEN_FUSION, exchange='all', l1='all')),
}


@pytest.mark.parametrize('row', list(EXPECTED))
def test_row_resolves_to_its_components(row):
    cell = get_table('table1').row(row).cells['main']
    cfg = resolve_config(cell.config, get_protocol('paper'), 0, cell.overrides)
    backbone, sharing, fusion = EXPECTED[row]
    assert cfg.model.backbone.type == backbone
    assert cfg.model.backbone.norm_sharing == sharing
    assert cfg.model.fusion.to_dict() == fusion
    assert cfg.model.backbone.depth == 101 and cfg.train_cfg.max_epochs == 300


def test_three_files_and_one_override_per_other_row():
    cells = {row.id: row.cells['main'] for row in get_table('table1').rows}
    files = {c.config for c in cells.values()}
    assert files == {T1.format(n) for n in ('private-bn', 'shared-bn', 'cen-directed-l1half')}
    assert {r for r, c in cells.items() if not c.overrides} == {'shared_bn', 'private_bn', 'cen'}
    # the overrides are separate copies: merging one cell's cannot change another's
    assert cells['private_bn_l1_half'].overrides is not get_table('table1').row(
        'private_bn_l1_half').cells['main'].overrides
