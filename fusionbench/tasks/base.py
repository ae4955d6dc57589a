"""The task abstraction: what a task owns, and how a config finds its task.

A *task* (semantic segmentation, image-to-image translation, ...) owns

- its **metrics**, as data keyed by name (torchvision's weights ``meta['_metrics']`` style):
  :class:`MetricInfo` gives each a direction (higher or lower is better) and the decimals it
  is printed with;
- its **evaluator** config (what a config without ``val_evaluator`` / ``test_evaluator`` gets);
- its **protocol adapter** (:class:`ProtocolAdapter`): how a protocol's data, model scale and
  budget are written into a config of this task -- the synthetic data sets and pipelines, the
  model-scale overrides, the optimiser's parameter groups, the task's hooks.

Tasks register in :data:`fusionbench.registry.TASKS` (lazy locations: the task packages under
:mod:`fusionbench.tasks`). A config names its task by a top-level ``task = '<name>'`` key, or
the task is read off its model class (a class attribute ``task``, looked up through the models
registry), so :meth:`fusionbench.experiments.protocols.Protocol.apply` never branches on a task.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fusionbench import registry
from fusionbench.errors import ConfigError

if TYPE_CHECKING:
    from mmengine.config import Config

#: A :class:`fusionbench.experiments.protocols.Protocol`, read by attribute (tasks sit below the
#: experiment layer and import nothing of it).
Protocol = Any

#: Top-level config key naming a config's task (optional: the model class says it otherwise).
TASK_KEY = 'task'


@dataclass(frozen=True)
class MetricInfo:
    """A metric a task reports: its name, direction and print precision.

    Attributes:
        name: the key the task's evaluator reports it under (e.g. ``'mIoU'``, ``'FID'``).
        higher_is_better: the direction (FID: lower is better; mIoU: higher).
        decimals: digits printed after the point in tables and verdicts (the paper's).
        unit: e.g. ``'%'``, ``'dB'`` ('' for none).
        description: one line.
    """

    name: str
    higher_is_better: bool
    decimals: int
    unit: str = ''
    description: str = ''

    def __post_init__(self) -> None:
        if self.decimals < 0:
            raise ValueError(f'metric {self.name!r}: decimals must be >= 0, got {self.decimals}')

    @property
    def direction(self) -> str:
        """``'higher'`` or ``'lower'`` (is better)."""
        return 'higher' if self.higher_is_better else 'lower'

    @property
    def sign(self) -> float:
        """+1 when higher is better, -1 when lower is: ``sign · (a − b) > 0`` means a is better."""
        return 1.0 if self.higher_is_better else -1.0

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` in this metric's direction."""
        return self.sign * (a - b) > 0


def metric_table(*metrics: MetricInfo) -> Mapping[str, MetricInfo]:
    """A read-only ``{name: MetricInfo}`` (raises ``ValueError`` on a repeated name)."""
    names = [m.name for m in metrics]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f'metrics declared twice: {repeated}')
    return MappingProxyType({m.name: m for m in metrics})


def mean_lr_factor(halvings: int) -> float:
    """Mean learning-rate factor of the protocols' step schedule (halved ``halvings`` times at
    equal steps): the mean of ``1, 1/2, …, 1/2^halvings`` (2 halvings: 7/12)."""
    return sum(0.5 ** k for k in range(halvings + 1)) / (halvings + 1)


