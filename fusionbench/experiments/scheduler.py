"""Send the grid's cells to a cluster scheduler through submitit: one job per cell.

``python -m fusionbench run table1 --protocol paper --submit slurm`` plans the table as
:func:`~fusionbench.experiments.grid.run_grid` does, skips every cell that has a record, and
submits the others as ONE Slurm job array (one array task per cell, run by submitit's
``AutoExecutor``). Each task runs :func:`~fusionbench.experiments.grid.execute` -- the same code
as a local run -- so it writes the same record to the same results folder, and a cell killed
midway resumes from its work dir's checkpoints:

- a task that reaches its time limit or is preempted is requeued by submitit (the task is a
  :class:`submitit.helpers.Checkpointable`) and picks up from its last checkpoint;
- submitting again later submits only the cells without a record (the records are the state;
  nothing else is kept).

``--submit local`` does the same with submitit's ``LocalExecutor`` (each cell a local process):
a way to check a submission on a workstation. Scheduler settings go to
``executor.update_parameters`` unchanged (``--scheduler-opt slurm_partition=gpu
--scheduler-opt gpus_per_node=1 --scheduler-opt timeout_min=1440``; submitit's names), so
anything submitit supports can be set. Submission artefacts (scripts, logs, pickles) go to
``<results>/<protocol>/submitit/<table>/``.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from fusionbench.experiments.grid import Job, execute, finished_record, plan
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.tables import get_table
from fusionbench.paths import results_root

#: Executors by ``--submit`` name: (submitit class name, constructor keywords, needs a command).
EXECUTORS: Mapping[str, tuple[str, dict, str | None]] = MappingProxyType({
    'slurm': ('AutoExecutor', {'cluster': 'slurm'}, 'sbatch'),
    'local': ('LocalExecutor', {}, None),
})
#: Our defaults, overridable by ``--scheduler-opt``: a paper cell trains for hours, and a task
#: that hits the limit is requeued and resumes, so the limit only sets the requeue period.
DEFAULT_PARAMETERS: Mapping[str, Any] = MappingProxyType({'timeout_min': 24 * 60})


class SchedulerError(RuntimeError):
    """A submission could not be made (one line: what and how to fix it)."""


def cell_task_class():
    """:class:`submitit.helpers.Checkpointable` running one cell (built lazily: submitit is only
    imported when a grid is submitted)."""
    from submitit.helpers import Checkpointable, DelayedSubmission

    class CellTask(Checkpointable):
        """One cell on a scheduler's node: :func:`execute` writes its record, returned too.

        On timeout / preemption submitit calls :meth:`checkpoint`: the cell is requeued with
        ``fresh=False``, so even a ``--force`` submission resumes from the checkpoints its
        first attempt left instead of starting over.
        """

        def __call__(self, job: Job, root: str, fresh: bool = False) -> dict:
            return execute(job, root, fresh=fresh)

        def checkpoint(self, job: Job, root: str, fresh: bool = False) -> DelayedSubmission:
            return DelayedSubmission(type(self)(), job, root, False)

    return CellTask


def make_executor(kind: str, folder: str, parameters: Mapping[str, Any] | None = None):
    """A submitit executor of ``kind`` (``'slurm'`` or ``'local'``) writing to ``folder``.

    ``parameters`` go to ``update_parameters`` after :data:`DEFAULT_PARAMETERS`. Raises
    :class:`SchedulerError` for an unknown kind, a missing scheduler command, or a parameter
    submitit rejects.
    """
    if kind not in EXECUTORS:
        raise SchedulerError(f'--submit must be one of {sorted(EXECUTORS)}, got {kind!r}')
    import submitit

    class_name, kwargs, command = EXECUTORS[kind]
    if command is not None and shutil.which(command) is None:
        raise SchedulerError(f'--submit {kind}: `{command}` not found on this machine (submit '
                             'from a Slurm login node; --submit local runs the cells as local '
                             'processes)')
    executor = getattr(submitit, class_name)(folder=folder, **kwargs)
    try:
        executor.update_parameters(**{**DEFAULT_PARAMETERS, **dict(parameters or {})})
    except (TypeError, ValueError) as err:
        raise SchedulerError(f'--scheduler-opt: {err}'.splitlines()[0]) from err
    return executor


def submission_folder(protocol: str, table: str, root: str | None = None) -> str:
    """Where submitit keeps a table's scripts and logs:
    ``<results>/<protocol>/submitit/<table>``."""
    return os.path.join(root or results_root(), protocol, 'submitit', table)


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``['key=value', ...]`` -> dict; values that read as int / float / bool become those.

    Raises :class:`SchedulerError` for an item without ``=``.
    """
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition('=')
        if not sep or not key:
            raise SchedulerError(f'--scheduler-opt takes key=value, got {item!r}')
        value: Any = text
        if text.lower() in ('true', 'false'):
            value = text.lower() == 'true'
        else:
            for cast in (int, float):
                try:
                    value = cast(text)
                    break
                except ValueError:
                    pass
        options[key] = value
    return options


def submit_grid(table: str, protocol: str, executor: str = 'slurm', seeds: int | None = None,
                rows: list[str] | None = None, force: bool = False, root: str | None = None,
                parameters: Mapping[str, Any] | None = None, wait: bool = True,
                folder: str | None = None) -> dict[str, Any]:
    """Submit the cells of ``table`` without a record, one job (array task) each.

    Returns ``{'planned', 'skipped', 'submitted': [scheduler job id...], 'jobs': [Job...],
    'ran', 'failed': [record...]}``; ``ran`` / ``failed`` are filled when ``wait`` (the call then
    blocks until every task has written its record). The results root is fixed at submission
    (``root`` or ``$FUSIONBENCH_RESULTS`` here), so the tasks write where a local run would.
    """
    proto = get_protocol(protocol)
    root = os.path.abspath(root or results_root())
    spec = get_table(table)
    jobs = plan(spec, proto, seeds or proto.for_task(spec.task).seeds, rows=rows)
    todo = [j for j in jobs if force or not finished_record(j, root)]
    summary: dict[str, Any] = {'planned': len(jobs), 'skipped': len(jobs) - len(todo),
                               'submitted': [], 'jobs': jobs, 'ran': 0, 'failed': []}
    if not todo:
        return summary
    ex = make_executor(executor, folder or submission_folder(protocol, table, root), parameters)
    task = cell_task_class()()
    with ex.batch():  # one array job on Slurm
        futures = [ex.submit(task, job, root, force) for job in todo]
    summary['submitted'] = [f.job_id for f in futures]
    if wait:
        for job, future in zip(todo, futures):
            try:
                record = future.result()
            except Exception as err:  # noqa: BLE001 - the task died before writing a record
                record = {'table': job.table, 'row': job.row, 'cell': job.cell,
                          'seed': job.seed, 'run_id': job.run_id, 'status': 'failed',
                          'error': f'{type(err).__name__}: {err}'.splitlines()[0]}
            summary['ran'] += 1
            if record.get('status') != 'ok':
                summary['failed'].append(record)
    return summary
