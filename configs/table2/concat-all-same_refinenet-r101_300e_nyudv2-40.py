# Table 2, Concat (all), same setting as CEN: shared convs, private BNs, every modality's stream
# keeps propagating; concatenation + 1×1 conv back to C after each of stages 1-4; per-modality
# heads + α-ensemble.
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(fusion=dict(type='concat', keep_streams=True, stages=(1, 2, 3, 4)))