class ProtocolAdapter:
    """How a protocol rewrites a task's config (each method edits ``cfg`` in place).

    The base class applies what is task-agnostic: the protocol's dotted model overrides
    (``Protocol.model``, e.g. ``{'backbone.depth': 18}``) and the task's evaluator where the
    config names none. A task whose configs can run on a protocol's synthetic data overrides
    :meth:`datasets` (the base raises :class:`~fusionbench.errors.ConfigError`), and whatever
    else of the protocol touches its model: :meth:`apply_model`, :meth:`apply_data`,
    :meth:`apply_optimizer`, :meth:`apply_hooks`.
    """

    def __init__(self, task: Task):
        self.task = task

    def specialise(self, protocol: Protocol) -> Protocol:
        """The protocol as it applies to this task: ``protocol.tasks[task name]`` (a dict of
        :class:`~fusionbench.experiments.protocols.Protocol` fields, e.g. translation's own
        data size, model scale and budget) replaces the protocol's fields; the protocol itself
        when it names nothing for the task."""
        import dataclasses
        overrides = (getattr(protocol, 'tasks', None) or {}).get(self.task.name)
        return dataclasses.replace(protocol, **overrides) if overrides else protocol

    def apply_model(self, protocol: Protocol, cfg: Config) -> None:
        """Write ``protocol.model``'s dotted overrides into ``cfg.model``.

        Raises :class:`~fusionbench.errors.ConfigError` naming the key when a parent is missing.
        """
        for dotted, value in protocol.model.items():
            target = cfg.model
            *parents, leaf = dotted.split('.')
            for key in parents:
                if key not in target:
                    raise ConfigError(f'protocol {protocol.name!r}: model override {dotted!r}: '
                                      f'the config has no model.{key} (task {self.task.name!r})')
                target = target[key]
            target[leaf] = value

    def apply_evaluator(self, cfg: Config) -> None:
        """Give ``cfg`` the task's evaluator where it has none (a config's own one is kept)."""
        evaluator = self.task.evaluator()
        if evaluator is None:
            return
        for key in ('val_evaluator', 'test_evaluator'):
            if cfg.get(key) is None:
                cfg[key] = copy.deepcopy(evaluator)

    def datasets(self, protocol: Protocol, cfg: Config) -> dict[str, dict]:
        """The protocol's synthetic data sets: ``{'train', 'val'[, 'test']: dataset config}``.

        Raises :class:`~fusionbench.errors.ConfigError`: the base task has no synthetic data.
        """
        raise ConfigError(f'protocol {protocol.name!r} runs on synthetic data, which task '
                          f'{self.task.name!r} has none of; run it with --protocol paper')

    def apply_data(self, protocol: Protocol, cfg: Config) -> None:
        """Fit the model to the protocol's synthetic data (e.g. its number of classes)."""

    def apply_optimizer(self, protocol: Protocol, cfg: Config) -> None:
        """Write the protocol's learning rates and clipping into ``cfg.optim_wrapper`` (the
        base keeps the config's: how rates map onto parameter groups is the task's)."""

    def apply_hooks(self, protocol: Protocol, cfg: Config) -> None:
        """Scale the task's own hooks to the protocol's iteration budget."""


class Task:
    """A task: its name, metrics, evaluator and protocol adapter (subclass and register).

    Class attributes: ``name`` (registry name), ``description`` (one line), ``metrics``
    (:func:`metric_table`), ``primary_metric`` (the name a table column reads by default),
    ``adapter_class`` (:class:`ProtocolAdapter` subclass).
    """

    name: str = ''
    description: str = ''
    metrics: Mapping[str, MetricInfo] = MappingProxyType({})
    primary_metric: str = ''
    adapter_class: type[ProtocolAdapter] = ProtocolAdapter

    def __init__(self) -> None:
        self.adapter = self.adapter_class(self)

    def evaluator(self) -> dict | None:
        """The evaluator config a config of this task gets by default (None: none)."""
        return None

    def metric(self, name: str | None = None) -> MetricInfo:
        """The declared metric ``name`` (default: the primary one).

        Raises :class:`KeyError` naming the task and the declared metrics.
        """
        name = name or self.primary_metric
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f'task {self.name!r} declares no metric {name!r}; declared: '
                           f'{", ".join(self.metrics)}') from None


def get_task(name: str) -> Task:
    """The registered task ``name`` (unknown names fail in one line)."""
    return registry.get(registry.TASKS, name, kind='task')()


def list_tasks() -> list[str]:
    """Names of the registered tasks, sorted."""
    return registry.list_names(registry.TASKS)


def task_of(cfg: Any) -> Task:
    """The task of a config: its ``task`` key, else its model class's ``task`` attribute.

    Raises :class:`~fusionbench.errors.ConfigError` (one line) when neither names a registered
    task.
    """
    name = cfg.get(TASK_KEY)
    if name is None:
        model_type = (cfg.get('model') or {}).get('type')
        cls = registry.MODELS.get(model_type) if isinstance(model_type, str) else None
        name = getattr(cls, TASK_KEY, None)
        if name is None:
            raise ConfigError(f'cannot tell the task of the config: model.type {model_type!r} '
                              f"declares none; set {TASK_KEY} = '<name>' in the config "
                              f'(registered: {", ".join(list_tasks())})')
    try:
        return get_task(name)
    except registry.UnknownNameError as err:
        raise ConfigError(f'config key {TASK_KEY}: {err}') from None


def known_metrics() -> dict[str, MetricInfo]:
    """Every registered task's metrics, ``{lower-cased name: MetricInfo}``."""
    out: dict[str, MetricInfo] = {}
    for name in list_tasks():
        for metric in get_task(name).metrics.values():
            out.setdefault(metric.name.lower(), metric)
    return out


def metric_of_column(column: str) -> MetricInfo | None:
    """The declared metric a column name refers to, for callers without a table spec.

    A column is read as ``_``-separated words (``ensemble_miou``, ``kid_x100``); the first word
    that is a registered task's metric name (case-insensitive) names it. None when none does
    (e.g. a parameter count).
    """
    metrics = known_metrics()
    for word in column.lower().split('_'):
        if word in metrics:
            return metrics[word]
    return None
