# NYUDv2, 40 classes, 795 train / 654 test, in the layout of the paper's public code
# (`python -m fusionbench data prepare nyudv2` makes it from the official .mat files).
# Training: random rescale 0.5-2.0, random 500×500 crop, flip (the paper's §4.1); batch 6.
# SUN RGB-D's base (`sunrgbd_rgbd.py`) inherits this file and changes only the data set.
dataset_type = 'NYUDv2Dataset'
data_root = 'data/nyudv2'
data_modalities = ('rgb', 'depth')
crop_size = (500, 500)
normalize = dict(
    type='NormalizeModalities',
    mean=dict(rgb=(123.675, 116.28, 103.53), depth=(2.8,)),
    std=dict(rgb=(58.395, 57.12, 57.375), depth=(1.4,)))
train_pipeline = [
    dict(type='LoadMultiModalFromFiles'),
    dict(type='LoadSegLabel'),
    dict(type='MultiModalRandomResize', ratio_range=(0.5, 2.0)),
    dict(type='MultiModalRandomCrop', crop_size=crop_size),
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='MultiModalPad', size=crop_size),
    normalize,
    dict(type='PackMultiModalInputs'),
]
test_pipeline = [
    dict(type='LoadMultiModalFromFiles'),
    dict(type='LoadSegLabel'),
    normalize,
    dict(type='PackMultiModalInputs'),
]
# drop_last: an incomplete last batch is dropped, as the public code's training loader does; a
# one-sample batch would crash PSPNet's pyramid pooling BN (1 value per channel at pool scale 1).
# Per process the last batch holds ceil(N / processes) mod batch_size samples (1 for SUN RGB-D on
# 8 processes). Set drop_last=False to train on it anyway.
train_dataloader = dict(
    batch_size=6, num_workers=4, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', modalities=data_modalities,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', modalities=data_modalities,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
