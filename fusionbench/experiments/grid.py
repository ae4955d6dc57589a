"""The grid: every (row, cell, seed) of a table, run once, recorded once, resumable, shardable.

A run's id is a hash of its fully resolved config (machine-local places -- the work dir, the
scene cache -- excluded, so shards on machines with different caches agree), protocol, seed and
the fingerprint of the code that affects results (:mod:`fusionbench.experiments.fingerprint`):
records made by other code are not reused; ``run_grid`` lists them as ``stale``. A finished
run writes one JSON record atomically (temporary file, then ``os.replace``) to
``results/<protocol>/runs/<table>/``; a cell with a valid ``ok`` record is skipped next time
(``force`` reruns from scratch). A run killed midway resumes from its last checkpoint next
time, ending exactly where an uninterrupted run would. A run that raises or whose loss goes NaN/inf is
recorded as failed with its reason and the grid carries on. ``shard=(i, n)`` keeps the jobs
whose position ``% n == i`` so a cluster job array can run disjoint cells into a shared folder;
``jobs`` runs that many local processes (one per GPU when there are GPUs); ``launcher`` runs
each job on all ranks of a ``torchrun`` group.

Reliability: a cell is *claimed* (:mod:`~fusionbench.experiments.leases`) before it trains, so
two commands on one table split the cells; pool workers die with the command that started them;
only a valid ``ok`` record (:func:`~fusionbench.experiments.records.read_record`) makes a cell
done -- failed, truncated and old records rerun; the first write error (disk full, read-only
folder) stops the grid with :class:`~fusionbench.errors.WriteError` and no partial files.
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import platform
import subprocess
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from fusionbench.experiments.fingerprint import run_fingerprint, short_hash, stale_records
from fusionbench.errors import RecordError, WriteError, is_write_error, write_error
from fusionbench.experiments.leases import CellClaim, describe
from fusionbench.experiments.protocols import Protocol, get_protocol
from fusionbench.experiments.records import RECORD_SCHEMA, expected_record, read_record
from fusionbench.experiments.config_check import resolve_config
from fusionbench.experiments.tables import TableSpec, get_table
from fusionbench.paths import IN_CHECKOUT, REPO_ROOT, config_path, results_root, source_path


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
    code: str = ''  # the code fingerprint in the run id

    @property
    def key(self) -> str:
        return f'{self.row}/{self.cell}/seed{self.seed}'

    @property
    def record_name(self) -> str:
        return f'{self.row}__{self.cell}__seed{self.seed}__{self.run_id}.json'


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


def hash_config(resolved: dict, protocol: str, seed: int, code: str = '') -> str:
    """12 hex digits of SHA-1 over the canonical JSON of (config, protocol, seed, code).

    ``code``: the code fingerprint (:func:`~fusionbench.experiments.fingerprint.code_fingerprint`;
    '' leaves it out). Keys in :data:`LOCAL_KEYS` (at any depth) are left out:
    ``$FUSIONBENCH_CACHE`` on one machine and another must not make the same run two runs.
    """
    content = {'config': _without_local_keys(resolved), 'protocol': protocol, 'seed': seed}
    if code:
        content['code'] = code
    return short_hash(content)


def plan(spec: TableSpec, protocol: Protocol, seeds: int, shard: tuple[int, int] = (0, 1),
         rows: list[str] | None = None) -> list[Job]:
    """The jobs of ``spec`` under ``protocol`` for seeds ``0..seeds-1`` (this shard's share)."""
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f'shard must be i/n with 0 <= i < n, got {index}/{count}')
    from mmengine.config import Config  # noqa: F401  (the type of the parsed configs)

    from fusionbench.experiments.config_check import load_config

    runs = [(row, cell_name, cell, seed) for row, cell_name, cell in spec.cells()
            if not rows or row.id in rows for seed in range(seeds)]
    parsed: dict[str, Config] = {}  # each config file parsed once (parsing dominates planning)
    jobs = []
    hashed: dict = {}  # source set -> fingerprint, hashed once per plan
    for position, (row, cell_name, cell, seed) in enumerate(runs):
        if position % count != index:
            continue
        if cell.config not in parsed:
            parsed[cell.config] = load_config(config_path(cell.config))
        cfg = resolve_config(copy.deepcopy(parsed[cell.config]), protocol, seed, cell.overrides)
        resolved = json.loads(json.dumps(cfg.to_dict(), default=str))
        resolved.pop('work_dir', None)
        # the code this run can reach; the same in a checkout and an installed package
        code = run_fingerprint(source_path, resolved, hashed)
        jobs.append(Job(spec.name, row.id, cell_name, seed, protocol.name, cell.config,
                        dict(cell.overrides), hash_config(resolved, protocol.name, seed, code),
                        resolved, code))
    return jobs


