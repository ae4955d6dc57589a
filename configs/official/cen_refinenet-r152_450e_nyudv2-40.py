# The paper-protocol CEN RefineNet-ResNet-152 NYUDv2 row as the authors' public code trains it
# (fidelity='official', fusionbench/fidelity.py): as cen_refinenet-r101_300e_nyudv2-40.py, with
# the public code's ResNet-152 stages of 150 epochs (NUM_SEGM_EPOCHS = [150] * 3).
_base_ = '../paper/cen_refinenet-r152_450e_nyudv2-40.py'
fidelity = 'official'
model = dict(fusion=dict(exchange='all', l1='half'))
