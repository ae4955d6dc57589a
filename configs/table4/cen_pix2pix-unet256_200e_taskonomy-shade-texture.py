# Table 4, Shade+Texture -> RGB: as Depth+Normal -> RGB with Taskonomy's reshading and
# edge_texture domains as inputs.
_base_ = ['./cen_pix2pix-unet256_200e_taskonomy-depth-normal.py']
domains = ('reshading', 'edge_texture')
model = dict(generator=dict(num_modalities=len(domains)),
             data_preprocessor=dict(domains=domains))
train_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
val_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
test_dataloader = val_dataloader
