"""Evaluation: per-head segmentation metrics, parameter accounting."""
from fusionbench.evaluation.metrics import MultiHeadIoUMetric
from fusionbench.evaluation.params import count, millions, parameter_counts

__all__ = ['MultiHeadIoUMetric', 'parameter_counts', 'count', 'millions']
