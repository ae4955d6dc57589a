# pix2pix's schedule (Isola et al. 2017; its public code's defaults n_epochs = n_epochs_decay =
# 100): Adam at 2e-4 for 100 epochs, then linearly to 0 over 100 more.
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200, val_interval=200)
param_scheduler = [dict(type='ConstantLR', factor=1.0, begin=0, end=100, by_epoch=True),
                   dict(type='LinearLR', start_factor=1.0, end_factor=0.0, begin=100, end=200,
                        by_epoch=True)]