def git_state() -> dict[str, Any]:
    """``{'commit', 'dirty'}`` of the repo (dirty ignores results/ and reports/); both None for
    an installed package (no checkout to ask; the code fingerprint still names the code)."""
    if not IN_CHECKOUT:
        return {'commit': None, 'dirty': None}
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


def claim_path(job: Job, root: str | None = None) -> str:
    """The claim file of ``job``: beside its work dir (``work/<table>/<run_id>.claim``)."""
    return work_dir(job.protocol, job.table, job.run_id, root) + '.claim'


def check_writable(*folders: str) -> None:
    """Create each folder and a file in it; :class:`WriteError` naming the first that fails.

    Run before training, so a read-only or full results folder fails in one line at once
    instead of after the first run.
    """
    for folder in folders:
        probe = os.path.join(folder, f'.write-test.{os.getpid()}.{uuid.uuid4().hex}')
        try:
            os.makedirs(folder, exist_ok=True)
            with open(probe, 'wb') as f:
                f.write(b'fusionbench')
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            raise WriteError(str(err.filename or folder), err.strerror or str(err)) from None
        finally:
            if os.path.exists(probe):
                os.remove(probe)


def remove_partial_files(folder: str) -> list[str]:
    """Delete what a failed write leaves in a work dir: checkpoints that are not intact zips
    and ``*.tmp`` files. Returns the deleted paths."""
    from fusionbench.compat import intact_checkpoint
    if not os.path.isdir(folder):
        return []
    removed = []
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        partial = (name.endswith('.pth') and not intact_checkpoint(path)) or name.endswith('.tmp')
        if partial and os.path.isfile(path):
            try:
                os.remove(path)
                removed.append(path)
            except OSError:
                pass
    return removed


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
            fresh: bool = False, performance: dict | None = None,
            keep_record: bool = False) -> dict:
    """Run ``job`` and write its record (failed runs too); return the record.

    The job's work dir keeps its checkpoints: a run killed midway resumes from its last one
    next time (bit-identical to an uninterrupted run, see
    :class:`~fusionbench.hooks.RngStateHook`); ``fresh`` (``--force``) starts over instead.
    A finished run keeps only its final checkpoint there
    (:func:`~fusionbench.experiments.final_checkpoint.keep_final_checkpoint`). ``keep_record``:
    the cell has a valid record and is trained again only for its checkpoint (a fresh clone
    with committed records): the record on disk is left as it is.
    Under a launcher every rank trains and rank 0 alone writes the record. ``performance``
    overrides the protocol's speed switches (:meth:`Protocol.default_performance`).
    """
    claim = CellClaim(claim_path(job, root)) if _is_main_process() else None
    held = _from_rank0(claim.acquire() if claim is not None else None)
    if not held:
        return _skipped(job, 'claimed', describe(claim.holder) if claim is not None else '')
    try:
        if not (fresh or keep_record) and _from_rank0(
                finished_record(job, root) if claim is not None else None):
            return _skipped(job, 'done', '')  # finished by another command meanwhile
        return _execute(job, root, launcher, fresh, performance, keep_record)
    finally:
        if claim is not None:
            claim.release()


