# Table 2, Self-att. (late), same setting as CEN: shared convs, private BNs, every modality's
# stream keeps propagating; an SSMA self-attention block after stage 4; per-modality heads +
# α-ensemble.
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(fusion=dict(type='self_attention', keep_streams=True, stages=(4,)))
