# Table 2, the base of every cell in CEN's setting ("same"): shared convs, private BNs, every
# modality's stream keeps propagating; per-modality heads + α-ensemble. The table's rows apply
# the method × stage × setting as cell overrides generated from the fusion cards
# (``model.fusion``; the uni-modal rows: ``model.modalities``), see
# fusionbench/experiments/tables.py.
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