def _skipped(job: Job, status: str, holder: str) -> dict:
    return {'run_id': job.run_id, 'table': job.table, 'row': job.row, 'cell': job.cell,
            'seed': job.seed, 'status': status, 'holder': holder}


def _execute(job: Job, root: str | None, launcher: str, fresh: bool,
             performance: dict | None, keep_record: bool = False) -> dict:
    from mmengine.config import Config

    from fusionbench.experiments.run import train_and_evaluate

    protocol = get_protocol(job.protocol)
    folder = work_dir(job.protocol, job.table, job.run_id, root)
    record: dict[str, Any] = {
        'schema': RECORD_SCHEMA, 'run_id': job.run_id, 'table': job.table, 'row': job.row,
        'cell': job.cell, 'protocol': job.protocol, 'seed': job.seed, 'config_file': job.config,
        'overrides': job.overrides, 'synthetic': protocol.synthetic,
        'protocol_description': _task_protocol(protocol, job).description, 'started_at': now(),
        'git': git_state(), 'versions': versions(), 'code_fingerprint': job.code,
        'config': _without_local_keys(job.resolved),  # no machine paths in records
    }
    start = time.perf_counter()
    try:
        cfg = Config(job.resolved)
        cfg.work_dir = folder
        result = train_and_evaluate(cfg, launcher=launcher, fresh=fresh, performance={
            **protocol.default_performance(), **(performance or {})})
        record.update(status='ok', error=None, **result)
    except OSError as err:
        if not is_write_error(err):
            raise
        # The disk is full or read-only: no record (it could not be written either); delete
        # the half-written checkpoint and stop, naming it.
        removed = remove_partial_files(folder)
        raise write_error(err, removed[0] if removed else folder) from err
    except Exception as err:  # noqa: BLE001 - any failure becomes a failed record
        record.update(status='failed', error=f'{type(err).__name__}: {err}'.splitlines()[0],
                      traceback=traceback.format_exc(limit=8), metrics={}, params={},
                      wall_time_s=round(time.perf_counter() - start, 2), device=_device())
    record['finished_at'] = now()
    if _is_main_process():
        if record['status'] == 'ok':  # before the record: a finished cell has its weights
            from fusionbench.experiments.final_checkpoint import keep_final_checkpoint
            keep_final_checkpoint(folder, record)
        path = os.path.join(runs_dir(job.protocol, job.table, root), job.record_name)
        try:
            if not keep_record:
                write_json_atomic(path, record)
        except OSError as err:
            raise WriteError(path, err.strerror or str(err)) from err
        if record['status'] == 'ok':  # done: nothing resumes it any more
            from fusionbench.experiments.final_checkpoint import drop_resumable_checkpoints
            drop_resumable_checkpoints(folder)
    return record


def _task_protocol(protocol: Protocol, job: Job) -> Protocol:
    """The protocol as the job's task runs it (:meth:`Protocol.for_task`; the protocol itself
    when the resolved config names no task)."""
    from mmengine.config import Config

    from fusionbench.errors import ConfigError
    from fusionbench.tasks.base import task_of
    try:
        return protocol.for_task(task_of(Config(job.resolved)).name)
    except ConfigError:
        return protocol


def _device() -> str:
    import torch
    return torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'


def _is_main_process() -> bool:
    from fusionbench.compat import is_main_process
    return is_main_process()


def record_state(job: Job, root: str | None = None) -> tuple[str, str | None]:
    """``('ok' | 'failed' | 'missing' | 'invalid', problem)`` of ``job``'s record on disk.

    Only ``'ok'`` is done. ``'invalid'`` (truncated, old schema, keys missing or not this
    job's) comes with the one-line problem naming the file.
    """
    path = os.path.join(runs_dir(job.protocol, job.table, root), job.record_name)
    if not os.path.isfile(path):
        return 'missing', None
    try:
        record = expected_record(read_record(path), job, path)
    except RecordError as err:
        return 'invalid', str(err)
    return record['status'], None


