# The paper's NYUDv2 schedule for ResNet-101 (§4.1): SGD, momentum 0.9, weight decay 1e-5,
# encoder / decoder learning rates 5e-4 / 3e-3, both halved every 100 epochs, 300 epochs.
encoder_lr = 5e-4
decoder_lr = 3e-3
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=decoder_lr, momentum=0.9, weight_decay=1e-5),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=encoder_lr / decoder_lr)}))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=300, val_interval=300)
param_scheduler = [dict(type='StepLR', step_size=100, gamma=0.5, by_epoch=True)]
