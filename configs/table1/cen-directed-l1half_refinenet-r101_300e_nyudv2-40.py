# Table 1, row 5 (CEN): shared convolutions, private BNs, half-channel ℓ1, directed exchange.
# Rows 4 and 6 are this file with one override (tables.T1_NO_EXCHANGE, T1_L1_ALL); the protocols'
# λ calibration trains it too.
_base_ = [
    '../_base_/models/refinenet_r101_rgbd.py', '../_base_/datasets/nyudv2_rgbd.py',
    '../_base_/schedules/nyudv2_300e.py', '../_base_/default_runtime.py'
]
model = dict(fusion=dict(type='cen', exchange='directed', l1='half', threshold=2e-2,
                         l1_weight=5e-3, stages=(1, 2, 3, 4)))
