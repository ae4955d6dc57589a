# Table 2, Align (all), commonly-used setting: two complete networks (encoder + decoder each),
# aligned by an MMD alignment loss after each of stages 1-4; per-modality heads + α-ensemble
# (fusionbench.models.separate_streams).
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(
    type='SeparateStreamsSegmentor',
    backbone=dict(type='SeparateStreamsResNet'),
    fusion=dict(type='align_mmd', stages=(1, 2, 3, 4)))
