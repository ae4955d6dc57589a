# Table 2, Average (not in the paper's Table 2) (late), same setting as CEN: shared convs, private
# BNs, every modality's stream keeps propagating; the mean of the modalities after stage 4; per-
# modality heads + α-ensemble.
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(fusion=dict(type='average', keep_streams=True, stages=(4,)))
