# A Table 3 row: the paper-protocol config as is.
_base_ = '../paper/rgb_refinenet-r152_60e_sunrgbd-37_ms.py'
