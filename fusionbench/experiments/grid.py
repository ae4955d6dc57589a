"""The grid: every (row, cell, seed) of a table, run once, recorded once, resumable, shardable.

A run's id is a hash of its fully resolved config (machine-local places -- the work dir, the
scene cache -- excluded, so shards on machines with different caches agree), protocol and
seed. A finished run writes one JSON record atomically (temporary file, then ``os.replace``)
to ``results/<protocol>/runs/<table>/``; a record that exists is skipped next time (``force``
reruns from scratch). A run killed midway resumes from its last checkpoint next time, ending
exactly where an uninterrupted run would. A run that raises or whose loss goes NaN/inf is
recorded as failed with its reason and the grid carries on. ``shard=(i, n)`` keeps the jobs
whose position ``% n == i`` so a cluster job array can run disjoint cells into a shared folder;
``jobs`` runs that many local processes (one per GPU when there are GPUs); ``launcher`` runs
each job on all ranks of a ``torchrun`` group.
"""
from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import platform
import subprocess
import time
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from fusionbench.experiments.protocols import Protocol, get_protocol
from fusionbench.experiments.run import REPO_ROOT, config_path, resolve_config
from fusionbench.experiments.tables import TableSpec, get_table

RECORD_SCHEMA = 1


@dataclass(frozen=True)
class Job:
    """One run of the grid."""

    table: str
    row: str
    cell: str
    seed: int
    protocol: str
    config: str
    overrides: dict
    run_id: str
    resolved: dict

    @property
    def key(self) -> str:
        return f'{self.row}/{self.cell}/seed{self.seed}'

    @property
    def record_name(self) -> str:
        return f'{self.row}__{self.cell}__seed{self.seed}__{self.run_id}.json'


def results_root() -> str:
    """``$FUSIONBENCH_RESULTS`` or the repo's ``results/``."""
    return os.environ.get('FUSIONBENCH_RESULTS', os.path.join(REPO_ROOT, 'results'))


def runs_dir(protocol: str, table: str, root: str | None = None) -> str:
    return os.path.join(root or results_root(), protocol, 'runs', table)


def work_dir(protocol: str, table: str, run_id: str, root: str | None = None) -> str:
    return os.path.join(root or results_root(), protocol, 'work', table, run_id)


#: Config keys naming machine-local places rather than the experiment; not part of a run id.
LOCAL_KEYS = frozenset({'work_dir', 'cache_dir'})


def _without_local_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_local_keys(v) for k, v in value.items() if k not in LOCAL_KEYS}
    if isinstance(value, (list, tuple)):
        return [_without_local_keys(v) for v in value]
    return value


def hash_config(resolved: dict, protocol: str, seed: int) -> str:
    """12 hex digits of SHA-1 over the canonical JSON of (config, protocol, seed).

    Keys in :data:`LOCAL_KEYS` (at any depth) are left out: ``$FUSIONBENCH_CACHE`` on one
    machine and another must not make the same run two runs.
    """
    payload = json.dumps({'config': _without_local_keys(resolved), 'protocol': protocol,
                          'seed': seed}, sort_keys=True, default=str)
    return hashlib.sha1(payload.encode()).hexdigest()[:12]


def plan(spec: TableSpec, protocol: Protocol, seeds: int, shard: tuple[int, int] = (0, 1),
         rows: list[str] | None = None) -> list[Job]:
    """The jobs of ``spec`` under ``protocol`` for seeds ``0..seeds-1`` (this shard's share)."""
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f'shard must be i/n with 0 <= i < n, got {index}/{count}')
    from mmengine.config import Config

    runs = [(row, cell_name, cell, seed) for row, cell_name, cell in spec.cells()
            if not rows or row.id in rows for seed in range(seeds)]
    parsed: dict[str, Config] = {}  # each config file parsed once (parsing dominates planning)
    jobs = []
    for position, (row, cell_name, cell, seed) in enumerate(runs):
        if position % count != index:
            continue
        if cell.config not in parsed:
            parsed[cell.config] = Config.fromfile(config_path(cell.config))
        cfg = resolve_config(copy.deepcopy(parsed[cell.config]), protocol, seed, cell.overrides)
        resolved = json.loads(json.dumps(cfg.to_dict(), default=str))
        resolved.pop('work_dir', None)
        jobs.append(Job(spec.name, row.id, cell_name, seed, protocol.name, cell.config,
                        dict(cell.overrides), hash_config(resolved, protocol.name, seed),
                        resolved))
    return jobs


