"""Pretraining and calibration of the small protocols (fusionbench.experiments.pretrain)."""
from __future__ import annotations

import dataclasses
import json
import os

import pytest
import torch

from fusionbench.experiments import pretrain
from fusionbench.experiments.protocols import CALIBRATION_CONFIG, PRETRAIN_CONFIG, get_protocol
from fusionbench.experiments.run import resolve_config, train_and_evaluate
from fusionbench.experiments.tables import T1_UNSHARED

CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
UNSHARED = 'table1/private-bn_refinenet-r101_300e_nyudv2-40.py'  # + T1_UNSHARED: Table 1's row


def test_mean_lr_factor_and_derivation_by_hand():
    assert pretrain.mean_lr_factor(2) == pytest.approx(7 / 12)
    assert pretrain.mean_lr_factor(0) == 1.0
    lam, lr = pretrain.derive({'a': 1e-3, 'b': 4e-5}, l1_scale=2.0, l1_travel=1.5,
                              iterations=600, halvings=2, momentum=0.9)
    assert lam == {'a': pytest.approx(2e-3), 'b': pytest.approx(8e-5)}
    # 0.15 / (1e-3 · 600 · 7/12) = 0.428571...; the scale moves λ, not the learning rate
    assert lr['a'] == pytest.approx(0.15 / 0.35)
    assert lr['b'] == pytest.approx(0.15 / (4e-5 * 600 * 7 / 12))


def test_torchvision_layout_of_a_shared_bn_encoder():
    state = {'backbone.conv1.weight': torch.ones(1), 'backbone.bn1.norm.weight': torch.ones(2),
             'backbone.layer1.0.downsample.1.norm.running_var': torch.ones(2),
             'decode_head.conv.weight': torch.ones(3), 'alpha': torch.ones(2)}
    assert sorted(pretrain.torchvision_backbone_state(state)) == [
        'bn1.weight', 'conv1.weight', 'layer1.0.downsample.1.running_var']


def test_mini_pretrains_and_leaves_lambda_to_the_calibration():
    protocol = get_protocol('mini')
    cfg = resolve_config(CEN, protocol, 3)
    assert cfg.model.backbone.pretrained is None  # filled in at run time
    assert cfg.pretraining['protocol'] == 'mini'
    assert cfg.pretraining['config'] == PRETRAIN_CONFIG
    assert cfg.pretraining['calibration_config'] == CALIBRATION_CONFIG
    assert pretrain._halvings(cfg, cfg.train_cfg.max_iters) == 2
    # the fine-tuning knobs are not part of the artifact: a λ sweep reuses the pretraining
    swept = dataclasses.replace(protocol, pretraining=dataclasses.replace(
        protocol.pretraining, l1_scale=4.0, l1_travel=3.0))
    assert pretrain.artifact_key(swept, 'abc') == pretrain.artifact_key(protocol, 'abc')
    longer = dataclasses.replace(protocol, pretraining=dataclasses.replace(
        protocol.pretraining, max_iters=2400))
    assert pretrain.artifact_key(longer, 'abc') != pretrain.artifact_key(protocol, 'abc')
    assert pretrain.artifact_key(protocol, 'abd') != pretrain.artifact_key(protocol, 'abc')


def test_a_config_key_overrides_the_protocol_spec():
    cfg = resolve_config(CEN, get_protocol('mini'), 0, overrides={'pretraining': {
        'l1_scale': 2.0}})
    assert cfg.pretraining['l1_scale'] == 2.0 and cfg.pretraining['max_iters'] == 1200


