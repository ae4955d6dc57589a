# CEN's segmentation model: RefineNet decoder on a ResNet-101 with shared convolutions and
# private (per-modality) BNs, RGB + depth stacked in the batch, α-ensemble of the two heads.
# Fusion is chosen per config; type 'none' keeps the sub-networks apart.
# ImageNet initialisation (the paper's §4.1, and the public code's ENC_PRETRAINED) for every row
# built on this base: Tables 1, 2 and 3. `backbone.pretrained` is a torchvision state dict under
# checkpoints/ ($FUSIONBENCH_WEIGHTS); `python -m fusionbench preflight` lists it when it is
# missing. The small protocols (mini, smoke) drop it (`from_scratch`): their narrow ResNets have
# no ImageNet checkpoint.
modalities = ('rgb', 'depth')
num_classes = 40
model = dict(
    type='MultiModalSegmentor',
    modalities=modalities,
    num_classes=num_classes,
    ensemble=True,
    backbone=dict(type='MultiModalResNet', depth=101, width=1.0, in_channels=3,
                  norm_sharing='private', norm_kind='bn',
                  pretrained='checkpoints/resnet101-63fe2227.pth'),
    decode_head=dict(type='RefineNetDecoder', width=1.0, dropout=0.5),
    fusion=dict(type='none'),
)