def git_state() -> dict[str, Any]:
    """``{'commit', 'dirty'}`` of the repo (dirty ignores results/ and reports/)."""
    def git(*args: str) -> str:
        return subprocess.run(['git', *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        commit = git('rev-parse', 'HEAD') or None
        status = git('status', '--porcelain', '--', '.', ':(exclude)results',
                     ':(exclude)reports')
    except (OSError, subprocess.SubprocessError):
        return {'commit': None, 'dirty': None}
    return {'commit': commit, 'dirty': bool(status)}


def versions() -> dict[str, str]:
    import mmengine
    import mmseg
    import torch
    return {'python': platform.python_version(), 'torch': torch.__version__,
            'mmengine': mmengine.__version__, 'mmseg': mmseg.__version__}


def write_json_atomic(path: str, payload: dict) -> None:
    """Write ``payload`` to ``path`` through a unique temporary file and ``os.replace``."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f'.{os.path.basename(path)}.{os.getpid()}.{uuid.uuid4().hex}.tmp')
    try:
        with open(tmp, 'w') as f:
            json.dump(payload, f, indent=1, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def execute(job: Job, root: str | None = None, launcher: str = 'none',
            fresh: bool = False, performance: dict | None = None) -> dict:
    """Run ``job`` and write its record (failed runs too); return the record.

    The job's work dir keeps its checkpoints: a run killed midway resumes from its last one
    next time (bit-identical to an uninterrupted run, see
    :class:`~fusionbench.hooks.RngStateHook`); ``fresh`` (``--force``) starts over instead.
    Under a launcher every rank trains and rank 0 alone writes the record. ``performance``
    overrides the protocol's speed switches (:meth:`Protocol.default_performance`).
    """
    from mmengine.config import Config

    from fusionbench.experiments.run import train_and_evaluate

    protocol = get_protocol(job.protocol)
    record: dict[str, Any] = {
        'schema': RECORD_SCHEMA, 'run_id': job.run_id, 'table': job.table, 'row': job.row,
        'cell': job.cell, 'protocol': job.protocol, 'seed': job.seed, 'config_file': job.config,
        'overrides': job.overrides, 'synthetic': protocol.synthetic,
        'protocol_description': protocol.description, 'started_at': now(),
        'git': git_state(), 'versions': versions(),
        'config': _without_local_keys(job.resolved),  # no machine paths in records
    }
    start = time.perf_counter()
    try:
        cfg = Config(job.resolved)
        cfg.work_dir = work_dir(job.protocol, job.table, job.run_id, root)
        result = train_and_evaluate(cfg, launcher=launcher, fresh=fresh, performance={
            **protocol.default_performance(), **(performance or {})})
        record.update(status='ok', error=None, **result)
    except Exception as err:  # noqa: BLE001 - any failure becomes a failed record
        record.update(status='failed', error=f'{type(err).__name__}: {err}'.splitlines()[0],
                      traceback=traceback.format_exc(limit=8), metrics={}, params={},
                      wall_time_s=round(time.perf_counter() - start, 2), device=_device())
    record['finished_at'] = now()
    if _is_main_process():
        write_json_atomic(os.path.join(runs_dir(job.protocol, job.table, root),
                                       job.record_name), record)
    return record


def _device() -> str:
    import torch
    return torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'


def _is_main_process() -> bool:
    from fusionbench.compat import is_main_process
    return is_main_process()


def finished_record(job: Job, root: str | None = None) -> str | None:
    """Path of ``job``'s record if it has one."""
    path = os.path.join(runs_dir(job.protocol, job.table, root), job.record_name)
    return path if os.path.isfile(path) else None


def _worker_init(threads: int, gpus: list[str]) -> None:
    import torch
    if gpus:
        from multiprocessing import current_process
        identity = current_process()._identity
        slot = (identity[0] - 1) % len(gpus) if identity else 0
        os.environ['CUDA_VISIBLE_DEVICES'] = gpus[slot]
    torch.set_num_threads(max(1, threads))


def _run_in_worker(job: Job, root: str | None, fresh: bool = False,
                   performance: dict | None = None) -> dict:
    return execute(job, root, fresh=fresh, performance=performance)


def default_parallelism(jobs: int | None = None, threads: int | None = None) -> tuple[int, int]:
    """``(processes, torch threads per process)`` for a grid on this machine.

    Default: one process per GPU when there are GPUs (threads: the cores shared out), else one
    process per core with ONE thread each -- on a busy CPU, processes of one thread scale far
    better than threads of one process (OpenMP's spinning waits cost 3-60× when cores are
    shared). ``jobs`` / ``threads`` override either.
    """
    import torch
    cores = os.cpu_count() or 1
    gpus = torch.cuda.device_count()
    jobs = max(1, jobs or gpus or cores)
    threads = max(1, threads or (max(1, cores // jobs) if gpus else 1))
    return jobs, threads


def expected_cost(job: Job) -> float:
    """A rough relative cost of ``job`` for ordering (long cells first): iterations × streams,
    plus the alignment loss's kernel matrices (our estimate from ``bench --table table2``)."""
    model = job.resolved.get('model') or {}
    fusion = model.get('fusion') or {}
    streams = len(model.get('modalities') or (1,))
    extra = 0.3 * len(fusion.get('stages') or ()) if fusion.get('type') == 'align_mmd' else 0
    iters = ((job.resolved.get('train_cfg') or {}).get('max_iters') or 1)
    return iters * (streams + extra)


def _from_rank0(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (``value`` itself outside a process group)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def run_grid(table: str, protocol: str, seeds: int | None = None, jobs: int = 1,
             shard: tuple[int, int] = (0, 1), force: bool = False, rows: list[str] | None = None,
             root: str | None = None, progress: Any = None,
             launcher: str = 'none', threads: int | None = None,
             performance: dict | None = None) -> dict[str, Any]:
    """Run the missing jobs of ``table`` under ``protocol``; return a summary.

    Summary: ``{'planned', 'skipped', 'ran', 'failed': [record...], 'jobs': [Job...]}``.
    ``launcher='pytorch'`` (under ``torchrun``) trains every job on all ranks; rank 0 decides
    which jobs are missing and alone writes records and reports progress. ``threads``: torch
    threads of each process (default: see :func:`default_parallelism`); with several jobs the
    longest cells start first. ``performance``: speed switches over the protocol's defaults.
    """
    if launcher != 'none' and jobs > 1:
        raise ValueError('--jobs runs local processes; under a launcher use one job per rank')
    spec, proto = get_table(table), get_protocol(protocol)
    todo_all = plan(spec, proto, seeds or proto.seeds, shard, rows)
    if launcher != 'none':
        from fusionbench.compat import init_distributed
        init_distributed()
        if not _is_main_process():
            progress = None
    todo = _from_rank0([j for j in todo_all if force or not finished_record(j, root)])
    summary = {'planned': len(todo_all), 'skipped': len(todo_all) - len(todo), 'ran': 0,
               'failed': [], 'jobs': todo_all}
    if progress is not None:
        progress.start(len(todo_all), done=summary['skipped'])

    def finished(record: dict) -> None:
        summary['ran'] += 1
        if record['status'] != 'ok':
            summary['failed'].append(record)
        if progress is not None:
            progress.advance(f"{record['row']}/{record['cell']}/seed{record['seed']}",
                             record['status'])

    import torch
    threads = threads or default_parallelism(jobs)[1]
    if jobs <= 1 or len(todo) <= 1:
        if launcher == 'none':
            torch.set_num_threads(threads)
        for job in todo:
            finished(execute(job, root, launcher=launcher, fresh=force, performance=performance))
    else:
        gpus = [str(i) for i in range(torch.cuda.device_count())]
        todo = sorted(todo, key=expected_cost, reverse=True)  # stable: plan order among equals
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo)),
                                 mp_context=get_context('spawn'), initializer=_worker_init,
                                 initargs=(threads, gpus)) as pool:
            futures = [pool.submit(_run_in_worker, job, root, force, performance)
                       for job in todo]
            for future in as_completed(futures):
                finished(future.result())
    if progress is not None:
        progress.close()
    return summary


def failure_summary(failed: list[dict]) -> str:
    """One screen: one line per failed run (row/cell/seed: reason)."""
    lines = [f'{len(failed)} run(s) failed:']
    for record in failed[:20]:
        lines.append(f"  {record['table']} {record['row']}/{record['cell']}/seed{record['seed']}"
                     f" [{record['run_id']}]: {record['error']}")
    if len(failed) > 20:
        lines.append(f'  … and {len(failed) - 20} more (see the records under results/)')
    return '\n'.join(lines)
