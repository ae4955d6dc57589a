"""MultiHeadIoUMetric against a confusion matrix computed by hand (ignore label 255)."""
from __future__ import annotations

import math

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from fusionbench.evaluation.metrics import MultiHeadIoUMetric

CLASSES = ('a', 'b', 'c')


def sample(gt, **preds) -> dict:
    s = SegDataSample()
    s.gt_sem_seg = PixelData(data=torch.tensor(gt)[None])
    for head, pred in preds.items():
        s.set_field(PixelData(data=torch.tensor(pred)[None]), f'pred_{head}')
    return s.to_dict()


def run_metric(samples, **kwargs) -> dict:
    metric = MultiHeadIoUMetric(**kwargs)
    metric.dataset_meta = {'classes': CLASSES}
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_against_hand_computed_confusion():
    # Two images; 255 marks ignored pixels (their predictions must not count).
    gt1, pred1 = [[0, 0, 1], [1, 2, 255]], [[0, 1, 1], [1, 2, 0]]
    gt2, pred2 = [[2, 2, 255], [0, 1, 255]], [[2, 0, 1], [0, 1, 2]]
    # Confusion over the 9 labelled pixels (rows: gt, cols: pred):
    #   gt 0: pred 0 x2, pred 1 x1          -> 3 pixels
    #   gt 1: pred 1 x3                     -> 3 pixels
    #   gt 2: pred 2 x2, pred 0 x1          -> 3 pixels
    confusion = [[2, 1, 0], [0, 3, 0], [1, 0, 2]]
    gt_count = [sum(r) for r in confusion]
    pred_count = [sum(confusion[i][k] for i in range(3)) for k in range(3)]
    tp = [confusion[k][k] for k in range(3)]
    a_acc = 100 * sum(tp) / sum(gt_count)                              # 7/9
    m_acc = 100 * sum(t / g for t, g in zip(tp, gt_count)) / 3        # (2/3 + 1 + 2/3) / 3
    m_iou = 100 * sum(t / (g + p - t) for t, g, p in zip(tp, gt_count, pred_count)) / 3
    # IoU: a 2/(3+3-2) = 1/2, b 3/(3+4-3) = 3/4, c 2/(3+2-2) = 2/3

    out = run_metric([sample(gt1, rgb=pred1, ensemble=pred1),
                      sample(gt2, rgb=pred2, ensemble=gt2)], ignore_index=255)
    assert out['rgb/aAcc'] == pytest.approx(a_acc, abs=0.01)
    assert a_acc == pytest.approx(100 * 7 / 9)
    assert out['rgb/mAcc'] == pytest.approx(m_acc, abs=0.01)
    assert out['rgb/mIoU'] == pytest.approx(m_iou, abs=0.01)
    assert out['rgb/mIoU'] == pytest.approx(100 * (1 / 2 + 3 / 4 + 2 / 3) / 3, abs=0.01)
    # The ensemble is the primary head: reported unprefixed as well.
    assert out['mIoU'] == out['ensemble/mIoU'] and out['aAcc'] == out['ensemble/aAcc']
    # per-class IoU, as listed above
    assert (out['rgb/IoU.a'], out['rgb/IoU.b'], out['rgb/IoU.c']) == (50.0, 75.0, 66.67)
    # ensemble: image 1 as rgb, image 2 perfect -> gt 0: 2/3 right, 1: 3/3, 2: 3/3.
    assert out['ensemble/aAcc'] == pytest.approx(100 * 8 / 9, abs=0.01)
    assert out['ensemble/mAcc'] == pytest.approx(100 * (2 / 3 + 1 + 1) / 3, abs=0.01)


def test_ignored_pixels_never_count_and_absent_classes_are_skipped():
    # Class c never appears in gt nor prediction: NaN IoU, left out of the mean.
    gt, pred = [[0, 1, 255, 255]], [[0, 1, 2, 2]]
    out = run_metric([sample(gt, rgb=pred)])
    assert out['rgb/aAcc'] == 100.0 and out['rgb/mIoU'] == 100.0 and out['rgb/mAcc'] == 100.0
    assert 'rgb/IoU.c' not in out and out['rgb/IoU.a'] == 100.0  # undefined IoU left out
    # a class in gt but never predicted has IoU 0 (not NaN): it counts in the mean
    gt2, pred2 = [[0, 1, 2, 2]], [[0, 1, 1, 1]]
    out = run_metric([sample(gt2, rgb=pred2)])
    assert out['rgb/aAcc'] == 50.0
    assert out['rgb/mIoU'] == pytest.approx(100 * (1 + 1 / 3 + 0) / 3, abs=0.01)
    assert not any(math.isnan(v) for v in out.values())


def test_primary_falls_back_to_the_only_head():
    out = run_metric([sample([[0, 1]], rgb=[[0, 0]])])
    assert set(out) == {'rgb/aAcc', 'rgb/mIoU', 'rgb/mAcc', 'aAcc', 'mIoU', 'mAcc',
                        'rgb/IoU.a', 'rgb/IoU.b', 'IoU.a', 'IoU.b'}
    assert out['aAcc'] == 50.0
