"""The translation task (paper §4.2, Tables 4-5): its metrics as data.

FID and KID (KID reported × 100, as the paper's "KID (×10^-2)") are lower-is-better and printed
with two decimals, as the paper prints them; L1 is lower-is-better, PSNR and SSIM
higher-is-better (:mod:`~fusionbench.tasks.translation.metrics` computes all five). The
evaluator is :class:`~fusionbench.tasks.translation.evaluator.TranslationMetric`; the protocol
adapter (:class:`~fusionbench.tasks.translation.adapter.TranslationAdapter`) runs translation
configs on the synthetic scenes' domains at the protocol's size, scale and budget.
"""
from __future__ import annotations

from fusionbench import registry
from fusionbench.tasks.base import MetricInfo, Task, metric_table
from fusionbench.tasks.translation.adapter import TranslationAdapter

METRICS = metric_table(
    MetricInfo('FID', higher_is_better=False, decimals=2,
               description='Fréchet distance of generated and real RGB features'),
    MetricInfo('KID', higher_is_better=False, decimals=2, unit='×10⁻²',
               description='kernel inception distance × 100'),
    MetricInfo('L1', higher_is_better=False, decimals=3,
               description='mean absolute error in [0, 1]'),
    MetricInfo('PSNR', higher_is_better=True, decimals=2, unit='dB',
               description='peak signal-to-noise ratio, per image, averaged'),
    MetricInfo('SSIM', higher_is_better=True, decimals=3,
               description='structural similarity (11 × 11 Gaussian window)'),
)


@registry.TASKS.register_module(name='translation')
class TranslationTask(Task):
    """Multi-domain image-to-image translation to RGB (pix2pix with fusion points)."""

    name = 'translation'
    description = 'image-to-image translation (FID, KID ×100: lower is better)'
    metrics = METRICS
    primary_metric = 'FID'
    adapter_class = TranslationAdapter

    def evaluator(self) -> dict:
        """FID / KID ×100 / L1 / PSNR / SSIM per head (the adapter adds the domain names and the
        config's Inception weights)."""
        return dict(type='TranslationMetric')
