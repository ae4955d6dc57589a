# CEN's PSPNet: mmseg's PSPHead with private BNs per modality, on a dilated ResNet-152 of output
# stride 8 (dilations 1, 1, 2, 4), otherwise the RefineNet base's model (shared convolutions,
# private BNs, RGB + depth stacked in the batch, α-ensemble of the two heads, ImageNet init).
# CEN's directed exchange with half-channel l1 (the paper's setting, as in every CEN config) and a
# single-scale test; the number of classes is chosen per config.
_base_ = './refinenet_r101_rgbd.py'
model = dict(
    backbone=dict(type='DilatedMultiModalResNet', depth=152, dilations=(1, 1, 2, 4),
                  pretrained='checkpoints/resnet152-394f9c45.pth'),
    decode_head=dict(_delete_=True, type='MultiModalPSPHead', num_modalities=2, width=1.0,
                     pool_scales=(1, 2, 3, 6), dropout=0.1),
    fusion=dict(type='cen', exchange='directed', l1='half', threshold=2e-2, l1_weight=5e-3,
                stages=(1, 2, 3, 4)),
    test_cfg=dict(mode='whole', scales=(1.0,), flip=False),
)
