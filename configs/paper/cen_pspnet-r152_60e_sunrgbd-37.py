# CEN with PSPNet (mmseg's PSPHead with private BNs per modality, on a dilated ResNet of output
# stride 8) on ResNet-152, SUN RGB-D (37 classes, 5285 train / 5050 test): RGB and depth stacked in
# the batch, shared convolutions, private BNs, directed channel exchange after every 3x3 conv's BN
# of stages 1-4 with half-channel l1 (lambda 5e-3, theta 2e-2), alpha-ensemble of the two heads.
# Paper §4.1: random rescale 0.5-2 + crop 500 + flip, batch 6, SGD momentum 0.9, weight decay 1e-5,
# encoder / decoder LR 5e-4 / 3e-3 halved every 20 epochs over 60 epochs; ImageNet init.
# Single-scale test (multi-scale: Table 3's MULTISCALE_TEST). Paths under data/ and checkpoints/
# resolve against $FUSIONBENCH_DATA / $FUSIONBENCH_WEIGHTS (`python -m fusionbench preflight` lists
# what is missing). The PSPNet model is `_base_/models/pspnet_r152_rgbd.py`.
_base_ = [
    '../_base_/models/pspnet_r152_rgbd.py', '../_base_/datasets/sunrgbd_rgbd.py',
    '../_base_/schedules/sunrgbd_60e.py', '../_base_/default_runtime.py'
]
model = dict(num_classes=37)  # CEN, single-scale test: the model base's
