"""The translation evaluator: FID, KID ×100, L1, PSNR and SSIM per output head, as an mmengine
metric (the task's default evaluator; :class:`TranslationMetric`).

mmengine's validation and test loops put the generator in eval mode and run it without
gradients (:meth:`~.model.MultiDomainPix2Pix.val_step`); the metric collects every head's
generated RGB and the real RGB of the evaluation split and computes, per head, the numbers of
:mod:`~fusionbench.tasks.translation.metrics` (FID / KID through torch-fidelity with seeded KID
subsets; L1 / PSNR / SSIM against the ground truth). Which feature network produced FID and
KID is kept in :attr:`TranslationMetric.extractor` and enters the run's record as
``feature_extractor`` (:meth:`TranslationMetric.record_fields`): ``label`` ``'surrogate'`` or
``'inception'``, the torch-fidelity extractor name, and for Inception the weights file's name
and SHA-256 (no machine path).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import torch
from mmengine.evaluator import BaseMetric

from fusionbench import registry
from fusionbench.tasks.translation.generator import ENSEMBLE
from fusionbench.tasks.translation.metrics import (fid_kid, pixel_metrics, resolve_extractor,
                                                   to_uint8)


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def describe_extractor(inception_weights: str | None = None) -> dict:
    """The record's ``feature_extractor``: ``{'label', 'name', 'weights_file', 'sha256'}``
    (the last two None for the surrogate). Raises ``FileNotFoundError`` as
    :func:`~.metrics.resolve_extractor`."""
    ext = resolve_extractor(inception_weights)
    weights = ext['weights']
    return {'label': ext['label'], 'name': ext['name'],
            'weights_file': os.path.basename(weights) if weights else None,
            'sha256': file_sha256(weights) if weights else None}


@registry.METRICS.register_module()
class TranslationMetric(BaseMetric):
    """FID, KID (×100), KID's std over subsets (×100), L1, PSNR (dB), SSIM per output head.

    Args:
        domains: names of the input domains in the model's order: head ``'k'`` is reported as
            ``domains[k]`` (default: the model's head names ``'0'`` ...).
        primary: the head reported without prefix (default: ``'ensemble'`` when present, else
            the first head).
        inception_weights: local InceptionV3 weights (else ``$FUSIONBENCH_INCEPTION``, else the
            surrogate extractor; :func:`~.metrics.resolve_extractor`).
        kid_subsets / kid_subset_size / seed: KID's subsets (drawn from
            ``numpy.random.RandomState(seed)``; size clipped to the number of images).

    Input (``process``): ``data_samples`` as :meth:`~.model.MultiDomainPix2Pix.val_step` returns
    them, ``[{'pred': {head: [3, H, W]}, 'target': [3, H, W]}] * N`` in ``[-1, 1]``.
    Output: ``{'<head>/FID', '<head>/KID', '<head>/KID_std', '<head>/L1', '<head>/PSNR',
    '<head>/SSIM'}`` plus the primary head's values unprefixed.
    Raises ``KeyError`` for a sample without a target, ``ValueError`` with fewer than 2 images.
    """

    default_prefix = None

    def __init__(self, domains: Sequence[str] | None = None, primary: str | None = None,
                 inception_weights: str | None = None, kid_subsets: int = 100,
                 kid_subset_size: int = 1000, seed: int = 0, collect_device: str = 'cpu',
                 prefix: str | None = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.domains = tuple(domains) if domains else ()
        self.primary = primary
        self.inception_weights = inception_weights
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.seed = seed
        self.extractor: dict | None = None

    def head_name(self, head: str) -> str:
        """The reported name of a model head (``'0'`` -> ``domains[0]``)."""
        if head.isdigit() and int(head) < len(self.domains):
            return self.domains[int(head)]
        return head

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if sample.get('target') is None:
                raise KeyError('TranslationMetric: a sample has no target RGB; evaluate on a '
                               'split that has the target domain')
            self.results.append({'target': sample['target'].detach().float().cpu(),
                                 'pred': {self.head_name(h): v.detach().float().cpu()
                                          for h, v in sample['pred'].items()}})

    def compute_metrics(self, results: list) -> dict[str, float]:
        real = torch.stack([r['target'] for r in results])
        real8 = to_uint8(real)
        heads = list(results[0]['pred'])
        metrics: dict[str, float] = {}
        label = None
        for head in heads:
            fake = torch.stack([r['pred'][head] for r in results])
            fidelity = fid_kid(to_uint8(fake), real8, self.inception_weights, self.kid_subsets,
                               self.kid_subset_size, self.seed)
            label = next(k[len('fid_'):] for k in fidelity if k.startswith('fid_'))
            pixels = pixel_metrics(fake, real)
            metrics.update({f'{head}/FID': fidelity[f'fid_{label}'],
                            f'{head}/KID': fidelity[f'kid_{label}'],
                            f'{head}/KID_std': fidelity[f'kid_std_{label}'],
                            f'{head}/L1': pixels['l1'], f'{head}/PSNR': pixels['psnr'],
                            f'{head}/SSIM': pixels['ssim']})
        if self.extractor is None or self.extractor['label'] != label:  # hashed once a run
            self.extractor = describe_extractor(self.inception_weights)
        primary = self.primary or (ENSEMBLE if ENSEMBLE in heads else heads[0])
        metrics.update({k.split('/', 1)[1]: v for k, v in list(metrics.items())
                        if k.startswith(primary + '/')})
        return metrics

    def record_fields(self) -> dict:
        """``{'feature_extractor': describe_extractor(...)}`` once the metric has run."""
        return {'feature_extractor': self.extractor} if self.extractor else {}
