"""Interface checks over every registered fusion method, read off the registry (not a list).

Each method's card must name it as the registry does, declare a position, settings and stages
the tables can use, and its module must pass the build-time interface check at every setting
and a stage of each kind, for two and three modalities.
"""
from __future__ import annotations

import pytest

from fusionbench import registry
from fusionbench.fusion.base import (PLACEMENT_KEYS, POSITIONS, STAGE_SETS, FusionCard,
                                     FusionPoint, build_fusion, fusion_cards)
from fusionbench.modal import ModalityNorm

METHODS = [card.name for card in fusion_cards()]
SETTINGS = ('common', 'same')


def test_the_registry_holds_the_paper_methods():
    assert {'none', 'cen', 'concat', 'average', 'align_mmd', 'self_attention'} <= set(METHODS)


@pytest.mark.parametrize('name', METHODS)
def test_card_describes_the_method(name):
    card = registry.FUSIONS.get(name).card
    assert isinstance(card, FusionCard) and card.name == name
    assert card.position in POSITIONS and card.summary and card.display
    assert set(card.settings) <= set(SETTINGS) and card.settings
    assert set(card.stages) <= set(STAGE_SETS)
    assert set(card.setting_args) <= set(card.settings)
    assert set(card.paper_rows) <= set(card.tables)  # a paper row only where it enters
    for table in card.tables:
        assert table in registry.list_names(registry.TABLES), (name, table)
        assert card.stages, f'{name} enters {table} but supports no stage'


@pytest.mark.parametrize('m', [2, 3])
@pytest.mark.parametrize('name', METHODS)
def test_module_passes_the_interface_check_in_every_setting(name, m):
    card = registry.FUSIONS.get(name).card
    channels = 8
    norm = ModalityNorm(channels, m) if card.position == 'block' else None
    for setting in card.settings:
        for stage in card.stages or ('middle',):
            cfg = (card.fusion_cfg(stage, setting) if card.stages
                   else dict(type=name, **card.setting_args.get(setting, {})))
            point = FusionPoint('p', card.position, max(STAGE_SETS[stage]), channels, m)
            module = build_fusion(cfg, point, norm)  # raises TypeError naming the method
            if 'keep_streams' in card.setting_args.get(setting, {}):
                assert module.keeps_streams == (setting == 'same')
            assert set(cfg) - {'type'} - set(PLACEMENT_KEYS) <= set(
                card.setting_args.get(setting, {}))
            if card.parameter_free:
                assert sum(p.numel() for p in module.fusion_parameters()) == 0


@pytest.mark.parametrize('name', [n for n in METHODS if registry.FUSIONS.get(n).card.stages])
def test_unsupported_stage_or_setting_fails_naming_the_method(name):
    card = registry.FUSIONS.get(name).card
    with pytest.raises(ValueError, match=f"fusion method '{name}' supports stages"):
        card.fusion_cfg('nowhere', card.settings[0])
