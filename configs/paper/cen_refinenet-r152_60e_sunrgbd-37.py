# CEN with Light-Weight RefineNet on ResNet-152, SUN RGB-D (37 classes): the ResNet-101 config
# (training, schedule of 60 epochs, CEN's λ and θ, single-scale test) with the deeper ImageNet
# encoder. Paths under checkpoints/ resolve against $FUSIONBENCH_WEIGHTS.
_base_ = './cen_refinenet-r101_60e_sunrgbd-37.py'
model = dict(backbone=dict(depth=152, pretrained='checkpoints/resnet152-394f9c45.pth'))
