"""Real NYUDv2 frames through the paper config's test pipeline, a tiny model and the metric.

The 8 labelled frames of the shared sample (``../shared/data/nyudv2-sample``) are laid out as
``python -m fusionbench data prepare nyudv2`` would, read by the data set and pipeline of
``configs/paper/cen_refinenet-r101_300e_nyudv2-40.py``, collated, stacked by the segmentor's
data preprocessor, predicted by a tiny CEN model (single- and multi-scale), and scored by
MultiHeadIoUMetric -- whose numbers are checked against a confusion matrix computed with NumPy.
Skipped when the shared sample is absent.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from fusionbench import registry
from fusionbench.data.fileio import read_image, write_png
from fusionbench.evaluation.metrics import MultiHeadIoUMetric
from fusionbench.experiments.run import config_path

pytestmark = pytest.mark.real_data

PAPER_CONFIG = 'paper/cen_refinenet-r101_300e_nyudv2-40.py'
NUM_CLASSES = 40


@pytest.fixture
def nyu_root(nyudv2_sample: Path, tmp_path: Path) -> Path:
    """The sample's 8 test frames in the prepared NYUDv2 layout (masks: label - 1, 0 -> 255)."""
    root = tmp_path / 'nyudv2'
    ids = (nyudv2_sample / 'test.txt').read_text().split()
    for sample_id in ids:
        for folder in ('rgb', 'depth'):
            (root / folder).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(nyudv2_sample / folder / f'{sample_id}.png',
                            root / folder / f'{sample_id}.png')
        label40 = read_image(nyudv2_sample / 'label40' / f'{sample_id}.png')
        (root / 'masks').mkdir(exist_ok=True)
        write_png(root / 'masks' / f'{sample_id}.png',
                  np.where(label40 == 0, 255, label40.astype(np.int64) - 1).astype(np.uint8))
    (root / 'val.txt').write_text('\n'.join(ids) + '\n')
    (root / 'train.txt').write_text('\n'.join(ids[:2]) + '\n')
    return root


def paper_dataset(root: Path):
    cfg = Config.fromfile(config_path(PAPER_CONFIG))
    dataset_cfg = cfg.val_dataloader.dataset.to_dict()
    dataset_cfg['data_root'] = str(root)
    return cfg, registry.build(registry.DATASETS, dataset_cfg)


def tiny_model(test_cfg=None):
    torch.manual_seed(0)
    model = registry.build(registry.MODELS, dict(
        type='MultiModalSegmentor', modalities=('rgb', 'depth'), num_classes=NUM_CLASSES,
        backbone=dict(type='MultiModalResNet', depth=18, width=0.125),
        decode_head=dict(type='RefineNetDecoder', width=0.0625),
        fusion=dict(type='cen', exchange='directed', l1='half', threshold=2e-2, l1_weight=5e-3),
        test_cfg=test_cfg))
    model.init_weights()
    return model.eval()


def numpy_scores(pairs) -> dict[str, float]:
    """aAcc / mAcc / mIoU (%) from (pred, gt) arrays, ignoring 255, by a confusion matrix."""
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for pred, gt in pairs:
        keep = gt != 255
        confusion += np.bincount(gt[keep].astype(np.int64) * NUM_CLASSES + pred[keep],
                                 minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)
    tp = np.diag(confusion).astype(float)
    gt_count, pred_count = confusion.sum(1), confusion.sum(0)
    with np.errstate(invalid='ignore', divide='ignore'):
        acc = tp / gt_count
        iou = tp / (gt_count + pred_count - tp)
    return {'aAcc': 100 * tp.sum() / confusion.sum(), 'mAcc': 100 * np.nanmean(acc),
            'mIoU': 100 * np.nanmean(iou)}


def test_real_frames_through_pipeline_model_and_metric(nyu_root: Path):
    cfg, dataset = paper_dataset(nyu_root)
    assert len(dataset) == 8 and dataset.metainfo['classes'][0] == 'wall'
    model = tiny_model()
    metric = MultiHeadIoUMetric(ignore_index=255)
    metric.dataset_meta = dataset.metainfo
    pairs = {'rgb': [], 'depth': [], 'ensemble': []}
    for start in (0, 4):
        batch = pseudo_collate([dataset[i] for i in range(start, start + 4)])
        assert batch['inputs']['rgb'][0].shape == (3, 480, 640)
        assert batch['inputs']['depth'][0].shape == (1, 480, 640)
        stacked = model.data_preprocessor(batch, training=False)
        assert tuple(stacked['inputs'].shape) == (8, 3, 480, 640)  # [M*N, C, H, W]
        outputs = model.val_step(batch)
        assert len(outputs) == 4
        for out in outputs:
            gt = out.gt_sem_seg.data
            assert tuple(gt.shape) == (1, 480, 640)
            for head in pairs:
                pred = out.get(f'pred_{head}').data
                assert tuple(pred.shape) == (1, 480, 640) and int(pred.max()) < NUM_CLASSES
                pairs[head].append((pred.squeeze(0).numpy(), gt.squeeze(0).numpy()))
        metric.process(batch, [o.to_dict() for o in outputs])
    scores = metric.compute_metrics(metric.results)

    for head, head_pairs in pairs.items():
        want = numpy_scores(head_pairs)
        for name in ('aAcc', 'mAcc', 'mIoU'):
            assert 0.0 <= scores[f'{head}/{name}'] <= 100.0
            assert scores[f'{head}/{name}'] == pytest.approx(want[name], abs=0.01), (head, name)
    assert scores['mIoU'] == scores['ensemble/mIoU']
    # the real labels: many classes, a sizeable unlabelled (255) share that must be ignored
    labels = np.concatenate([gt.ravel() for _, gt in pairs['rgb']])
    assert 0.02 < (labels == 255).mean() < 0.6 and len(np.unique(labels[labels != 255])) > 10


def test_real_frames_oracle_and_multi_scale(nyu_root: Path):
    _, dataset = paper_dataset(nyu_root)
    # A prediction equal to the label scores 100 on every metric (255 pixels ignored).
    metric = MultiHeadIoUMetric()
    metric.dataset_meta = dataset.metainfo
    samples = []
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        gt = sample.gt_sem_seg.data
        sample.set_field(type(sample.gt_sem_seg)(data=torch.where(gt == 255, 0, gt)), 'pred_rgb')
        samples.append(sample.to_dict())
    metric.process({}, samples)
    scores = metric.compute_metrics(metric.results)
    per_class = {k: v for k, v in scores.items() if 'IoU.' in k}
    assert {k: v for k, v in scores.items() if k not in per_class} == {
        'rgb/aAcc': 100.0, 'rgb/mIoU': 100.0, 'rgb/mAcc': 100.0,
        'aAcc': 100.0, 'mIoU': 100.0, 'mAcc': 100.0}
    assert per_class and set(per_class.values()) == {100.0}  # the classes the frames have

    # Multi-scale + flip testing on two real frames: same shapes, one label map per head.
    model = tiny_model(dict(mode='whole', scales=(0.75, 1.0, 1.25), flip=True))
    outputs = model.val_step(pseudo_collate([dataset[0], dataset[1]]))
    for out in outputs:
        for head in ('rgb', 'depth', 'ensemble'):
            assert tuple(out.get(f'pred_{head}').data.shape) == (1, 480, 640)
