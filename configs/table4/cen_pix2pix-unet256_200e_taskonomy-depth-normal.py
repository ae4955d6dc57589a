# Table 4, Depth+Normal -> RGB: pix2pix U-Net-256 with CEN (λ 1e-3, θ 1e-2, private encoder
# INs), Taskonomy, pix2pix's 200 epochs. The base of every Table 4 / Table 5 config: the
# table's baseline rows override model.generator.fusion with the method at early / middle /
# late / all layers (generated from the fusion cards, fusionbench/experiments/tables.py).
_base_ = [
    '../_base_/models/pix2pix_unet256.py', '../_base_/datasets/taskonomy_translation.py',
    '../_base_/schedules/pix2pix_200e.py', '../_base_/default_runtime.py'
]
domains = ('depth_zbuffer', 'normal')
model = dict(generator=dict(num_modalities=len(domains)),
             data_preprocessor=dict(domains=domains))
train_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
val_dataloader = dict(dataset=dict(modalities=(*domains, 'rgb')))
test_dataloader = val_dataloader
# The validation curve follows the L1 error of the RGB (lower is better; in [0, 1] units): a run
# is at a plateau when its last fifth of training lowered the validation L1 by less than 0.005
# (our choice: FID's scale depends on the feature extractor, the surrogate's FIDs are ~1, so an
# absolute FID threshold would mean different things; L1 is what the generator's main loss
# term drives, and 0.005 is ~3 % of the mini protocol's L1 after training).
custom_hooks = [dict(type='FiniteLossHook'), dict(type='GammaSparsityHook', interval=50),
                dict(type='ValidationCurveHook', metric='L1', higher_is_better=False,
                     gain=0.005)]
