"""Registries are children of mmseg's; names are discoverable; unknown names fail in one line."""
from __future__ import annotations

import pytest
from mmseg.registry import MODELS as MMSEG_MODELS

from fusionbench import registry
from fusionbench.cli import main


def test_registries_are_children_of_mmseg_with_fusionbench_scope():
    assert registry.MODELS.parent is MMSEG_MODELS
    for reg in (registry.MODELS, registry.DATASETS, registry.TRANSFORMS, registry.METRICS):
        assert reg.scope == 'fusionbench'
        assert reg.parent is not None and reg.parent.scope == 'mmseg'


def test_mmseg_style_config_builds_fusionbench_and_mmseg_parts():
    model = registry.MODELS.build(dict(
        type='MultiModalSegmentor', modalities=('rgb', 'depth'), num_classes=5,
        backbone=dict(type='MultiModalResNet', depth=18, width=0.125),
        decode_head=dict(type='RefineNetDecoder', width=0.0625),
        fusion=dict(type='cen', stages=(1, 2))))
    assert len(model.fusion_modules()) == 8  # 2 BasicBlocks × 2 3×3 convs in stages 1 and 2
    loss = registry.MODELS.build(dict(type='mmseg.CrossEntropyLoss'))
    assert type(loss).__name__ == 'CrossEntropyLoss'


def test_fusion_methods_register_lazily_and_are_listed():
    from fusionbench.fusion.base import FusionModule

    names = registry.list_names(registry.FUSIONS, FusionModule)
    assert {'cen', 'none'} <= set(names)
    assert 'MultiModalResNet' not in names


@pytest.mark.parametrize('what, expected', [('fusions', 'cen'), ('models', 'MultiModalResNet'),
                                            ('tables', 'table1'), ('protocols', 'mini'),
                                            ('datasets', 'SyntheticScenes')])
def test_list_command_prints_what_is_registered(capsys, what, expected):
    assert main(['list', what]) == 0
    out = capsys.readouterr().out
    assert expected in out
    if what == 'models':
        assert 'ChannelExchange' not in out and not any(
            line.startswith('cen ') for line in out.splitlines())


def test_unknown_names_fail_in_one_line_with_the_registered_names(capsys):
    with pytest.raises(registry.UnknownNameError) as info:
        registry.get(registry.PROTOCOLS, 'tiny', kind='protocol')
    assert str(info.value) == "unknown protocol 'tiny'; registered: mini, paper, smoke"
    assert main(['run', 'table9', '--protocol', 'smoke']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown table 'table9'" in err and 'table1' in err


def test_list_prints_plain_text_without_rest_markup(capsys):
    from fusionbench.cli import plain_text
    assert plain_text(':class:`MultiModalResNet` with ``[M*N, C, H, W]`` and '
                      ':func:`~fusionbench.models.init.seeded`') == \
        'MultiModalResNet with [M*N, C, H, W] and seeded'
    for what in ('models', 'datasets', 'hooks', 'metrics', 'transforms'):
        assert main(['list', what]) == 0
        out = capsys.readouterr().out
        assert out and '``' not in out and ':class:' not in out and ':func:' not in out, what


def test_train_and_report_options_have_help():
    import argparse

    from fusionbench.cli import build_parser
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ('train', 'report'):
        actions = [a for a in commands.choices[command]._actions
                   if not isinstance(a, argparse._HelpAction)]
        assert actions and all(a.help for a in actions), [a.dest for a in actions if not a.help]
