"""Figure 3 (fusionbench.analysis.figure3, fusionbench.report.figure3, ``figure3`` command):
hand-computed groups, maps, edges and correlations, and the command end to end on the smoke
protocol with an untrained CEN injected in place of the trained one."""
from __future__ import annotations

import json
import math
import sys
import types

import numpy as np
import pandas as pd
import pytest
import torch

from fusionbench.analysis import figure3 as f3
from fusionbench.analysis.stats import CI_HIGH, CI_LOW

CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
SHARED = 'table1/shared-bn_refinenet-r101_300e_nyudv2-40.py'


def smoke_model(config: str = CEN):
    from fusionbench.experiments.config_check import build_model, resolve_config
    from fusionbench.experiments.protocols import get_protocol

    cfg = resolve_config(config, get_protocol('smoke'), 0)
    torch.manual_seed(0)
    return build_model(cfg).eval(), cfg


# ----------------------------------------------------------------------------- groups
def test_channel_groups_hand_set():
    gamma = torch.tensor([[0.01, 0.5, -0.01, -0.5, 0.02],     # rgb
                          [0.5, 0.01, 0.019, 0.3, 0.02]])     # depth
    groups = f3.channel_groups(gamma, 0.02, ('rgb', 'depth'))
    assert groups['depth_dominant'].tolist() == [True, False, False, False, False]
    assert groups['rgb_dominant'].tolist() == [False, True, False, False, False]
    assert groups['neither'].tolist() == [False, False, True, False, False]
    # |γ| counts (a negative γ is not ≈ 0), and |γ| = θ is not under θ (Eq. 6's strict <)
    assert groups['both'].tolist() == [False, False, False, True, True]
    swapped = f3.channel_groups(gamma.flip(0), 0.02, ('depth', 'rgb'))
    assert all((swapped[g] == groups[g]).all() for g in groups)


def test_channel_groups_bad_input():
    with pytest.raises(ValueError, match='rgb and depth'):
        f3.channel_groups(np.ones((2, 3)), 0.02, ('rgb', 'normal'))
    with pytest.raises(ValueError, match=r'\[M, C\]'):
        f3.channel_groups(np.ones((3, 4)), 0.02, ('rgb', 'depth'))


def test_group_maps_hand_computed():
    # one point: M=2, N=1, C=3, 1×2 maps; channel values chosen so each mean is checkable
    y = torch.zeros(2, 1, 3, 1, 2)
    y[0, 0, :, 0, :] = torch.tensor([[1., 2.], [3., 4.], [5., 6.]])      # rgb stream
    y[1, 0, :, 0, :] = torch.tensor([[10., 20.], [30., 40.], [50., 60.]])  # depth stream
    groups = {'p': {'depth_dominant': np.array([True, True, False]),
                    'rgb_dominant': np.array([False, False, True]),
                    'both': np.array([False, False, False])}}
    maps = f3.group_maps({'p': y}, groups, ('rgb', 'depth'))
    np.testing.assert_allclose(maps['depth_dominant'][0], [[20., 30.]])  # depth, ch 0-1
    np.testing.assert_allclose(maps['rgb_dominant'][0], [[5., 6.]])      # rgb, ch 2
    assert np.isnan(maps['both']).all()                                   # empty group
    # two points pool their (point, channel) pairs; 'both' is the mean of the two streams
    groups['q'] = {'depth_dominant': np.array([False, False, True]),
                   'rgb_dominant': np.array([False, False, False]),
                   'both': np.array([True, False, False])}
    maps = f3.group_maps({'p': y, 'q': y}, groups, ('rgb', 'depth'))
    np.testing.assert_allclose(maps['depth_dominant'][0], [[(10 + 30 + 50) / 3,
                                                             (20 + 40 + 60) / 3]])
    np.testing.assert_allclose(maps['both'][0], [[5.5, 11.]])