def same_run_elsewhere(job: Job, root: str | None = None) -> str | None:
    """A valid ``ok`` record of ``job``'s run id in another table's folder of its protocol
    (the λ sweep's ×1 cells are Table 1's ``cen`` and ``private_bn_l1_half`` runs: same
    resolved config, seed and code), or None. The first in sorted order."""
    protocol_runs = os.path.dirname(runs_dir(job.protocol, job.table, root))
    if not os.path.isdir(protocol_runs):
        return None
    suffix = f'__seed{job.seed}__{job.run_id}.json'
    for table in sorted(os.listdir(protocol_runs)):
        folder = os.path.join(protocol_runs, table)
        if table == job.table or not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if not name.endswith(suffix):
                continue
            path = os.path.join(folder, name)
            try:
                record = read_record(path)
            except RecordError:
                continue
            if record.get('run_id') == job.run_id and record.get('status') == 'ok':
                return path
    return None


def adopt_record(job: Job, source: str, root: str | None = None) -> dict:
    """Write ``job``'s record from the record ``source`` of the same run in another table
    (:func:`same_run_elsewhere`): the same numbers under ``job``'s table, row and cell, with
    ``reused_from`` naming the source (``<table>/<file>``), instead of training it again."""
    record = read_record(source)
    record.update(table=job.table, row=job.row, cell=job.cell,
                  reused_from=f'{os.path.basename(os.path.dirname(source))}/'
                              f'{os.path.basename(source)}')
    path = os.path.join(runs_dir(job.protocol, job.table, root), job.record_name)
    try:
        write_json_atomic(path, record)
    except OSError as err:
        raise WriteError(path, err.strerror or str(err)) from err
    return record


def finished_record(job: Job, root: str | None = None) -> str | None:
    """Path of ``job``'s record if it is a valid record of a successful run."""
    state, _ = record_state(job, root)
    return os.path.join(runs_dir(job.protocol, job.table, root), job.record_name) \
        if state == 'ok' else None


