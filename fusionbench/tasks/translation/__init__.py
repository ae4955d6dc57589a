"""Multi-domain image-to-image translation (paper §4.2): pix2pix U-Net with fusion points in its
encoder, the PatchGAN discriminator, the GAN + L1 training step, FID/KID/L1/PSNR/SSIM, and the
task (its metrics as data)."""
from fusionbench.tasks.translation.discriminator import PatchDiscriminator
from fusionbench.tasks.translation.evaluator import TranslationMetric
from fusionbench.tasks.translation.generator import (CEN_TRANSLATION, ENSEMBLE, UNetGenerator,
                                                     fusion_layers)
from fusionbench.tasks.translation.model import (GAN_LOSSES, MultiDomainPix2Pix,
                                                 PerNetworkOptimWrapperConstructor)
from fusionbench.tasks.translation.preprocess import (DOMAIN_RANGES,
                                                      TranslationDataPreprocessor)
from fusionbench.tasks.translation.task import METRICS, TranslationTask

__all__ = ['UNetGenerator', 'PatchDiscriminator', 'MultiDomainPix2Pix',
           'PerNetworkOptimWrapperConstructor', 'CEN_TRANSLATION', 'ENSEMBLE', 'GAN_LOSSES',
           'fusion_layers', 'TranslationDataPreprocessor', 'DOMAIN_RANGES', 'TranslationTask',
           'METRICS', 'TranslationMetric']