# ----------------------------------------------------------------------------- edges
def test_depth_edges_step_not_slope():
    step = np.ones((4, 6))
    step[:, 3:] = 2.0                       # a 1 m -> 2 m jump between columns 2 and 3
    edges = f3.depth_edges(step)
    assert edges[:, 2:4].all() and not edges[:, :2].any() and not edges[:, 4:].any()
    jj = np.arange(6)[None, :] + np.zeros((4, 1))
    plane = 1.0 / (0.5 - 0.05 * jj)         # 1/z affine in the pixel: a plane, steep in z
    assert not f3.depth_edges(plane).any()
    with pytest.raises(ValueError, match='positive'):
        f3.depth_edges(np.zeros((3, 3)))


def test_normal_and_albedo_edges():
    normal = np.zeros((3, 4, 3))
    normal[:, :2] = (0, 0, -1)
    normal[:, 2:] = (1, 0, 0)               # a 90° crease between columns 1 and 2
    edges = f3.normal_edges(normal)
    assert edges[:, 1:3].all() and not edges[:, [0, 3]].any()
    tilt = np.zeros((3, 4, 3))
    tilt[..., 2] = -1
    tilt[:, 2:] = (math.sin(math.radians(20)), 0, -math.cos(math.radians(20)))
    assert not f3.normal_edges(tilt).any()  # 20° < 30°
    albedo = np.full((4, 3, 3), 100, np.uint8)
    albedo[2:] = 200                        # a step of 100/255 in every channel: 0.68
    edges = f3.albedo_edges(albedo)
    assert edges[1:3].all() and not edges[[0, 3]].any()
    albedo[2:] = 110                        # 10 levels: sqrt(3)·10/255 = 0.068 < 0.1
    assert not f3.albedo_edges(albedo).any()
    with pytest.raises(ValueError, match=r'\[H, W, 3\]'):
        f3.albedo_edges(np.zeros((4, 4)))


def test_edge_maps_exclusive_parts_and_pooling():
    depth = np.ones((4, 4))
    depth[:, 2:] = 3.0
    normal = np.zeros((4, 4, 3))
    normal[..., 2] = -1
    albedo = np.zeros((4, 4, 3), np.uint8)
    albedo[2:] = 255
    edges = f3.edge_maps(depth, normal, albedo)
    assert (edges['geometry'] == edges['depth']).all()
    assert (edges['geometry_only'] == (edges['depth'] & ~edges['albedo'])).all()
    assert not (edges['albedo_only'] & edges['geometry']).any()
    pattern = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 1]], bool)
    np.testing.assert_allclose(f3.pool_edges(pattern, (2, 2)), [[0.25, 0.0], [1.0, 0.75]])


# ----------------------------------------------------------------------------- correlation
def test_spearman_sign_and_constant():
    density = np.array([[0.0, 0.2], [0.5, 1.0]])
    assert f3.spearman(density ** 3 + 1, density) == pytest.approx(1.0)
    assert f3.spearman(-density, density) == pytest.approx(-1.0)
    assert math.isnan(f3.spearman(np.ones((2, 2)), density))
    assert math.isnan(f3.spearman(np.full((2, 2), np.nan), density))


def test_gradient_response_of_a_ramp():
    ramp = np.arange(12.0).reshape(3, 4)    # +1 along x, +4 along y
    np.testing.assert_allclose(f3.responses(ramp)['gradient'], np.full((3, 4), math.hypot(1, 4)))
    assert np.isnan(f3.responses(np.full((3, 4), np.nan))['gradient']).all()


def _constructed(depth_follows: str, rgb_follows: str, scenes: int = 6):
    """Maps whose gradient follows a chosen edge density per group (plus a little noise)."""
    rng = np.random.default_rng(0)
    h = w = 8
    densities = {e: rng.random((scenes, h, w)) for e in ('geometry_only', 'albedo_only')}

    def follow(target):  # a map whose gradient magnitude grows with `target`: cumulative sums
        return np.cumsum(np.cumsum(target + 0.05 * rng.random(target.shape), -1), -2)

    # the gradient of a cumulative sum is the summand itself (up to the border stencil)
    maps = {'depth_dominant': follow(densities[depth_follows]),
            'rgb_dominant': follow(densities[rgb_follows]),
            'both': np.full((scenes, h, w), np.nan)}
    return maps, densities


