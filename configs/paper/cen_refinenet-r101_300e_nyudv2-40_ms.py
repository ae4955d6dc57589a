# cen_refinenet-r101_300e_nyudv2-40 tested multi-scale with horizontal flip, the paper's default
# for Table 3 ("the multi-scale strategy [28, 31]"): every head's logits averaged over the input
# rescaled by 0.75 / 1 / 1.25, each with its mirror image. The paper does not list its scales;
# these are ours (a common choice).
_base_ = './cen_refinenet-r101_300e_nyudv2-40.py'
model = dict(test_cfg=dict(mode='whole', scales=(0.75, 1.0, 1.25), flip=True))
