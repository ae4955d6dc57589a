# Table 2, the base of every cell in the commonly-used setting ("common"): two complete networks
# (encoder + decoder each, fusionbench.models.separate_streams), fused at the stages of the
# row's ``model.fusion`` override; per-modality heads + α-ensemble.
_base_ = ['./same_refinenet-r101_300e_nyudv2-40.py']
model = dict(type='SeparateStreamsSegmentor', backbone=dict(type='SeparateStreamsResNet'))