def test_correlation_signs_and_verdict_on_a_constructed_example():
    maps, densities = _constructed('geometry_only', 'albedo_only')
    per_scene = f3.scene_correlations(maps, densities)
    assert set(per_scene.columns) == {'scene', 'group', 'edge', 'response', 'rho'}
    summary = f3.summarise(per_scene)
    row = summary[(summary['kind'] == 'contrast') & (summary['response'] == 'gradient')]
    geometry = row[row['edge'] == 'geometry_only'].iloc[0]
    albedo = row[row['edge'] == 'albedo_only'].iloc[0]
    assert geometry[CI_LOW] > 0 and albedo[CI_HIGH] < 0 and geometry['n_scenes'] == 6
    both = summary[(summary['group'] == 'both')]
    assert (both['n_scenes'] == 0).all() and both['mean'].isna().all()  # empty group: no ρ
    assert f3.verdict(summary)['verdict'] == f3.SUPPORTED
    maps, densities = _constructed('albedo_only', 'geometry_only')
    result = f3.verdict(f3.summarise(f3.scene_correlations(maps, densities)))
    assert result['verdict'] == f3.CONTRADICTED
    assert result['parts']['geometry_only']['holds'] is False
    maps, densities = _constructed('geometry_only', 'geometry_only')
    result = f3.verdict(f3.summarise(f3.scene_correlations(maps, densities)))
    assert result['parts']['albedo_only']['holds'] is None


def test_contrast_is_the_per_scene_difference():
    per_scene = pd.DataFrame({
        'scene': [0, 0, 1, 1, 2, 2], 'edge': ['albedo'] * 6, 'response': ['gradient'] * 6,
        'group': ['depth_dominant', 'rgb_dominant'] * 3, 'rho': [0.5, 0.1, 0.2, 0.3, 0.4, 0.0]})
    diff = f3.contrasts(per_scene).sort_values('scene')['difference'].to_numpy()
    np.testing.assert_allclose(diff, [0.4, -0.1, 0.4])
    row = f3.summarise(per_scene).query("kind == 'contrast'").iloc[0]
    assert row['mean'] == pytest.approx(0.7 / 3) and row['n_scenes'] == 3


# ----------------------------------------------------------------------------- model
def test_select_points_and_capture_follow_the_exchange():
    model, cfg = smoke_model()
    points = f3.select_points(model, stage=1)
    assert [name for name, _, _ in points] == ['layer1.0.bn1', 'layer1.0.bn2', 'layer1.1.bn1',
                                                'layer1.1.bn2']
    assert [n for n, _, _ in f3.select_points(model, point='layer2.1.bn2')] == ['layer2.1.bn2']
    with pytest.raises(ValueError, match='layer1.0.bn1'):
        f3.select_points(model, point='layer9.0.bn1')
    name, fusion, norm = points[-1]
    with torch.no_grad():
        norm.weight[0, 0] = 0.0              # rgb channel 0 (rgb's own sub-part): exchanged
    inputs = torch.randn(2 * 3, 3, 32, 32)
    model.train()
    features = f3.capture_features(model, inputs, [name])[name]
    assert model.training                     # mode restored
    assert features.shape == (2, 3, norm.weight.shape[1], 8, 8)
    torch.testing.assert_close(features[0, :, 0], features[1, :, 0])   # rgb holds depth's copy
    assert not torch.equal(features[0, :, 1], features[1, :, 1])
    assert not any(m._forward_hooks for m in model.modules())          # hooks removed
    unimodal, _ = smoke_model(SHARED)
    with pytest.raises(ValueError, match='CEN'):
        f3.select_points(unimodal)


def test_scene_truth_matches_the_cached_split():
    _, cfg = smoke_model()
    dataset = f3.test_dataset(cfg)
    truth = f3.scene_truth(dataset, 1)
    assert np.array_equal(truth.rgb, dataset.arrays['rgb'][1])
    assert truth.depth_clean.shape == truth.depth.shape == dataset.size
    holes = truth.depth == 0
    # the sensor's depth is the clean depth plus noise and disparity quantisation (mm near,
    # cm far), holes aside: the same scene
    assert np.median(np.abs(truth.depth[~holes] - truth.depth_clean[~holes])) < 0.02


