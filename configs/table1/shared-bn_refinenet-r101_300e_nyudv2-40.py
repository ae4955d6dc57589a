# Table 1, row 2: shared convolutions AND shared BNs, no ℓ1, no exchange (also the protocols'
# pretraining config).
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(backbone=dict(norm_sharing='shared'))
