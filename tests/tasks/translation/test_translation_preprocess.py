"""Packed multimodal batches (e.g. from the procedural scenes) -> the translation model's input."""
from __future__ import annotations

import pytest
import torch
from mmengine.dataset import pseudo_collate
from torch.utils.data import DataLoader

from fusionbench.data.synthetic import SyntheticScenes
from fusionbench.tasks.translation import (CEN_TRANSLATION, MultiDomainPix2Pix,
                                           TranslationDataPreprocessor)
from fusionbench.tasks.translation.preprocess import to_unit_range


def test_to_unit_range_hand_values():
    x = torch.tensor([0.0, 5.0, 10.0, 12.0, -1.0])
    assert to_unit_range(x, 0.0, 10.0).tolist() == [-1.0, 0.0, 1.0, 1.0, -1.0]


def test_stacks_domains_and_target():
    pre = TranslationDataPreprocessor(domains=('depth', 'normal'))
    n = 2
    batch = {'inputs': [{'depth': torch.full((1, 4, 4), 5.0), 'normal': torch.zeros(3, 4, 4),
                         'rgb': torch.full((3, 4, 4), 255.0, dtype=torch.float32)}
                        for _ in range(n)]}
    out = pre(batch)
    assert out['inputs'].shape == (2 * n, 3, 4, 4) and out['target'].shape == (n, 3, 4, 4)
    assert torch.all(out['inputs'][:n] == 0.0)     # 5 m in [0, 10] -> 0, repeated to 3 channels
    assert torch.all(out['inputs'][n:] == 0.0)     # normal 0 -> 0
    assert torch.all(out['target'] == 1.0)


def test_errors():
    with pytest.raises(KeyError, match="no value range for \\['curvature'\\]"):
        TranslationDataPreprocessor(domains=('curvature',))
    pre = TranslationDataPreprocessor(domains=('depth',))
    with pytest.raises(KeyError, match="lacks domain 'depth'"):
        pre({'inputs': [{'rgb': torch.zeros(3, 4, 4)}]})
    with pytest.raises(ValueError, match='differ in size'):
        pre({'inputs': [{'depth': torch.zeros(1, 4, 4)}, {'depth': torch.zeros(1, 8, 8)}]})


def test_scenes_to_training_step(tmp_path):
    """SyntheticScenes' reshading + edge_texture -> RGB through one GAN step."""
    ds = SyntheticScenes(str(tmp_path), num_scenes=4, height=16, width=16, seed=3,
                         modalities=('reshading', 'edge_texture', 'rgb'),
                         pipeline=[dict(type='PackMultiModalInputs')])
    loader = DataLoader(ds, batch_size=2, collate_fn=pseudo_collate)
    torch.manual_seed(0)
    model = MultiDomainPix2Pix(
        generator=dict(num_modalities=2, in_channels=1, depth=4, ngf=4, fusion=CEN_TRANSLATION),
        discriminator=dict(ndf=4, num_layers=1),
        data_preprocessor=dict(type='TranslationDataPreprocessor',
                               domains=('reshading', 'edge_texture')))
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    wrappers = OptimWrapperDict(
        generator=OptimWrapper(torch.optim.Adam(model.generator.parameters(), 2e-4)),
        discriminator=OptimWrapper(torch.optim.Adam(model.discriminator.parameters(), 2e-4)))
    batch = next(iter(loader))
    packed = model.data_preprocessor(batch)
    # two single-channel domains: C = lcm(1, 1) = 1
    assert packed['inputs'].shape == (4, 1, 16, 16) and packed['target'].shape == (2, 3, 16, 16)
    assert packed['inputs'].min() >= -1 and packed['inputs'].max() <= 1
    logs = model.train_step(batch, wrappers)
    assert torch.isfinite(logs['loss_g']) and torch.isfinite(logs['loss_d'])
    assert model.discriminator.in_channels == 2 * 1 + 3
