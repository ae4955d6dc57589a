"""The segmentation task: mIoU / mAcc / aAcc (higher is better, in %, one decimal as the paper)
reported per head by :class:`~fusionbench.evaluation.metrics.MultiHeadIoUMetric`."""
from __future__ import annotations

from fusionbench import registry
from fusionbench.data.transforms import IGNORE_INDEX
from fusionbench.tasks.base import MetricInfo, Task, metric_table
from fusionbench.tasks.segmentation.adapter import SegmentationAdapter

METRICS = metric_table(
    MetricInfo('mIoU', higher_is_better=True, decimals=1, unit='%',
               description='mean intersection over union over the classes'),
    MetricInfo('mAcc', higher_is_better=True, decimals=1, unit='%',
               description='mean per-class pixel accuracy'),
    MetricInfo('aAcc', higher_is_better=True, decimals=1, unit='%',
               description='pixel accuracy over all labelled pixels'),
)


@registry.TASKS.register_module(name='segmentation')
class SegmentationTask(Task):
    """Semantic segmentation of multimodal (RGB-D) scenes, the paper's §4.1."""

    name = 'segmentation'
    description = 'semantic segmentation (mean IoU, %)'
    metrics = METRICS
    primary_metric = 'mIoU'
    adapter_class = SegmentationAdapter

    def evaluator(self) -> dict:
        """Per-head IoU metrics over the labelled pixels (label 255 ignored)."""
        return dict(type='MultiHeadIoUMetric', ignore_index=IGNORE_INDEX)
