# SUN RGB-D, 37 classes, 5285 train / 5050 test (the public split the paper uses), in the
# per-split folder layout of fusionbench.data.sunrgbd (train/ and test/, each with rgb/ depth/
# label/). Frames come from four sensors and vary in size (e.g. 730×530, 640×480).
# Training as the paper's §4.1, the same as NYUDv2's: the normalisation, pipelines and loaders
# of `nyudv2_rgbd.py` (random rescale 0.5-2.0, random 500×500 crop, flip; batch 6; testing at the
# native size, one image at a time). Only the data set, its root and the test split differ.
_base_ = './nyudv2_rgbd.py'
dataset_type = 'SUNRGBDDataset'
data_root = 'data/sunrgbd'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
