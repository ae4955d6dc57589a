# Table 5, RGB from Depth+Normal+Texture+Shade: CEN over all four domains.
_base_ = ['./cen_pix2pix-unet256_200e_taskonomy-depth-normal-texture.py']
domains = ('depth_zbuffer', 'normal', 'edge_texture', 'reshading')
model = dict(generator=dict(num_modalities=len(domains)),
             data_preprocessor=dict(domains=domains))
train_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
val_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
test_dataloader = val_dataloader
