"""Every root fusionbench reads or writes, and every environment variable that moves one.

One module owns them so that no other module computes a path from its own ``__file__`` or
reads a ``FUSIONBENCH_*`` variable by a literal name. It imports nothing of fusionbench (every
layer may import it without an import circle).

Two layouts are supported. In a **source checkout** (``fusionbench/..`` holds ``pyproject.toml``
and ``configs/``) the configs, the paper's numbers and the project's reference results are read
from the top-level ``configs/``, ``reported/`` and ``reference/``, and runs are written under the
checkout. In an **installed package** (a wheel) those three trees ship inside the package as
``fusionbench/_shipped/configs``, ``_shipped/paper`` and ``_shipped/reference`` (copied there by
``setup.py``'s build step), and the user's own roots (results, reports, data, weights) default to
the current directory.

Roots (the writable ones are functions, read at call time so a test or a shell can move them):

- :data:`REPO_ROOT`: the folder holding the package (``fusionbench/..``): the checkout, or
  ``site-packages``; :data:`IN_CHECKOUT` says which. :data:`SOURCE_ROOTS` maps the top-level
  source names the code fingerprint hashes (``configs``, ``baselines``) to where they are.
- :data:`BASELINES_DIR`: the fusion baselines, importable only as ``fusionbench.baselines``:
  the top-level ``baselines/`` folder of a checkout (mapped by :func:`map_checkout_baselines`,
  and by ``setup.py``'s ``package_dir`` for an editable install), or the package's own
  ``fusionbench/baselines`` in a wheel.
- :data:`CONFIG_ROOT`: ``<repo>/configs`` or the shipped copy; :func:`config_path` resolves a
  config name in it.
- :data:`PAPER_DIR`: ``<repo>/reported`` or the shipped copy, the paper's numbers
  (read-only; apart from every results root, so no protocol's tables can land there).
- :data:`REFERENCE_DIR`: ``<repo>/reference`` or the shipped copy, the project's reference: a
  results root (``<protocol>/runs/...``, tables, plots; ``reports/`` beside them) committed from
  one clean commit. ``run`` never writes there (:func:`check_not_reference`) and never reuses
  its records as finished runs; ``report`` and ``compare`` read it to set yours beside it.
- :func:`project_root`: the checkout, or the current directory for an installed package: what
  the defaults below are relative to.
- :func:`data_root` (``$FUSIONBENCH_DATA``, default ``<project>/data``) and :func:`weights_root`
  (``$FUSIONBENCH_WEIGHTS``, default ``<project>/checkpoints``): what a config's ``data/...`` and
  ``checkpoints/...`` mean.
- :func:`results_root` (``$FUSIONBENCH_RESULTS``, default ``<project>/results``) and
  :func:`reports_root` (``$FUSIONBENCH_REPORTS``, default ``<project>/reports``): where runs and
  reports are written.
- :func:`cache_root` (``$FUSIONBENCH_CACHE``, default ``~/.cache/fusionbench``): generated
  scenes.

Other variables: ``$FUSIONBENCH_LEASE_S`` (a run's lease, seconds),
``$FUSIONBENCH_INCEPTION`` (FID's Inception weights), ``$FUSIONBENCH_PLUGINS`` (a user's modules
to import before fusion methods are listed or built).
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(PACKAGE_DIR)
#: Where a wheel carries the top-level ``configs/`` and ``reported/`` (see ``setup.py``).
SHIPPED_DIR = os.path.join(PACKAGE_DIR, '_shipped')
#: True in a source checkout: ``pyproject.toml`` and ``configs/`` beside the package (an
#: unrelated ``configs/`` folder in ``site-packages`` alone does not count).
IN_CHECKOUT = (os.path.isfile(os.path.join(REPO_ROOT, 'pyproject.toml'))
               and os.path.isdir(os.path.join(REPO_ROOT, 'configs')))
CONFIG_ROOT = (os.path.join(REPO_ROOT, 'configs') if IN_CHECKOUT
               else os.path.join(SHIPPED_DIR, 'configs'))
PAPER_DIR = (Path(REPO_ROOT) / 'reported' if IN_CHECKOUT
             else Path(SHIPPED_DIR) / 'paper')
REFERENCE_DIR = (Path(REPO_ROOT) / 'reference' if IN_CHECKOUT
                 else Path(SHIPPED_DIR) / 'reference')
#: The fusion baselines' folder: top-level in a checkout, inside the package in a wheel.
BASELINES_DIR = (os.path.join(REPO_ROOT, 'baselines') if IN_CHECKOUT
                 else os.path.join(PACKAGE_DIR, 'baselines'))
#: The import name of :data:`BASELINES_DIR` (never a top-level ``baselines`` package, a name
#: other projects use too).
BASELINES_PACKAGE = 'fusionbench.baselines'
#: Top-level source folders that do not sit at ``REPO_ROOT/<name>`` in every layout.
SOURCE_ROOTS = {'configs': CONFIG_ROOT, 'baselines': BASELINES_DIR}

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


class CheckoutBaselinesFinder(importlib.abc.MetaPathFinder):
    """Imports :data:`BASELINES_PACKAGE` from a checkout's top-level ``baselines/`` folder.

    Answers for that one name only (its modules follow through the package's ``__path__``).
    Our choice over the installer's editable mapping alone: a checkout used without installing
    (``pytest`` with ``pythonpath = .``, a second working tree beside an editable install of
    another) must import the baselines beside the ``fusionbench`` it imported, not another
    tree's.
    """

    def __init__(self, folder: str):
        self.folder = folder

    def find_spec(self, fullname, path=None, target=None):
        if fullname != BASELINES_PACKAGE:
            return None
        return importlib.util.spec_from_file_location(
            fullname, os.path.join(self.folder, '__init__.py'),
            submodule_search_locations=[self.folder])


def map_checkout_baselines() -> None:
    """In a checkout, put a :class:`CheckoutBaselinesFinder` for :data:`BASELINES_DIR` first on
    ``sys.meta_path`` (once; a no-op in an installed wheel, which carries the package itself)."""
    if not IN_CHECKOUT or not os.path.isfile(os.path.join(BASELINES_DIR, '__init__.py')):
        return
    if any(isinstance(f, CheckoutBaselinesFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, CheckoutBaselinesFinder(BASELINES_DIR))


def project_root() -> str:
    """The checkout (:data:`REPO_ROOT`), or for an installed package the current directory.

    Our choice: an installed package must not write into ``site-packages``; a user runs it from
    the folder that should hold their ``results/`` and ``reports/``.
    """
    return REPO_ROOT if IN_CHECKOUT else os.getcwd()


def source_path(relative: str) -> str:
    """Where the top-level source ``relative`` (``'configs'``, ``'fusionbench/models'``, ...) is
    in this layout: the shipped copy for :data:`SOURCE_ROOTS`, else under :data:`REPO_ROOT`."""
    head, _, rest = relative.replace(os.sep, '/').partition('/')
    if head in SOURCE_ROOTS:
        return os.path.join(SOURCE_ROOTS[head], rest) if rest else SOURCE_ROOTS[head]
    return os.path.join(REPO_ROOT, relative)


def data_root() -> str:
    """What ``data/`` in a config means: ``$FUSIONBENCH_DATA`` or ``<project>/data``."""
    return os.environ.get(DATA_ENV) or os.path.join(project_root(), DATA_PREFIX)


def weights_root() -> str:
    """What ``checkpoints/`` in a config means: ``$FUSIONBENCH_WEIGHTS`` or
    ``<project>/checkpoints``."""
    return os.environ.get(WEIGHTS_ENV) or os.path.join(project_root(), WEIGHTS_PREFIX)


def results_root() -> str:
    """``$FUSIONBENCH_RESULTS`` or ``<project>/results`` (:func:`project_root`)."""
    return os.environ.get(RESULTS_ENV, os.path.join(project_root(), 'results'))


def check_not_reference(root: str | os.PathLike) -> None:
    """Raise ``ValueError`` (one line, naming the variable to change) when the results root
    ``root`` is :data:`REFERENCE_DIR` or inside it: the reference is written only by copying a
    clean commit's runs into it, never by a run of this checkout."""
    here = Path(root).resolve()
    if here == REFERENCE_DIR.resolve() or REFERENCE_DIR.resolve() in here.parents:
        raise ValueError(f'the results root {root} is the committed reference (read-only for '
                         f'runs); point ${RESULTS_ENV} at another folder')


def reports_root() -> str:
    """``$FUSIONBENCH_REPORTS`` or ``<project>/reports`` (:func:`project_root`)."""
    return os.environ.get(REPORTS_ENV, os.path.join(project_root(), 'reports'))


def cache_root() -> str:
    """Where generated scenes are cached: ``$FUSIONBENCH_CACHE`` or ``~/.cache/fusionbench``."""
    return os.environ.get(CACHE_ENV, os.path.join(os.path.expanduser('~'), '.cache', 'fusionbench'))
