# A Table 3 row: the paper-protocol config as is.
_base_ = '../paper/cen_refinenet-r101_300e_nyudv2-40.py'