# ----------------------------------------------------------------------------- the command
@pytest.fixture
def injected_cell(monkeypatch):
    """``load_trained`` answering with an untrained smoke CEN whose stage-1 γ's are hand-set:
    in every point, rgb channels 0-1 and depth channels 6-7 under θ."""
    model, cfg = smoke_model()
    with torch.no_grad():
        for _, fusion, norm in f3.select_points(model, stage=1):
            norm.weight[0, :2] = 0.001
            norm.weight[1, -2:] = -0.001
    calls = []

    def load_trained(table, row, seed=0, *, protocol='mini', **kwargs):
        calls.append((table, row, seed, protocol))
        return types.SimpleNamespace(model=model, cfg=cfg, checkpoint='',
                                     record={'run_id': 'abc123', 'commit': 'deadbee'})

    module = types.ModuleType('fusionbench.experiments.checkpoints')
    module.load_trained = load_trained
    monkeypatch.setitem(sys.modules, 'fusionbench.experiments.checkpoints', module)
    return calls


def test_figure3_command_end_to_end(injected_cell, tmp_path, monkeypatch, capsys):
    from fusionbench.cli import main
    from fusionbench.report.figure3 import figure3_section, paths

    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    assert main(['figure3', '--protocol', 'smoke', '--scenes', '5', '--show', '2']) == 0
    assert injected_cell == [('table1', 'cen', 0, 'smoke')]
    out = capsys.readouterr().out
    assert 'verdict:' in out and 'depth_dominant 8' in out and 'both 16' in out
    where = paths(tmp_path / 'results' / 'smoke')
    assert all(p.is_file() for p in where.values())
    meta = json.loads(where['meta'].read_text())
    assert meta['group_sizes'] == {'depth_dominant': 8, 'rgb_dominant': 8, 'both': 16,
                                   'neither': 0}
    assert meta['run_id'] == 'abc123' and meta['scenes'] == 5 and meta['shown'] == 2
    assert meta['verdict']['verdict'] in (f3.SUPPORTED, f3.CONTRADICTED, f3.UNDECIDED)
    summary = pd.read_csv(where['summary'])
    # correlations of the trained and the initial model, contrasts of both and their change
    assert len(summary) == 2 * 3 * 6 * 2 + 3 * 6 * 2
    assert set(summary['model']) == {f3.TRAINED, f3.INITIAL, f3.CHANGE}
    assert meta['beyond_inputs']['model'] == f3.CHANGE
    assert (summary['n_scenes'] <= 5).all() and summary['mean'].between(-1, 1).all()
    assert len(pd.read_csv(where['scenes'])) == 2 * 5 * 3 * 6 * 2
    section = figure3_section(where['meta'].parent, tmp_path / 'reports')
    assert section[0].startswith('## Figure 3')
    assert any(line.startswith('![Figure 3](../results/smoke/plots/figure3.png)')
               for line in section)
    assert any('**Verdict:' in line for line in section)
    assert any('**Beyond the input streams:' in line for line in section)
    assert figure3_section(tmp_path / 'nothing', tmp_path) == []
    # `report` shows the section beside the protocol's tables
    from fusionbench.experiments.outputs import render_reports
    runs = tmp_path / 'results' / 'smoke' / 'runs' / 'table1'
    runs.mkdir(parents=True)
    (runs / 'r1.json').write_text(json.dumps(run_record()))
    render_reports('smoke', root=str(tmp_path / 'results'), reports_dir=str(tmp_path / 'reports'),
                   say=lambda line: None)
    report = (tmp_path / 'reports' / 'smoke.md').read_text(encoding='utf-8').splitlines()
    assert report.index('## Figure 3: what the kept and the exchanged channels respond to') \
        < report.index('## Provenance')
    assert '![Figure 3](../results/smoke/plots/figure3.png)' in report
    # without --scenes on a protocol whose test split is under the default 64: all of it
    assert main(['figure3', '--protocol', 'smoke', '--show', '1']) == 0
    assert '; 16 scenes' in capsys.readouterr().out
    assert json.loads(where['meta'].read_text())['scenes'] == 16


