# Table 2, Concat (late), commonly-used setting: one ResNet-101 per modality up to the fusion
# point, fused by concatenation + 1×1 conv back to C after stage 4 into one stream; one decoder
# (fusionbench.models.separate_streams).
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(
    type='SeparateStreamsSegmentor',
    backbone=dict(type='SeparateStreamsResNet'),
    fusion=dict(type='concat', keep_streams=False, stages=(4,)))
