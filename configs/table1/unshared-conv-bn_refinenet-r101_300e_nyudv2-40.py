# Table 1, row 1: unshared convolutions and BNs (two separate ResNets), no ℓ1, no exchange.
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(backbone=dict(type='UnsharedResNet'))
