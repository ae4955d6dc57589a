# Taskonomy (Zamir et al., CVPR 2018) for translation to RGB, the paper's §4.2: 1,000 training
# and 500 validation images of indoor scenes (`fusionbench/data/taskonomy.py` gives the layout;
# the lists train.txt / val.txt name the paper's samples). pix2pix's preprocessing: resize to
# 286 × 286, random 256 × 256 crop and horizontal flip for training; 256 × 256 for testing.
dataset_type = 'TaskonomyDataset'
data_root = 'data/taskonomy'
train_pipeline = [
    dict(type='LoadMultiModalFromFiles'),
    dict(type='MultiModalResize', scale=(286, 286), keep_ratio=False),
    dict(type='MultiModalRandomCrop', crop_size=(256, 256)),
    dict(type='MultiModalRandomFlip', prob=0.5),
    dict(type='PackMultiModalInputs'),
]
test_pipeline = [
    dict(type='LoadMultiModalFromFiles'),
    dict(type='MultiModalResize', scale=(256, 256), keep_ratio=False),
    dict(type='PackMultiModalInputs'),
]
# pix2pix: batch 1
train_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 modalities=('depth_zbuffer', 'normal', 'rgb'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 modalities=('depth_zbuffer', 'normal', 'rgb'), pipeline=test_pipeline))
test_dataloader = val_dataloader
