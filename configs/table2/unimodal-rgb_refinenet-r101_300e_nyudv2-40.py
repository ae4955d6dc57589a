# Table 2, uni-modal RGB: one RefineNet-ResNet-101 on RGB alone (the same network in both
# settings).
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(modalities=('rgb',))
