# pix2pix (Isola et al., CVPR 2017) for multi-domain translation to RGB, the paper's §4.2:
# U-Net-256 generator (8 down / 8 up blocks, 64 base filters, skips, dropout in the first three
# up-blocks, tanh), 70×70 PatchGAN discriminator, GAN + 100 × L1, Adam (lr 2e-4, β1 0.5) for
# both networks. The input domains are stacked in the batch; the encoder's instance norms are
# private per domain, every other parameter (the decoder's INs included) is shared; CEN
# exchanges channels after the encoder's normalised convs with λ = 1e-3, θ = 1e-2 (§4.2).
# A config names its input domains once, in model.data_preprocessor.domains (Taskonomy's
# names; the synthetic protocols map them onto the procedural scenes' domains), and sets
# model.generator.num_modalities to their number.
task = 'translation'
model = dict(
    type='MultiDomainPix2Pix',
    generator=dict(num_modalities=2, in_channels=3, out_channels=3, depth=8, ngf=64,
                   dropout_blocks=3,
                   fusion=dict(type='cen', threshold=1e-2, l1_weight=1e-3, layers='all'),
                   ensemble=True),
    discriminator=dict(ndf=64, num_layers=3),
    gan_mode='vanilla',
    l1_weight=100.0,
    # single-channel domains (depth, shade, texture) are repeated to 3 channels
    data_preprocessor=dict(type='TranslationDataPreprocessor',
                           domains=('depth_zbuffer', 'normal'), target='rgb', channels=3))
adam = dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)))
optim_wrapper = dict(constructor='PerNetworkOptimWrapperConstructor', generator=adam,
                     discriminator=adam)
# FID / KID: torch-fidelity's InceptionV3 weights from a local file (this key, else
# $FUSIONBENCH_INCEPTION); with neither, the labelled surrogate feature extractor. Paths under
# checkpoints/ resolve against $FUSIONBENCH_WEIGHTS. Nothing downloads.
inception_weights = None
# KID: torch-fidelity's defaults, 100 subsets of 1,000 images (clipped to the evaluation set:
# on a set of <= 1,000 images every subset is the whole set, and KID_std is 0).
val_evaluator = dict(type='TranslationMetric', kid_subsets=100, kid_subset_size=1000, seed=0)
test_evaluator = val_evaluator
