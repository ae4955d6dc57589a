# The uni-modal RGB baseline on ResNet-152, SUN RGB-D (37 classes): the ResNet-101 RGB config
# (training, schedule of 60 epochs, single-scale test) with the deeper ImageNet encoder. Paths
# under checkpoints/ resolve against $FUSIONBENCH_WEIGHTS.
_base_ = './rgb_refinenet-r101_60e_sunrgbd-37.py'
model = dict(backbone=dict(depth=152, pretrained='checkpoints/resnet152-394f9c45.pth'))
