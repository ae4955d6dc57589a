"""The code fingerprint of a run: a hash of the source that can change its numbers.

A run id hashes the resolved config, the protocol, the seed -- and this fingerprint, so a record
belongs to the code that made it: a record made by other model, fusion, data, training or
protocol code, or other configs, has another run id and is never reused as a finished run
(it stays on disk and :func:`stale_records` lists it). Changes to the report, the CLI, the
grid's scheduling or the docs leave the fingerprint alone, so they do not invalidate results.

Each run hashes only what its config can reach (:func:`run_fingerprint`): the core shared by
every run, its task's package and the files of the fusion methods it names, so adding a
translation model or a new method leaves every segmentation record valid.

The fingerprint is computed from the files on disk, not from git: an uncommitted edit changes
it too (a record then says exactly which code made it, committed or not).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: Paths (relative to the repository root; folders are read recursively, ``*.py`` files only)
#: whose source decides the numbers of every run: the models and fusion core, data and
#: transforms, metrics, the task abstraction, the training loop and hooks (incl. the validation
#: curve), the fidelity modes, the protocols and their pretraining / λ calibration, the
#: workarounds for the pinned stack. Not: the report, the CLI, the grid, the docs -- nor the
#: config files: a run id hashes the run's *resolved* config, so a config edit that reaches a
#: run changes its id anyway, and one that does not (a config folded into a row override, a
#: reworded comment, another table's config) leaves every other record valid.
CORE_SOURCES = (
    'fusionbench/models', 'fusionbench/fusion', 'fusionbench/data', 'fusionbench/evaluation',
    'fusionbench/tasks/__init__.py', 'fusionbench/tasks/base.py',
    'fusionbench/experiments/run.py', 'fusionbench/experiments/config_check.py',
    'fusionbench/experiments/protocols.py', 'fusionbench/experiments/pretrain.py',
    'fusionbench/hooks.py', 'fusionbench/plateau.py', 'fusionbench/fidelity.py',
    'fusionbench/modal.py', 'fusionbench/compat.py',
)
#: A task's own package (``{task}``: its registry name): only that task's runs depend on it,
#: so translation code cannot invalidate a segmentation record, nor the reverse.
TASK_SOURCE = 'fusionbench/tasks/{task}'
#: Packages that hold one fusion method per file (benchopt's one-file solvers), as
#: ``{module prefix: source folder}``: a run depends on the files of the methods its config
#: names (and the modules of those packages they import), not on every method's file -- adding
#: a method does not invalidate the records of the others.
METHOD_PACKAGES = {'fusionbench.baselines': 'baselines',
                   'fusionbench.fusion.ablations': 'fusionbench/fusion/ablations'}
#: Every result source (the union over tasks and methods).
RESULT_SOURCES = (*CORE_SOURCES, 'fusionbench/tasks', *METHOD_PACKAGES.values())
#: Length of the fingerprint kept in records (hex digits of SHA-1).
FINGERPRINT_DIGITS = 12


def source_files(root, sources: Iterable[str] = RESULT_SOURCES) -> list[str]:
    """The ``*.py`` files of ``sources``, as sorted POSIX paths relative to the source root.

    ``root`` is the folder holding every source (a checkout), or a function mapping a relative
    source name to its path (:func:`fusionbench.paths.source_path`: an installed package keeps
    ``configs/`` elsewhere); the relative names, hence the fingerprint, are the same in both.
    Raises :class:`FileNotFoundError` naming the path when a source is missing: a fingerprint
    over a partial tree would silently match nothing.
    """
    locate = _locator(root)
    files = []
    for source in sources:
        path = locate(source)
        if os.path.isfile(path):
            files.append(source)
            continue
        if not os.path.isdir(path):
            raise FileNotFoundError(f'code fingerprint: {path} does not exist (expected a file '
                                    'or folder of the fusionbench source tree)')
        for folder, dirs, names in os.walk(path):
            # a method package inside a source folder is hashed only when listed itself
            dirs[:] = sorted(d for d in dirs if d != '__pycache__' and not d.startswith('.')
                             and _relative(source, path, folder, d) not in _METHOD_FOLDERS)
            files += [os.path.join(source, os.path.relpath(os.path.join(folder, n), path))
                      for n in names if n.endswith('.py')]
    return sorted({f.replace(os.sep, '/') for f in files})


def code_fingerprint(root, sources: Iterable[str] = RESULT_SOURCES) -> str:
    """12 hex digits of SHA-1 over (relative path, content) of every :func:`source_files` file.

    ``root``: as for :func:`source_files`. Line endings are normalised (``\\r\\n`` → ``\\n``)
    so a checkout on another OS agrees.
    """
    locate = _locator(root)
    digest = hashlib.sha1()
    for relative in source_files(locate, sources):
        with open(locate(relative), 'rb') as f:
            content = f.read().replace(b'\r\n', b'\n')
        digest.update(relative.encode() + b'\0' + hashlib.sha1(content).digest())
    return digest.hexdigest()[:FINGERPRINT_DIGITS]


def run_sources(task: str, methods: Iterable[str] = ()) -> tuple[str, ...]:
    """The sources a run of ``task`` depends on: :data:`CORE_SOURCES`, the task's package
    (:data:`TASK_SOURCE`) and ``methods`` (relative method files, see :func:`method_sources`)."""
    return (*CORE_SOURCES, TASK_SOURCE.format(task=task), *sorted(set(methods)))


def method_sources(resolved: Mapping) -> list[str]:
    """The relative source files of the fusion methods from :data:`METHOD_PACKAGES` that the
    config ``resolved`` names (any ``type`` at any depth that is a registered class of such a
    package), each with the modules of its package it imports (one level: a shared helper
    such as a baselines' stream module). Sorted; [] for a config naming none (e.g. CEN, whose
    code is core).
    """
    from fusionbench import registry

    files = set()
    for name in _type_names(resolved):
        cls = registry.MODELS.get(name)
        module = sys.modules.get(getattr(cls, '__module__', '')) if cls is not None else None
        if module is None or _method_file(module.__name__) is None:
            continue
        files.add(_method_file(module.__name__))
        for value in vars(module).values():
            used = value if inspect.ismodule(value) else sys.modules.get(
                getattr(value, '__module__', None) or '')
            if used is not None and _method_file(used.__name__):
                files.add(_method_file(used.__name__))
    return sorted(files)


def run_fingerprint(root, resolved: Mapping, memo: dict | None = None) -> str:
    """The code fingerprint of a run of the resolved config ``resolved`` (a dict): over
    :func:`run_sources` of its task (:func:`~fusionbench.tasks.base.task_of`) and the methods it
    names. ``root``: as for :func:`source_files`; ``memo``: a dict the caller keeps across the
    runs of one plan, so each source set is hashed once. Raises
    :class:`~fusionbench.errors.ConfigError` when the config's task cannot be told."""
    from fusionbench.tasks.base import task_of
    sources = run_sources(task_of(resolved).name, method_sources(resolved))
    memo = {} if memo is None else memo
    if sources not in memo:
        memo[sources] = code_fingerprint(root, sources)
    return memo[sources]


