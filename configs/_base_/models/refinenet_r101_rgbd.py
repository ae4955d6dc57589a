# CEN's segmentation model: RefineNet decoder on a ResNet-101 with shared convolutions and
# private (per-modality) BNs, RGB + depth stacked in the batch, α-ensemble of the two heads.
# Fusion is chosen per config; type 'none' keeps the sub-networks apart.
modalities = ('rgb', 'depth')
num_classes = 40
model = dict(
    type='MultiModalSegmentor',
    modalities=modalities,
    num_classes=num_classes,
    ensemble=True,
    backbone=dict(type='MultiModalResNet', depth=101, width=1.0, in_channels=3,
                  norm_sharing='private', norm_kind='bn', pretrained=None),
    decode_head=dict(type='RefineNetDecoder', width=1.0, dropout=0.5),
    fusion=dict(type='none'),
)
