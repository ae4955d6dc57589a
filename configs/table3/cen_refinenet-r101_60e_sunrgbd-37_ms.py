# A Table 3 row: the paper-protocol config as is.
_base_ = '../paper/cen_refinenet-r101_60e_sunrgbd-37_ms.py'