@pytest.mark.slow
def test_pretraining_is_made_once_and_every_row_starts_from_it(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv('FUSIONBENCH_CACHE', str(tmp_path / 'cache'))
    cfg = resolve_config(CEN, tiny, 0, work_dir=str(tmp_path / 'cen'))
    result = train_and_evaluate(cfg)
    made = result['pretraining']
    assert made['seed'] == 0 and set(made['sha256']) == {'backbone.pth', 'model.pth'}
    names = set(made['l1_weight'])
    assert len(names) == 16 and names == set(made['gamma_lr'])  # bn1 + bn2 of 8 blocks
    assert all(v > 0 for v in made['l1_weight'].values())
    folder = pretrain.artifact_dir(tiny, 0, made['code_fingerprint'], depth=18)
    assert made['key'] == os.path.basename(os.path.dirname(folder)).split('-', 1)[1]
    calibration = json.load(open(os.path.join(folder, 'calibration.json')))
    assert calibration['batches'] == 2
    assert made['l1_weight'] == pytest.approx(calibration['median_gradient'])  # scale 1
    assert not os.path.exists(os.path.join(folder, 'work'))  # only the artifact is kept

    # a second row of the same seed reuses it (training again would fail here)
    def no_second_pretraining(*args, **kwargs):
        raise AssertionError('pretrained twice')
    monkeypatch.setattr(pretrain, '_pretrain', no_second_pretraining)
    cfg = resolve_config(UNSHARED, tiny, 0, T1_UNSHARED, work_dir=str(tmp_path / 'unshared'))
    other = train_and_evaluate(cfg)
    assert other['pretraining']['sha256'] == made['sha256']
    # both streams of the unshared encoder start from the pretrained weights
    backbone = torch.load(os.path.join(folder, 'backbone.pth'), weights_only=True)
    assert 'layer1.0.bn1.weight' in backbone and 'fc.weight' not in backbone


def test_apply_pretraining_sets_lambda_per_layer_and_gamma_learning_rates(tiny, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv('FUSIONBENCH_CACHE', str(tmp_path / 'cache'))
    cfg = resolve_config(CEN, tiny, 1)
    names = [f'layer{s}.{b}.bn{n}' for s in range(1, 5) for b in range(2) for n in (1, 2)]
    fake = {'key': 'k', 'code_fingerprint': 'c', 'sha256': {}, 'metrics': {},
            'cpu_time_s': 0.0}

    def fake_artifact(protocol, seed, train, depth=None):
        folder = tmp_path / 'artifact'
        folder.mkdir(exist_ok=True)
        (folder / 'calibration.json').write_text(json.dumps(
            {'median_gradient': {n: 1e-3 for n in names},
             'gradient': {n: [[1e-3]] for n in names}}))
        return {**fake, 'dir': str(folder)}
    monkeypatch.setattr(pretrain, 'ensure_artifact', fake_artifact)
    applied = pretrain.apply_pretraining(cfg, train=None)
    assert cfg.model.fusion.l1_weight == {n: pytest.approx(1e-3) for n in names}
    assert cfg.model.backbone.pretrained.endswith('backbone.pth')
    keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    iterations = cfg.train_cfg.max_iters  # smoke: 12 iterations, halved twice (step 4)
    lr = 1.5 * 0.1 / (1e-3 * iterations * 7 / 12)
    base = cfg.optim_wrapper.optimizer.lr
    assert keys['layer3.1.bn2.weight']['lr_mult'] == pytest.approx(lr / base)
    assert keys['layer3.1.bn2.norm.weight'] == keys['layer3.1.bn2.weight']
    assert 'backbone' in keys  # the encoder's own multiplier stays for everything else
    assert applied['gamma_lr']['layer1.0.bn1'] == pytest.approx(lr)
    assert applied['gradient']['layer1.0.bn1'] == [[1e-3]]  # kept for the crossing order
    assert cfg.model.decode_head.init_cfg['prefix'] == 'decode_head.'


def test_a_config_without_pretraining_is_left_alone():
    cfg = resolve_config(CEN, get_protocol('paper'), 0)
    before = cfg.to_dict()
    assert pretrain.apply_pretraining(cfg, train=None) is None
    assert cfg.to_dict() == before


@pytest.mark.slow
def test_every_table2_model_kind_starts_from_the_pretrained_encoder(tiny, tmp_path, monkeypatch):
    """The fusion baselines' encoders (split streams, uni-modal, stage fusion) load it too."""
    from mmengine.registry import DefaultScope

    from fusionbench.experiments import grid
    from fusionbench.experiments.config_check import build_model
    from fusionbench.experiments.run import train_and_evaluate as train
    from fusionbench.experiments.tables import get_table

    monkeypatch.setenv('FUSIONBENCH_CACHE', str(tmp_path / 'cache'))
    wanted = {'unimodal_rgb/same', 'concat_late/common', 'self_attention_middle/same',
              'align_mmd_early/common'}
    jobs = [j for j in grid.plan(get_table('table2'), tiny, 1)
            if f'{j.row}/{j.cell}' in wanted]
    assert len(jobs) == len(wanted)
    from mmengine.config import Config
    for job in jobs:
        cfg = Config(job.resolved)
        applied = pretrain.apply_pretraining(cfg, train)
        backbone = torch.load(cfg.model.backbone.pretrained, weights_only=True)
        with DefaultScope.overwrite_default_scope('fusionbench'):
            model = build_model(cfg)
            model.init_weights()
        convs = {k: v for k, v in model.backbone.state_dict().items()
                 if k.endswith('conv1.weight') and 'layer1.0' in k}
        assert convs, job.key
        for key, value in convs.items():  # every stream's first block conv is the pretrained one
            assert torch.equal(value, backbone['layer1.0.conv1.weight']), (job.key, key)
        assert applied['seed'] == 0
