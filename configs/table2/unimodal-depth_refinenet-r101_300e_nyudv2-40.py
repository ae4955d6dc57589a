# Table 2, uni-modal depth: one RefineNet-ResNet-101 on depth alone, depth broadened to 3 channels
# by repetition (the paper's footnote 3), the same network in both settings.
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(
    modalities=('depth',),
    data_preprocessor=dict(type='MultiModalDataPreprocessor', modalities=('depth',), channels=3))
