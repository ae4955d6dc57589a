# The paper-protocol CEN RefineNet-ResNet-101 NYUDv2 row as the authors' public code trains it
# (fidelity='official', fusionbench/fidelity.py): frozen BN statistics, RefineNet residual
# relu(x) + conv(relu(conv(relu(x)))) and align_corners=True upsampling, λ 2e-4 added once per
# output head (3 times), three 100-epoch LR stages with the optimisers re-created (encoder
# 5e-4 / 2.5e-4 / 1e-4, decoder 3e-3 / 1.5e-3 / 7e-4). Exchange: the public code exchanges over
# all channels while penalising each modality's own half (exchange='all', l1='half').
_base_ = '../paper/cen_refinenet-r101_300e_nyudv2-40.py'
fidelity = 'official'
model = dict(fusion=dict(exchange='all', l1='half'))
