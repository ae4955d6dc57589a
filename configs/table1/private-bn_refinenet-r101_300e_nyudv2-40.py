# Table 1, row 3: shared convolutions, private BNs, no ℓ1, no exchange: the bases' composition
# as is. Row 1 is this file with one override (tables.T1_UNSHARED: one encoder per modality).
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict()
