"""fusionbench: a reproducibility benchmark suite for deep multimodal fusion.

Importing the package applies the pinned stack's workarounds (:mod:`fusionbench.compat`).
"""
from fusionbench import compat

compat.apply()

__version__ = '0.1.0'
