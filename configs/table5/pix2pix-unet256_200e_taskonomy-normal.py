# Table 5, RGB from normal alone: one input domain, no fusion (M = 1: no ensemble).
_base_ = ['../table4/cen_pix2pix-unet256_200e_taskonomy-depth-normal.py']
domains = ('normal',)
model = dict(generator=dict(num_modalities=len(domains), fusion=dict(_delete_=True, type='none')),
             data_preprocessor=dict(domains=domains))
train_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
val_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
test_dataloader = val_dataloader
