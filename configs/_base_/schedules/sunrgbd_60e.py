# The paper's SUN RGB-D schedule: halved every 20 epochs, 60 epochs.
_base_ = ['./nyudv2_300e.py']
train_cfg = dict(max_epochs=60, val_interval=60)
param_scheduler = [dict(type='StepLR', step_size=20, gamma=0.5, by_epoch=True)]
