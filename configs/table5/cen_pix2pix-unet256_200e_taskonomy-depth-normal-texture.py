# Table 5, RGB from Depth+Normal+Texture: CEN over three domains (every pair of streams
# exchanges as CEN does for M > 2: each stream takes the mean of the others' channels).
_base_ = ['../table4/cen_pix2pix-unet256_200e_taskonomy-depth-normal.py']
domains = ('depth_zbuffer', 'normal', 'edge_texture')
model = dict(generator=dict(num_modalities=len(domains)),
             data_preprocessor=dict(domains=domains))
train_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
val_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
test_dataloader = val_dataloader
