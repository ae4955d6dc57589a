"""fusionbench: a reproducibility benchmark suite for deep multimodal fusion.

Importing the package applies the pinned stack's workarounds (:mod:`fusionbench.compat`) and,
in a source checkout, maps the top-level ``baselines/`` folder to ``fusionbench.baselines``
(:func:`fusionbench.paths.map_checkout_baselines`; a wheel carries it inside the package).
"""
from fusionbench import compat, paths

compat.apply()
paths.map_checkout_baselines()

__version__ = '0.1.0'
