# The uni-modal RGB baseline: Light-Weight RefineNet on ResNet-101, SUN RGB-D (37 classes, 5285
# train / 5050 test), RGB only, trained as the CEN configs. Paper §4.1: random rescale 0.5-2 + crop
# 500 + flip, batch 6, SGD momentum 0.9, weight decay 1e-5, encoder / decoder LR 5e-4 / 3e-3 halved
# every 20 epochs over 60 epochs; ImageNet init. Single-scale test (multi-scale: Table 3's
# MULTISCALE_TEST). Paths under data/ and checkpoints/ resolve against $FUSIONBENCH_DATA /
# $FUSIONBENCH_WEIGHTS (`python -m fusionbench preflight` lists what is missing).
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/sunrgbd_rgbd.py',
    '../_base_/schedules/sunrgbd_60e.py', '../_base_/default_runtime.py'
]
model = dict(
    modalities=('rgb',),
    ensemble=False,
    num_classes=37,
    backbone=dict(depth=101, pretrained='checkpoints/resnet101-63fe2227.pth'),
    test_cfg=dict(mode='whole', scales=(1.0,), flip=False),
)
train_dataloader = dict(dataset=dict(modalities=('rgb',)))
val_dataloader = dict(dataset=dict(modalities=('rgb',)))
test_dataloader = val_dataloader
