"""Preflight: the missing data sets and weights of a config, named before anything runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from fusionbench.cli import main
from fusionbench.experiments import preflight
from fusionbench.experiments.preflight import (Missing, PreflightError, check_target,
                                               find_missing, prepare, resolve_path)
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import resolve_config, train_and_evaluate

R101 = 'paper/cen_refinenet-r101_300e_nyudv2-40.py'
PSP_SUN = 'paper/cen_pspnet-r152_60e_sunrgbd-37.py'
W101, W152 = 'resnet101-63fe2227.pth', 'resnet152-394f9c45.pth'


@pytest.fixture
def roots(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """Empty data and weights roots (a machine without data), via the environment."""
    data, weights = tmp_path / 'datasets', tmp_path / 'weights'
    monkeypatch.setenv('FUSIONBENCH_DATA', str(data))
    monkeypatch.setenv('FUSIONBENCH_WEIGHTS', str(weights))
    return data, weights


def paper(config: str):
    return resolve_config(config, get_protocol('paper'), seed=0)


def paths(missing: list[Missing]) -> list[str]:
    return [m.path for m in missing]


def lay_out_nyudv2(root: Path) -> None:
    for folder in ('rgb', 'depth', 'masks'):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / 'train.txt').write_text('000001\n')
    (root / 'val.txt').write_text('000002\n')


def lay_out_sunrgbd(root: Path) -> None:
    for split in ('train', 'test'):
        for folder in ('rgb', 'depth', 'label'):
            (root / split / folder).mkdir(parents=True, exist_ok=True)


def test_resolve_path_roots(roots):
    data, weights = roots
    assert resolve_path('data/nyudv2') == str(data / 'nyudv2')
    assert resolve_path('checkpoints/x.pth') == str(weights / 'x.pth')
    assert resolve_path('/abs/data/x') == '/abs/data/x'
    assert resolve_path('elsewhere/x') == 'elsewhere/x'
    assert resolve_path(None) is None


def test_default_roots_are_in_the_repo(monkeypatch):
    monkeypatch.delenv('FUSIONBENCH_DATA', raising=False)
    monkeypatch.delenv('FUSIONBENCH_WEIGHTS', raising=False)
    repo = Path(preflight.REPO_ROOT)
    assert resolve_path('data/nyudv2') == str(repo / 'data' / 'nyudv2')
    assert resolve_path('checkpoints/a.pth') == str(repo / 'checkpoints' / 'a.pth')


def test_paper_config_without_data_names_exactly_the_missing_paths(roots):
    data, weights = roots
    missing = find_missing(paper(R101))
    assert paths(missing) == [str(data / 'nyudv2'), str(weights / W101)]
    assert missing[0].what == 'NYUDv2 root'
    assert 'python -m fusionbench data prepare nyudv2' in missing[0].hint
    assert f'--out {data / "nyudv2"}' in missing[0].hint
    assert 'resnet101' in missing[1].hint and 'never downloads' in missing[1].hint
    assert str(missing[0]).startswith(f'missing NYUDv2 root {data / "nyudv2"}: run `python -m')
    # the config itself is not changed by the check
    assert paper(R101).model.backbone.pretrained == f'checkpoints/{W101}'

    sun = find_missing(paper(PSP_SUN))
    assert paths(sun) == [str(data / 'sunrgbd'), str(weights / W152)]
    assert sun[0].what == 'SUN RGB-D root'


def test_every_paper_config_and_the_folder_target(roots):
    data, weights = roots
    count, missing = check_target('configs/paper', 'paper')
    assert count == 10  # single-scale files; multi-scale is a row override
    assert sorted(paths(missing)) == sorted([str(data / 'nyudv2'), str(data / 'sunrgbd'),
                                             str(weights / W101), str(weights / W152)])
    count, missing = check_target('table3', 'paper')
    assert count == 8
    assert sorted(paths(missing)) == sorted([str(data / 'nyudv2'), str(weights / W101),
                                             str(weights / W152)])


@pytest.mark.parametrize('target, configs', [('configs/table1', 3), ('table1', 7),
                                             ('configs/table2', 2), ('table2', 35)])
def test_tables_1_and_2_start_from_imagenet_weights(roots, target, configs):
    """Every paper-protocol row of Tables 1 and 2 is ImageNet-initialised (§4.1), through the
    one base model config; the small protocols drop the weights."""
    data, weights = roots
    count, missing = check_target(target, 'paper')
    assert configs is None or count == configs
    assert sorted(paths(missing)) == sorted([str(data / 'nyudv2'), str(weights / W101)])
    assert check_target(target, 'mini')[1] == []


def test_synthetic_protocols_need_nothing(roots):
    for protocol in ('smoke', 'mini'):
        assert check_target('table3', protocol)[1] == []


def test_fake_data_root_passes(roots):
    data, weights = roots
    lay_out_nyudv2(data / 'nyudv2')
    lay_out_sunrgbd(data / 'sunrgbd')
    weights.mkdir()
    for name in (W101, W152):
        (weights / name).write_bytes(b'')
    assert check_target('configs/paper', 'paper')[1] == []
    cfg = prepare(paper(R101))  # resolves in place, raises nothing
    assert cfg.train_dataloader.dataset.data_root == str(data / 'nyudv2')
    assert cfg.val_dataloader.dataset.data_root == str(data / 'nyudv2')
    assert cfg.model.backbone.pretrained == str(weights / W101)


def test_partial_layouts_name_the_missing_lists_and_folders(roots):
    data, weights = roots
    root = data / 'nyudv2'
    lay_out_nyudv2(root)
    (root / 'val.txt').unlink()
    (root / 'masks').rmdir()
    missing = find_missing(paper(R101))
    assert paths(missing) == [str(root / 'masks'), str(root / 'val.txt'), str(weights / W101)]
    assert [m.what for m in missing[:2]] == ['NYUDv2 folder', 'NYUDv2 val list']

    sun = data / 'sunrgbd'
    lay_out_sunrgbd(sun)
    (sun / 'test' / 'label').rmdir()
    assert paths(find_missing(paper(PSP_SUN)))[0] == str(sun / 'test' / 'label')
    for folder in ('rgb', 'depth'):
        (sun / 'test' / folder).rmdir()
    (sun / 'test').rmdir()
    assert paths(find_missing(paper(PSP_SUN)))[0] == str(sun / 'test')


def test_rgb_only_config_needs_no_depth_folder(roots):
    data, _ = roots
    root = data / 'nyudv2'
    lay_out_nyudv2(root)
    (root / 'depth').rmdir()
    missing = find_missing(paper('paper/rgb_refinenet-r101_300e_nyudv2-40.py'))
    assert str(root / 'depth') not in paths(missing)
    assert str(root / 'depth') in paths(find_missing(paper(R101)))


def test_training_stops_before_building_anything(roots):
    data, _ = roots
    with pytest.raises(PreflightError) as err:
        train_and_evaluate(paper(R101))
    first, *rest = str(err.value).splitlines()
    assert first.startswith('2 missing input(s) for the run; first: missing NYUDv2 root')
    assert len(rest) == 2 and str(data / 'nyudv2') in rest[0]


def test_cli_preflight_and_run(roots, capsys):
    data, weights = roots
    assert main(['preflight', R101]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f'preflight {R101} [paper]: 1 config(s); data/ = {data}')
    assert out[1].startswith(f'missing NYUDv2 root {data / "nyudv2"}: ')
    assert out[2].startswith(f'missing ImageNet weights {weights / W101}: ')
    assert out[3] == '2 missing input(s)'
    # the grid refuses to start, listing every missing input once
    assert main(['run', 'table3', '--protocol', 'paper', '--seeds', '1']) == 2
    err = capsys.readouterr().err
    assert err.startswith('3 missing input(s) for table3 [paper]')
    assert main(['preflight', 'table3', '--protocol', 'smoke']) == 0
    assert capsys.readouterr().out.splitlines()[-1] == 'all inputs present'


def test_datasets_in_unpacks_the_wrappers_depth_first():
    from fusionbench.experiments.config_check import datasets_in
    a, b, c = dict(type='A'), dict(type='B'), dict(type='C')
    repeat = dict(type='RepeatDataset', times=2, dataset=a)
    concat = dict(type='ConcatDataset', datasets=[repeat, b, 'not a config'])
    assert list(datasets_in(concat)) == [concat, repeat, a, b]
    assert list(datasets_in(dict(type='ClassBalancedDataset', dataset=c)))[1] is c
    assert list(datasets_in(None)) == [] and list(datasets_in('data/x')) == []
