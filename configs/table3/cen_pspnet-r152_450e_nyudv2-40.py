# A Table 3 row: the paper-protocol config as is.
_base_ = '../paper/cen_pspnet-r152_450e_nyudv2-40.py'
