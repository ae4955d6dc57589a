"""The code fingerprint of a run: a hash of the source that can change its numbers.

A run id hashes the resolved config, the protocol, the seed -- and this fingerprint, so a record
belongs to the code that made it: a record made by other model, fusion, data, training or
protocol code, or other configs, has another run id and is never reused as a finished run
(it stays on disk and :func:`stale_records` lists it). Changes to the report, the CLI, the
grid's scheduling or the docs leave the fingerprint alone, so they do not invalidate results.

The fingerprint is computed from the files on disk, not from git: an uncommitted edit changes
it too (a record then says exactly which code made it, committed or not).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable

#: Paths (relative to the repository root; folders are read recursively, ``*.py`` files only)
#: whose source decides a run's numbers: the models and fusion methods, data and transforms,
#: metrics, the tasks, the training loop and hooks (incl. the validation curve), the fidelity
#: modes, the protocols and their pretraining / λ calibration, the workarounds for the pinned
#: stack, the baselines. Not: the report, the CLI, the grid, the docs -- nor the config files:
#: a run id hashes the run's *resolved* config, so a config edit that reaches a run changes
#: its id anyway, and one that does not (a config folded into a row override, a reworded
#: comment, another table's config) leaves every other record valid.
RESULT_SOURCES = (
    'fusionbench/models', 'fusionbench/fusion', 'fusionbench/data', 'fusionbench/evaluation',
    'fusionbench/tasks', 'fusionbench/experiments/run.py',
    'fusionbench/experiments/config_check.py', 'fusionbench/experiments/protocols.py',
    'fusionbench/experiments/pretrain.py',
    'fusionbench/hooks.py', 'fusionbench/plateau.py', 'fusionbench/fidelity.py',
    'fusionbench/modal.py', 'fusionbench/compat.py', 'baselines',
)
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
            dirs[:] = sorted(d for d in dirs if d != '__pycache__' and not d.startswith('.'))
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
