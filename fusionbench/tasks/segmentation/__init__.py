"""Semantic segmentation (the paper's §4.1, Tables 1-3): its metrics, evaluator, synthetic-data
pipelines and protocol adapter. The models live in :mod:`fusionbench.models`; each declares
this task by its class attribute ``task = 'segmentation'``."""
from fusionbench.tasks.segmentation.adapter import SegmentationAdapter
from fusionbench.tasks.segmentation.pipelines import (DEPTH_MEAN, DEPTH_STD, RGB_MEAN, RGB_STD,
                                                      normalization, synthetic_pipelines)
from fusionbench.tasks.segmentation.task import METRICS, SegmentationTask

__all__ = ['SegmentationTask', 'SegmentationAdapter', 'METRICS', 'RGB_MEAN', 'RGB_STD',
           'DEPTH_MEAN', 'DEPTH_STD', 'normalization', 'synthetic_pipelines']
