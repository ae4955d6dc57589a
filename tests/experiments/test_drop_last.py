"""Training loaders drop an incomplete last batch: PSPNet cannot train on one sample.

NYUDv2's 795 training frames on 4 processes leave ``ceil(795 / 4) mod 6 = 1`` sample in each
process's last batch; PSPNet's pyramid pooling BN (pool scale 1: one value per channel) then
fails. The paper configs' training loaders set ``drop_last=True`` (configurable).
"""
from __future__ import annotations

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import build_model, resolve_config

PSP = 'paper/cen_pspnet-r152_450e_nyudv2-40.py'
FRAMES = 7  # batch 6: a full batch, then one sample


def psp_loader(drop_last: bool | None = None):
    """The PSPNet row's training loader as configured, over 7 small synthetic frames."""
    cfg = resolve_config(PSP, get_protocol('paper'), seed=0)
    loader = cfg.train_dataloader.to_dict()
    smoke = resolve_config(PSP, get_protocol('smoke'), seed=0).train_dataloader.dataset.to_dict()
    loader.update(num_workers=0, persistent_workers=False,
                  dataset=dict(smoke, num_scenes=FRAMES))
    if drop_last is not None:
        loader['drop_last'] = drop_last
    with DefaultScope.overwrite_default_scope('fusionbench'):
        return cfg, Runner.build_dataloader(loader, seed=0)


def small_psp_model(cfg):
    cfg = cfg.copy()
    cfg.model.backbone.update(depth=18, width=0.125, pretrained=None)
    cfg.model.decode_head.width = 0.0625
    cfg.model.num_classes = 14
    return build_model(cfg).train()


def train_steps(model, loader):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for batch in loader:
        data = model.data_preprocessor(batch, True)
        loss = sum(model(**data, mode='loss').values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize('config', [PSP, 'paper/cen_refinenet-r101_60e_sunrgbd-37.py',
                                    'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'])
def test_paper_training_loaders_drop_the_last_incomplete_batch(config):
    cfg = resolve_config(config, get_protocol('paper'), seed=0)
    assert cfg.train_dataloader.drop_last is True
    assert cfg.val_dataloader.get('drop_last', False) is False  # every test frame is scored


def test_psp_loader_yields_only_full_batches():
    _, loader = psp_loader()
    assert [len(batch['data_samples']) for batch in loader] == [6]
    _, loader = psp_loader(drop_last=False)  # configurable
    assert [len(batch['data_samples']) for batch in loader] == [6, 1]


@pytest.mark.slow
def test_pspnet_trains_through_an_epoch_with_a_one_sample_remainder():
    torch.manual_seed(0)
    cfg, loader = psp_loader()
    train_steps(small_psp_model(cfg), loader)  # one full batch, the remainder dropped
    _, loader = psp_loader(drop_last=False)
    with pytest.raises(ValueError, match='Expected more than 1 value per channel'):
        train_steps(small_psp_model(cfg), loader)  # the one-sample batch