#: prctl(2) option: the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Make this (worker) process end when ``parent_pid`` does, even by ``kill -9``.

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; everywhere: a daemon thread that exits the
    process once its parent pid changes (re-parented to init). Without this, workers of a killed
    ``run --jobs N`` keep training queued cells under PID 1.
    """
    import signal
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):  # not Linux: the thread below does it
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll_s)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name='fusionbench-parent-watch', daemon=True).start()


def _worker_init(threads: int, gpus: list[str], parent_pid: int | None = None,
                 under_bar: bool = False) -> None:
    if parent_pid is not None:
        die_with_parent(parent_pid)
    if under_bar:  # the parent draws a progress bar on this terminal: log lines replace it
        from fusionbench.experiments.progress import ClearLineFirst
        sys.stdout, sys.stderr = ClearLineFirst(sys.stdout), ClearLineFirst(sys.stderr)
    import warnings
    # mmengine warns that a spawned worker is not forked; the pool spawns on purpose.
    warnings.filterwarnings('ignore', message='Multi-processing start method')
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

    Summary: ``{'planned', 'skipped', 'ran', 'failed': [record...], 'jobs': [Job...],
    'claimed': [cells another command is running], 'retried': [Job...] (failed before, rerun
    now), 'invalid': [one line per invalid record; its cell reruns], 'stale': [path...]}``;
    ``skipped`` counts only cells with a valid ``ok`` record (one made by the same run in
    another table of the protocol is adopted first: :func:`adopt_record`); ``stale``: records of the planned
    (row, cell, seed)s made under another run id (other code or config), kept on disk but never
    counted as done. Raises :class:`~fusionbench.errors.WriteError` when the
    results folder is not writable, before anything trains, or on the first write error of any
    cell (the other cells are stopped).
    ``launcher='pytorch'`` (under ``torchrun``) trains every job on all ranks; rank 0 decides
    which jobs are missing and alone writes records and reports progress. ``threads``: torch
    threads of each process (default: see :func:`default_parallelism`); with several jobs the
    longest cells start first. ``performance``: speed switches over the protocol's defaults.
    """
    if launcher != 'none' and jobs > 1:
        raise ValueError('--jobs runs local processes; under a launcher use one job per rank')
    spec, proto = get_table(table), get_protocol(protocol)
    todo_all = plan(spec, proto, seeds or proto.for_task(spec.task).seeds, shard, rows)
    if launcher != 'none':
        from fusionbench.compat import init_distributed
        init_distributed(launcher=launcher)
        if not _is_main_process():
            progress = None
    if _is_main_process():
        check_writable(runs_dir(proto.name, spec.name, root),
                       os.path.join(root or results_root(), proto.name, 'work', spec.name))
    if _is_main_process() and not force:  # a run another table of the protocol already made
        for job in todo_all:
            if record_state(job, root)[0] != 'ok' and (source := same_run_elsewhere(job, root)):
                adopt_record(job, source, root)
    states = _from_rank0({j.run_id: record_state(j, root) for j in todo_all}
                         if _is_main_process() else None)
    todo = [j for j in todo_all if force or states[j.run_id][0] != 'ok']
    summary = {'planned': len(todo_all), 'skipped': len(todo_all) - len(todo), 'ran': 0,
               'failed': [], 'jobs': todo_all, 'claimed': [],
               'retried': [j for j in todo if states[j.run_id][0] == 'failed'],
               'invalid': [states[j.run_id][1] for j in todo_all
                           if states[j.run_id][0] == 'invalid'],
               'stale': stale_records(todo_all, lambda j: runs_dir(j.protocol, j.table, root))}
    if progress is not None:  # the cells to run, and where each logs its iterations
        progress.start(len(todo_all), done=summary['skipped'], watch={
            j.key: (work_dir(j.protocol, j.table, j.run_id, root),
                                               int((j.resolved.get('train_cfg') or {}).get(
                                                   'max_iters') or 0))
            for j in todo})

    def finished(record: dict) -> None:
        if record['status'] == 'claimed':  # another command is running it
            summary['claimed'].append(record)
            return
        if record['status'] == 'done':  # another command finished it meanwhile
            summary['skipped'] += 1
            return
        summary['ran'] += 1
        if record['status'] != 'ok':
            summary['failed'].append(record)
        if progress is not None:
            progress.advance(f"{record['row']}/{record['cell']}/seed{record['seed']}",  # Job.key
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
                                 initargs=(threads, gpus, os.getpid(),
                                           bool(getattr(progress, 'shows_bar', False)))) as pool:
            futures = [pool.submit(_run_in_worker, job, root, force, performance)
                       for job in todo]
            try:
                for future in as_completed(futures):
                    finished(future.result())
            except BaseException:
                _stop_pool(pool)  # the first write error (or Ctrl-C) stops every cell
                raise
    if progress is not None:
        progress.close()
    return summary


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued cells and kill the running ones (their work dirs resume next time)."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(pool, '_processes', None) or {}).values()):
        process.kill()


def failure_summary(failed: list[dict]) -> str:
    """One screen: one line per failed run (row/cell/seed: reason)."""
    lines = [f'{len(failed)} run(s) failed:']
    for record in failed[:20]:
        lines.append(f"  {record['table']} {record['row']}/{record['cell']}/seed{record['seed']}"
                     f" [{record['run_id']}]: {record['error']}")
    if len(failed) > 20:
        lines.append(f'  … and {len(failed) - 20} more (see the records under results/)')
    return '\n'.join(lines)