def short_hash(content: Any) -> str:
    """12 hex digits of SHA-1 over the canonical JSON of ``content`` (keys sorted; values JSON
    cannot hold are written with ``str``): the one way run ids and artifact keys are made."""
    payload = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:FINGERPRINT_DIGITS]


_METHOD_FOLDERS = frozenset(METHOD_PACKAGES.values())


def _relative(source: str, path: str, folder: str, name: str) -> str:
    """The source-relative POSIX name of sub-folder ``name`` of ``folder`` (under ``path``,
    which is where ``source`` lives)."""
    return os.path.join(source, os.path.relpath(os.path.join(folder, name), path)).replace(
        os.sep, '/')


def _type_names(node: Any):
    if isinstance(node, Mapping):
        if isinstance(node.get('type'), str):
            yield node['type']
        for value in node.values():
            yield from _type_names(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _type_names(value)


def _method_file(module: str) -> str | None:
    for prefix, folder in METHOD_PACKAGES.items():
        if module == prefix or module.startswith(prefix + '.'):
            rest = module[len(prefix):].lstrip('.')
            return f'{folder}/{rest.replace(".", "/")}.py' if rest else f'{folder}/__init__.py'
    return None


def _locator(root) -> Callable[[str], str]:
    if callable(root):
        return root
    return lambda relative: os.path.join(str(root), relative)


def stale_records(jobs: Iterable, runs_dir_of) -> list[str]:
    """Record files of the jobs' (row, cell, seed) made under another run id (other code or an
    older config), sorted. ``runs_dir_of(job)`` gives the folder a job's record goes to.

    They are kept on disk (a user may want to compare); the grid never treats them as finished.
    """
    stale = set()
    by_dir: dict[str, list] = {}
    for job in jobs:
        by_dir.setdefault(runs_dir_of(job), []).append(job)
    for folder, folder_jobs in by_dir.items():
        if not os.path.isdir(folder):
            continue
        names = os.listdir(folder)
        for job in folder_jobs:
            prefix = f'{job.row}__{job.cell}__seed{job.seed}__'
            stale.update(os.path.join(folder, n) for n in names
                         if n.startswith(prefix) and n.endswith('.json')
                         and n != job.record_name)
    return sorted(stale)