def run_record() -> dict:
    """A finished smoke run record of table1/cen (what `report` needs to render a report)."""
    return {'schema': 1, 'run_id': 'r1', 'table': 'table1', 'row': 'cen', 'cell': 'main',
            'protocol': 'smoke', 'seed': 0, 'status': 'ok', 'error': None, 'synthetic': True,
            'dataset': 'synthetic-scenes-v1',
            'metrics': {'rgb': {'mIoU': 10.0}, 'depth': {'mIoU': 9.0},
                        'ensemble': {'mIoU': 11.0}},
            'params': {'total': 1_000, 'fusion': 0}, 'wall_time_s': 1.0, 'device': 'cpu',
            'config': {}, 'git': {'commit': 'abc1234', 'dirty': False}, 'versions': {},
            'started_at': '2026-11-24T22:00:00+00:00',
            'finished_at': '2026-11-24T22:01:00+00:00'}


def test_figure3_command_bad_input(injected_cell, tmp_path, monkeypatch, capsys):
    from fusionbench.cli import main

    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    assert main(['figure3', '--protocol', 'smoke', '--scenes', '17']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and '--scenes 16' in err
    assert main(['figure3', '--protocol', 'paper']) == 2
    assert 'real data' in capsys.readouterr().err
    assert main(['figure3', '--protocol', 'smoke', '--point', 'layer7.0.bn1',
                 '--scenes', '2']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'layer1.0.bn1' in err
    with pytest.raises(SystemExit) as exited:       # argparse: one line, status 2
        main(['figure3', '--stage', '1', '--point', 'layer1.0.bn1'])
    assert exited.value.code == 2 and 'not allowed with' in capsys.readouterr().err
    assert injected_cell == [('table1', 'cen', 0, 'smoke')]   # nothing trained for bad input
    assert not (tmp_path / 'results' / 'smoke' / 'figure3.csv').exists()


def test_initial_model_is_the_seeded_init_and_a_null_change():
    model, cfg = smoke_model()
    state = torch.random.get_rng_state()
    first, second = f3.initial_model(cfg), f3.initial_model(cfg)
    assert torch.equal(torch.random.get_rng_state(), state)       # global RNG untouched
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                 second.state_dict().values()))
    with torch.no_grad():
        for _, _, norm in f3.select_points(first, stage=1):
            norm.weight[0, :2] = 0.001
    dataset = f3.test_dataset(cfg)
    result = f3.analyse(first, dataset, 3, reference=first)        # the model against itself
    change = result.summary[result.summary['model'] == f3.CHANGE]
    assert len(change) == 12 and (change['mean'].fillna(0) == 0).all()
    assert result.beyond_inputs['verdict'] == f3.UNDECIDED


def test_section_says_when_a_group_is_empty(tmp_path):
    from fusionbench.report.figure3 import figure3_section, paths

    where = paths(tmp_path)
    meta = {'table': 'table1', 'row': 'cen', 'seed': 0, 'protocol': 'smoke',
            'points': ['layer1.0.bn1'], 'thresholds': {'layer1.0.bn1': 0.02}, 'scenes': 2,
            'group_sizes': {'depth_dominant': 0, 'rgb_dominant': 3, 'both': 5, 'neither': 0},
            'edge_thresholds': {'depth_rel_second_difference_of_disparity': 0.04,
                                'normal_degrees': 30.0, 'albedo_distance': 0.1},
            'verdict': {'verdict': 'undecided', 'reason': 'r'}}
    where['meta'].write_text(json.dumps(meta))
    where['summary'].write_text('model,kind,group,edge,response,n_scenes,mean,std,'
                                'ci95_t_low,ci95_t_high\n'
                                'trained,correlation,rgb_dominant,depth,gradient,2,0.5,0.1,'
                                '0.1,0.9\n')
    text = '\n'.join(figure3_section(tmp_path, tmp_path))
    assert 'No channel is depth-dominant at these points' in text
    assert '| RGB-dominant (γ_rgb > 0, γ_depth ≈ 0) | +0.50 [+0.10, +0.90] |' in text
    assert 'Beyond the input streams' not in text        # no control measured
