"""fusionbench's registries: children of mmsegmentation's, scope ``fusionbench``.

Configs written the mmseg way (``dict(type='...')``) build fusionbench parts and fall back to
mmseg's (and mmengine's) registered parts. ``locations`` make each registry import the modules
that register into it on first use, so ``FUSIONS.get('cen')`` works without importing anything
by hand. Tables, protocols and tasks are plain registries (no parent): they hold data, not modules.

:func:`build` / :func:`get` wrap mmengine's lookups so an unknown name fails with one line that
lists what is registered.
"""
from __future__ import annotations

import importlib
import os
from typing import Any

from mmengine.registry import Registry

from fusionbench import compat, paths

compat.apply()

from mmseg import registry as mmseg_registry  # noqa: E402
from mmseg.registry import DATASETS as MMSEG_DATASETS  # noqa: E402
from mmseg.registry import HOOKS as MMSEG_HOOKS  # noqa: E402
from mmseg.registry import METRICS as MMSEG_METRICS  # noqa: E402
from mmseg.registry import MODELS as MMSEG_MODELS  # noqa: E402
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS  # noqa: E402

MODELS = Registry('model', parent=MMSEG_MODELS, scope='fusionbench',
                  locations=['fusionbench.models', 'fusionbench.fusion', 'fusionbench.baselines',
                             'fusionbench.tasks.translation'])
# Fusion methods are model parts and live in the models registry: mmengine resolves a build in
# scope 'fusionbench' to the one registry of that scope under mmseg's MODELS, so a separate
# child registry would never be searched. ``list fusions`` filters it to FusionModule classes.
FUSIONS = MODELS
DATASETS = Registry('dataset', parent=MMSEG_DATASETS, scope='fusionbench',
                    locations=['fusionbench.data'])
TRANSFORMS = Registry('transform', parent=MMSEG_TRANSFORMS, scope='fusionbench',
                      locations=['fusionbench.data.transforms',
                                 'fusionbench.robustness.corruptions'])
METRICS = Registry('metric', parent=MMSEG_METRICS, scope='fusionbench',
                   locations=['fusionbench.evaluation', 'fusionbench.tasks.translation'])
HOOKS = Registry('hook', parent=MMSEG_HOOKS, scope='fusionbench',
                 locations=['fusionbench.hooks', 'fusionbench.plateau',
                            'fusionbench.fusion.gamma_dynamics'])
# Runners, loops, optimizers, schedulers, samplers, visualizers ...: fusionbench adds none of its
# own, but a config with ``default_scope = 'fusionbench'`` looks each of them up in scope
# 'fusionbench', so every mmseg registry gets a (plain) child of that scope.
_PLAIN_CHILDREN = ('RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'DATA_SAMPLERS', 'MODEL_WRAPPERS',
                   'WEIGHT_INITIALIZERS', 'OPTIMIZERS', 'OPTIM_WRAPPERS',
                   'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'EVALUATOR', 'TASK_UTILS',
                   'VISUALIZERS', 'VISBACKENDS', 'LOG_PROCESSORS', 'INFERENCERS')
PLAIN_CHILDREN = {name: Registry(getattr(mmseg_registry, name).name,
                                 parent=getattr(mmseg_registry, name), scope='fusionbench')
                  for name in _PLAIN_CHILDREN}
TABLES = Registry('table', scope='fusionbench', locations=['fusionbench.experiments.tables'])
PROTOCOLS = Registry('protocol', scope='fusionbench',
                     locations=['fusionbench.experiments.protocols'])
#: Tasks (:class:`fusionbench.tasks.base.Task` subclasses): metrics, evaluator, protocol adapter.
TASKS = Registry('task', scope='fusionbench',
                 locations=['fusionbench.tasks.segmentation', 'fusionbench.tasks.translation'])

REGISTRIES: dict[str, Registry] = {
    'models': MODELS, 'datasets': DATASETS, 'transforms': TRANSFORMS,
    'metrics': METRICS, 'hooks': HOOKS, 'tables': TABLES, 'protocols': PROTOCOLS,
    'tasks': TASKS,
}


#: ``$FUSIONBENCH_PLUGINS``: comma-separated modules a user's package registers its parts in
#: (e.g. fusion methods whose cards opt in to a table); imported before fusion methods are
#: looked up or listed.
PLUGINS_ENV = paths.PLUGINS_ENV


class PluginImportError(ImportError):
    """A module named in ``$FUSIONBENCH_PLUGINS`` that cannot be imported (one-line message)."""


def plugin_modules() -> list[str]:
    """The module names of ``$FUSIONBENCH_PLUGINS`` (comma-separated; empty when unset)."""
    return [m.strip() for m in os.environ.get(PLUGINS_ENV, '').split(',') if m.strip()]


def import_plugins() -> list[str]:
    """Import the modules of ``$FUSIONBENCH_PLUGINS`` (mmengine's ``custom_imports`` for the
    whole command: the grid's workers inherit the variable); returns their names.

    Raises :class:`PluginImportError` naming the module and the variable when one fails.
    Python caches imported modules, so repeated calls cost a dict lookup each.
    """
    modules = plugin_modules()
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise PluginImportError(
                f'${PLUGINS_ENV}: cannot import {module!r} ({err}); put its package on '
                f'PYTHONPATH or remove it from ${PLUGINS_ENV}') from err
    return modules


class UnknownNameError(KeyError):
    """A registry lookup for a name nobody registered; ``str()`` is one line."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def list_names(registry: Registry, subclass_of: type | None = None) -> list[str]:
    """Names registered in ``registry`` itself (fusionbench scope, parents excluded), sorted.

    ``subclass_of`` keeps only classes deriving from it (e.g. the fusion modules in MODELS).
    """
    registry.import_from_location()
    return sorted(name for name, obj in registry.module_dict.items()
                  if subclass_of is None or (isinstance(obj, type) and issubclass(obj, subclass_of)))


def get(registry: Registry, name: str, kind: str | None = None,
        subclass_of: type | None = None) -> Any:
    """Look ``name`` up in ``registry`` (then its parents); raise :class:`UnknownNameError`.

    ``kind`` names what is looked up in the error (default: the registry's name);
    ``subclass_of`` restricts the hit and the listed names to subclasses of a type.
    """
    obj = registry.get(name) if isinstance(name, str) else name
    if obj is None or (subclass_of is not None and not (
            isinstance(obj, type) and issubclass(obj, subclass_of))):
        names = ', '.join(list_names(registry, subclass_of))
        raise UnknownNameError(f'unknown {kind or registry.name} {name!r}; registered: {names}')
    return obj


def build(registry: Registry, cfg: dict, **default_args: Any) -> Any:
    """``registry.build(cfg)`` that checks the type name first (see :func:`get`)."""
    get(registry, cfg['type'])
    return registry.build(cfg, default_args=default_args or None)
