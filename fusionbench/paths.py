"""Every root fusionbench reads or writes, and every environment variable that moves one.

One module owns them so that no other module computes a path from its own ``__file__`` or
reads a ``FUSIONBENCH_*`` variable by a literal name. It imports nothing of fusionbench (every
layer may import it without an import circle).

Roots (each a function, read at call time so a test or a shell can move it):

- :data:`REPO_ROOT`: the source checkout holding the package (``fusionbench/..``).
- :data:`CONFIG_ROOT`: ``<repo>/configs``; :func:`config_path` resolves a config name in it.
- :data:`PAPER_DIR`: ``<repo>/results/paper``, the paper's numbers (read-only reference).
- :func:`data_root` (``$FUSIONBENCH_DATA``, default ``<repo>/data``) and :func:`weights_root`
  (``$FUSIONBENCH_WEIGHTS``, default ``<repo>/checkpoints``): what a config's ``data/...`` and
  ``checkpoints/...`` mean.
- :func:`results_root` (``$FUSIONBENCH_RESULTS``, default ``<repo>/results``) and
  :func:`reports_root` (``$FUSIONBENCH_REPORTS``, default ``<repo>/reports``): where runs and
  reports are written.
- :func:`cache_root` (``$FUSIONBENCH_CACHE``, default ``~/.cache/fusionbench``): generated
  scenes.

Other variables: ``$FUSIONBENCH_LEASE_S`` (a run's lease, seconds),
``$FUSIONBENCH_INCEPTION`` (FID's Inception weights), ``$FUSIONBENCH_PLUGINS`` (a user's modules
to import before fusion methods are listed or built).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_ROOT = os.path.join(REPO_ROOT, 'configs')
PAPER_DIR = Path(REPO_ROOT) / 'results' / 'paper'

DATA_ENV = 'FUSIONBENCH_DATA'
WEIGHTS_ENV = 'FUSIONBENCH_WEIGHTS'
RESULTS_ENV = 'FUSIONBENCH_RESULTS'
REPORTS_ENV = 'FUSIONBENCH_REPORTS'
CACHE_ENV = 'FUSIONBENCH_CACHE'
LEASE_ENV = 'FUSIONBENCH_LEASE_S'
INCEPTION_ENV = 'FUSIONBENCH_INCEPTION'
PLUGINS_ENV = 'FUSIONBENCH_PLUGINS'
#: The relative prefixes a config names its inputs by (resolved against the data / weights root).
DATA_PREFIX, WEIGHTS_PREFIX = 'data', 'checkpoints'


def config_path(config: str) -> str:
    """Absolute path of ``config`` (absolute, relative to cwd, or relative to ``configs/``).

    Raises ``FileNotFoundError`` naming both places looked in.
    """
    for candidate in (config, os.path.join(CONFIG_ROOT, config)):
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    raise FileNotFoundError(f'config not found: {config} (looked in . and {CONFIG_ROOT})')


def data_root() -> str:
    """What ``data/`` in a config means: ``$FUSIONBENCH_DATA`` or ``<repo>/data``."""
    return os.environ.get(DATA_ENV) or os.path.join(REPO_ROOT, DATA_PREFIX)


def weights_root() -> str:
    """What ``checkpoints/`` in a config means: ``$FUSIONBENCH_WEIGHTS`` or
    ``<repo>/checkpoints``."""
    return os.environ.get(WEIGHTS_ENV) or os.path.join(REPO_ROOT, WEIGHTS_PREFIX)


def results_root() -> str:
    """``$FUSIONBENCH_RESULTS`` or the repo's ``results/``."""
    return os.environ.get(RESULTS_ENV, os.path.join(REPO_ROOT, 'results'))


def reports_root() -> str:
    """``$FUSIONBENCH_REPORTS`` or the repo's ``reports/``."""
    return os.environ.get(REPORTS_ENV, os.path.join(REPO_ROOT, 'reports'))


def cache_root() -> str:
    """Where generated scenes are cached: ``$FUSIONBENCH_CACHE`` or ``~/.cache/fusionbench``."""
    return os.environ.get(CACHE_ENV, os.path.join(os.path.expanduser('~'), '.cache', 'fusionbench'))
