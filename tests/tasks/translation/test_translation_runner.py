"""mmengine's Runner drives the two-optimiser training step end to end (2 iterations)."""
from __future__ import annotations

import torch
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

from fusionbench.tasks.translation import CEN_TRANSLATION


class _Pairs(Dataset):
    """8 samples: two 3-channel domains and an RGB target, in [-1, 1]."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(8, 2, 3, 16, 16, generator=g) * 2 - 1
        self.y = torch.rand(8, 3, 16, 16, generator=g) * 2 - 1

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return dict(inputs=[self.x[i, 0], self.x[i, 1]], target=self.y[i])


def test_runner_trains_both_networks(tmp_path):
    adam = dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))
    runner = Runner(
        model=dict(type='MultiDomainPix2Pix',
                   generator=dict(num_modalities=2, depth=4, ngf=4, fusion=CEN_TRANSLATION),
                   discriminator=dict(ndf=4, num_layers=1)),
        work_dir=str(tmp_path), default_scope='fusionbench',
        train_dataloader=DataLoader(_Pairs(), batch_size=2, shuffle=False),
        train_cfg=dict(by_epoch=False, max_iters=2),
        optim_wrapper=dict(constructor='PerNetworkOptimWrapperConstructor', generator=adam,
                           discriminator=adam),
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=1)),
        env_cfg=dict(dist_cfg=dict(backend='gloo')), randomness=dict(seed=0),
        log_level='WARNING')
    g0 = {k: v.clone() for k, v in runner.model.generator.state_dict().items()}
    d0 = {k: v.clone() for k, v in runner.model.discriminator.state_dict().items()}
    runner.train()
    assert runner.iter == 2
    g1, d1 = runner.model.generator.state_dict(), runner.model.discriminator.state_dict()
    assert not torch.equal(g0['down.0.conv.weight'], g1['down.0.conv.weight'])
    assert not torch.equal(d0['body.0.weight'], d1['body.0.weight'])
    scalars = runner.message_hub.log_scalars
    assert {'train/loss_d', 'train/loss_g', 'train/loss_l1'} <= set(scalars)
    assert {'generator', 'discriminator'} == set(runner.optim_wrapper.keys())
