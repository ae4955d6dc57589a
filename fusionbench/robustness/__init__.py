"""Robustness to missing and degraded modalities: corruption transforms and their declared grid
(:mod:`~fusionbench.robustness.corruptions`), evaluated on trained cells by ``run robustness``
(:mod:`fusionbench.experiments.robustness`)."""
