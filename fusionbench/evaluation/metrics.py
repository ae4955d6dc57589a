"""Per-head segmentation metrics with mmseg's IoU logic.

Pixel accuracy (``aAcc``), mean accuracy (``mAcc``) and mean IoU (``mIoU``), in percent, from
one confusion (intersection/union histograms) accumulated over the whole evaluation set,
ignoring label 255 -- computed for every prediction head the model fills in (``pred_<head>``:
one per modality and the ensemble). mmseg's ``IoUMetric.intersect_and_union`` and
``total_area_to_metrics`` do the arithmetic; this class only loops over heads.

Keys: ``'<head>/<metric>'`` for every head, plus the primary head (the ensemble, or the only
modality) unprefixed so ``save_best='mIoU'`` works; and each head's per-class IoU,
``'<head>/IoU.<class>'`` (%, classes with an empty union left out; the primary head's unprefixed
too), which records keep and the report's per-class section reads.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmseg.evaluation import IoUMetric

from fusionbench.registry import METRICS

SUMMARY = {'aAcc': 'aAcc', 'IoU': 'mIoU', 'Acc': 'mAcc'}


def head_names(sample) -> list[str]:
    """Heads a predicted sample carries (fields ``pred_<head>`` other than ``pred_sem_seg``)."""
    return sorted(k[len('pred_'):] for k in sample.keys()
                  if k.startswith('pred_') and k != 'pred_sem_seg')


def summarise(areas: Sequence[torch.Tensor]) -> dict[str, float]:
    """``(intersect, union, pred, label)`` histograms ``[K]`` -> aAcc / mIoU / mAcc in %."""
    per_class = IoUMetric.total_area_to_metrics(*areas, metrics=['mIoU'])
    return {SUMMARY[k]: float(np.round(np.nanmean(np.asarray(v)) * 100, 2))
            for k, v in per_class.items()}


#: Prefix of the per-class IoU keys: ``'<head>/IoU.<class>'``.
CLASS_IOU = 'IoU.'


def class_iou(areas: Sequence[torch.Tensor], classes: Sequence[str]) -> dict[str, float]:
    """``{'IoU.<class>': IoU in %}`` from ``(intersect, union, pred, label)`` histograms ``[K]``;
    a class with an empty union (neither labelled nor predicted anywhere) is left out (its IoU
    is undefined, and mIoU skips it too)."""
    intersect, union = (np.asarray(a, dtype=float) for a in areas[:2])
    return {f'{CLASS_IOU}{name}': float(np.round(i / u * 100, 2))
            for name, i, u in zip(classes, intersect, union) if u > 0}


@METRICS.register_module()
class MultiHeadIoUMetric(BaseMetric):
    """mmseg's IoU metric for every prediction head of a multimodal segmentor.

    Args:
        ignore_index: label value left out (255).
        primary: the head reported without prefix (default: ``'ensemble'`` when present, else
            the first head).
    """

    default_prefix = None

    def __init__(self, ignore_index: int = 255, primary: str | None = None,
                 collect_device: str = 'cpu', prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = ignore_index
        self.primary = primary

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            label = sample['gt_sem_seg']['data'].squeeze()
            heads = head_names(sample) or ['sem_seg']
            self.results.append({
                head: IoUMetric.intersect_and_union(
                    sample[f'pred_{head}']['data'].squeeze().to(label), label, num_classes,
                    self.ignore_index)
                for head in heads})

    def compute_metrics(self, results: list) -> dict[str, float]:
        heads = list(results[0])
        classes = self.dataset_meta['classes']
        metrics, per_class = {}, {}
        for head in heads:
            areas = [sum(r[head][i] for r in results) for i in range(4)]
            for key, value in summarise(areas).items():
                metrics[f'{head}/{key}'] = value
            for key, value in class_iou(areas, classes).items():
                per_class[f'{head}/{key}'] = value
        metrics.update(per_class)
        primary = self.primary or ('ensemble' if 'ensemble' in heads else heads[0])
        metrics.update({k.split('/', 1)[1]: v for k, v in metrics.items()
                        if k.startswith(primary + '/')})
        return metrics
