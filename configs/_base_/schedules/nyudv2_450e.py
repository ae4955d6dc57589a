# The paper's NYUDv2 schedule for ResNet-152: halved every 150 epochs, 450 epochs.
_base_ = ['./nyudv2_300e.py']
train_cfg = dict(max_epochs=450, val_interval=450)
param_scheduler = [dict(type='StepLR', step_size=150, gamma=0.5, by_epoch=True)]
