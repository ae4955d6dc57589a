"""Trained models of the grid's cells: each finished run keeps one small final checkpoint.

Where. A run's work dir (``results/<protocol>/work/<table>/<run id>/``, git-ignored scratch, see
:func:`~fusionbench.experiments.grid.work_dir`) holds mmengine's resumable checkpoint while the
run trains (weights, optimiser state, RNG states: a killed run resumes from it). When the run
finishes, :func:`keep_final_checkpoint` turns that into ``final.pth`` -- the model weights
only, with the run's resolved config and its record -- and deletes the resumable checkpoint
(a finished cell never resumes). The run id hashes the resolved config, the protocol, the seed
and the code fingerprint, so a checkpoint is found only by the code and config that made it.

``final.pth`` (``torch.save``, loadable weights-only)::

    {'state_dict': {name: Tensor},          # the model's own state dict (no wrapper prefix)
     'meta': {'cfg': str,                   # the config the run trained (mmengine pretty text,
                                            # after Protocol.apply and the seed's pretraining)
              'record': str,                # the run's record, JSON
              'run_id': str, 'iter': int, 'dataset_meta': dict}}

:func:`load_trained` finds a cell's final checkpoint the way ``run`` finds its record (same
plan, same run id) and, when there is none, trains that one cell first through the grid's job
runner (:func:`~fusionbench.experiments.grid.execute`), saying so in one line. A cell whose
valid record exists (e.g. committed) but whose checkpoint does not (a fresh clone) is
retrained without touching its record; the retrain's own record travels in the checkpoint.
"""
from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fusionbench.errors import ConfigError
from fusionbench.experiments.final_checkpoint import (FINAL_CHECKPOINT, LAST_CHECKPOINT,
                                                      drop_resumable_checkpoints,
                                                      keep_final_checkpoint)

__all__ = ['FINAL_CHECKPOINT', 'LAST_CHECKPOINT', 'TrainedCell', 'adopt_finished_checkpoint',
           'drop_resumable_checkpoints',
           'final_checkpoint_path', 'find_job', 'keep_final_checkpoint', 'load_trained',
           'read_final_checkpoint', 'train_command', 'training_estimate']

if TYPE_CHECKING:
    import torch
    from mmengine.config import Config

    from fusionbench.experiments.grid import Job


@dataclass(frozen=True)
class TrainedCell:
    """A trained cell of a table, ready to evaluate.

    Attributes:
        model: the trained model in eval mode on CPU (a
            :class:`~fusionbench.models.segmentor.MultiModalSegmentor` for segmentation).
        cfg: the config the run trained (after :meth:`Protocol.apply` and the seed's
            pretraining: per-layer λ, the pretrained encoder's path).
        record: the record of the run that made these weights (metrics per head, params,
            ``gamma_dynamics``, ...). For a cell retrained only for its checkpoint, the
            retrain's record (the committed one is left as it was).
        checkpoint: path of the final checkpoint (in the git-ignored work dir).
    """

    model: torch.nn.Module
    cfg: Config
    record: dict
    checkpoint: str


def final_checkpoint_path(job: Job, root: str | None = None) -> str:
    """``<results>/<protocol>/work/<table>/<run id>/final.pth`` of ``job``."""
    from fusionbench.experiments.grid import work_dir
    return os.path.join(work_dir(job.protocol, job.table, job.run_id, root), FINAL_CHECKPOINT)


def read_final_checkpoint(path: str) -> TrainedCell:
    """Build the model of the final checkpoint ``path`` and load its weights (strictly).

    Raises ``FileNotFoundError`` / :class:`~fusionbench.compat.CheckpointError` (named) for a
    missing or unreadable file, ``RuntimeError`` when the weights do not fit the model.
    """
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from fusionbench import compat
    from fusionbench.experiments.config_check import build_model

    checkpoint = compat.load_checkpoint(path)
    meta = checkpoint['meta']
    cfg = Config.fromstring(meta['cfg'], file_format='.py')
    _localise(cfg, os.path.dirname(os.path.abspath(path)))
    with DefaultScope.overwrite_default_scope('fusionbench'):
        model = build_model(cfg)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    model.eval()
    return TrainedCell(model=model, cfg=cfg, record=json.loads(meta['record']), checkpoint=path)


def _localise(cfg: Config, folder: str) -> None:
    """Point the machine-local places of a checkpoint's config (:data:`~fusionbench.
    experiments.grid.LOCAL_KEYS`: the work dir, the scene cache) at this machine's: a
    checkpoint copied from another machine evaluates on this one's cache."""
    from fusionbench.experiments.config_check import datasets_in
    from fusionbench.paths import cache_root

    cfg.work_dir = folder
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for dataset in datasets_in((cfg.get(loader) or {}).get('dataset')):
            if 'cache_dir' in dataset:
                dataset['cache_dir'] = cache_root()


def find_job(table: str, row: str, seed: int = 0, protocol: str = 'mini',
             cell: str = 'main') -> Job:
    """The grid's job of (``table``, ``row``, ``cell``, ``seed``) under ``protocol``: the same
    plan, run id and code fingerprint as ``run``. Raises :class:`ConfigError` naming the valid
    rows or cells for an unknown one (unknown tables and protocols: the registry's one line)."""
    from fusionbench.experiments.grid import plan
    from fusionbench.experiments.protocols import get_protocol
    from fusionbench.experiments.tables import get_table

    spec = get_table(table)
    rows = {r.id: r for r in spec.rows}
    if row not in rows:
        raise ConfigError(f'unknown row {row!r} of {table}; valid: {", ".join(rows)}')
    if cell not in rows[row].cells:
        raise ConfigError(f'unknown cell {cell!r} of {table}/{row}; valid: '
                          f'{", ".join(rows[row].cells)}')
    if seed < 0:
        raise ConfigError(f'seed must be >= 0, got {seed}')
    jobs = plan(spec, get_protocol(protocol), seed + 1, rows=[row])
    return next(j for j in jobs if j.cell == cell and j.seed == seed)


def training_estimate(job: Job, root: str | None = None) -> str:
    """What training ``job`` should take, for the one line that announces it: ``'~N s, as its
    record took'`` -- its
    own record's wall time × torch threads, else the median of the table's finished CPU
    records -- plus the seed's pretraining when its artifact is missing (its CPU time in the
    other records); ``'time unknown'`` without any record to go by. Wall time, not CPU time:
    records keep the former (on a busy machine it overstates the CPU time)."""
    from fusionbench.experiments.aggregate import load_records
    from fusionbench.experiments.grid import runs_dir

    folder = runs_dir(job.protocol, job.table, root)
    records = [r for r in (load_records(folder) if os.path.isdir(folder) else [])
               if r.get('status') == 'ok' and r.get('wall_time_s')
               and (r.get('device') or 'cpu') == 'cpu']
    own = [r for r in records if r.get('run_id') == job.run_id]
    costs = [float(r['wall_time_s']) * int(r.get('torch_threads') or 1) for r in own or records]
    if not costs:
        return 'time unknown'
    total = statistics.median(costs)
    pretraining = _missing_pretraining_cost(job, records)
    source = 'as its record took' if own else f'the median of {len(costs)} finished cell(s)'
    return (f'~{total + pretraining:.0f} s, {source}'
            + (f', incl. ~{pretraining:.0f} s of pretraining' if pretraining else ''))


def _missing_pretraining_cost(job: Job, records: list[dict]) -> float:
    """CPU-s of the seed's pretraining when its artifact is not in the cache (0 otherwise, or
    when no record says what a pretraining cost)."""
    marker = job.resolved.get('pretraining')
    if not marker:
        return 0.0
    from fusionbench.experiments.pretrain import artifact_dir
    from fusionbench.experiments.protocols import get_protocol
    protocol = get_protocol(marker['protocol'])
    depth = (job.resolved.get('model') or {}).get('backbone', {}).get('depth')
    folder = artifact_dir(protocol, job.seed, job.code, depth)
    if os.path.isfile(os.path.join(folder, 'provenance.json')):
        return 0.0
    seen = [float(r['pretraining']['cpu_time_s']) for r in records
            if (r.get('pretraining') or {}).get('cpu_time_s')]
    return statistics.median(seen) if seen else 0.0


def adopt_finished_checkpoint(job: Job, root: str | None = None) -> str | None:
    """``final.pth`` of a cell finished before runs kept final checkpoints: when the cell has a
    valid ``ok`` record and its work dir still holds the run's resumable checkpoint at the
    schedule's last iteration (or epoch), that checkpoint becomes ``final.pth`` (with the
    record) and the resumable one goes. Returns its path, None when there is nothing to adopt
    (no record, no checkpoint, or one from an unfinished run)."""
    from fusionbench import compat
    from fusionbench.experiments.final_checkpoint import resumable_checkpoint
    from fusionbench.experiments.grid import finished_record, work_dir
    from fusionbench.experiments.records import read_record

    record_path = finished_record(job, root)
    folder = work_dir(job.protocol, job.table, job.run_id, root)
    source = resumable_checkpoint(folder) if record_path and os.path.isdir(folder) else None
    if source is None:
        return None
    loop = job.resolved.get('train_cfg') or {}
    meta = compat.load_checkpoint(source).get('meta') or {}
    last = {'iter': loop.get('max_iters'), 'epoch': loop.get('max_epochs')}
    if not any(value is not None and meta.get(key) == value for key, value in last.items()):
        return None  # a later, unfinished rerun's checkpoint: not the recorded weights
    path = keep_final_checkpoint(folder, read_record(record_path))
    drop_resumable_checkpoints(folder)
    return path


def train_command(job: Job) -> str:
    """The command that trains ``job``'s cell (and keeps its checkpoint)."""
    return (f'python -m fusionbench run robustness --table {job.table} --protocol '
            f'{job.protocol} --rows {job.row} --seeds {job.seed + 1}')


def load_trained(table: str, row: str, seed: int = 0, *, protocol: str = 'mini',
                 cell: str = 'main', train_missing: bool = True,
                 echo: Callable[[str], None] = print, root: str | None = None) -> TrainedCell:
    """The trained model of (``table``, ``row``, ``cell``, ``seed``) under ``protocol``.

    Looks the job up exactly as ``run`` does (:func:`find_job`) and loads its final checkpoint
    (:func:`read_final_checkpoint`; a run finished before runs kept one is adopted,
    :func:`adopt_finished_checkpoint`). When there is none and ``train_missing``, trains that one
    cell first through the grid's job runner -- its record lands where ``run`` puts it; a cell
    that already has a valid record is retrained without rewriting it -- and says so in one
    line through ``echo`` (with the expected cost, :func:`training_estimate`). ``root``: the
    results root (default ``$FUSIONBENCH_RESULTS``).

    Raises :class:`ConfigError` (one line naming the cell and the command that trains it) when
    there is no checkpoint and not ``train_missing``, or when training it fails (with the
    run's reason); :class:`ConfigError` for an unknown row or cell.
    """
    from fusionbench.experiments.grid import execute, finished_record

    job = find_job(table, row, seed, protocol, cell)
    path = final_checkpoint_path(job, root)
    if os.path.isfile(path) or adopt_finished_checkpoint(job, root):
        return read_final_checkpoint(path)
    where = f'{table}/{row}' + ('' if cell == 'main' else f'/{cell}') + f' seed {seed} ({protocol})'
    if not train_missing:
        raise ConfigError(f'no checkpoint for {where} at {path}; train it with: '
                          f'{train_command(job)}')
    recorded = finished_record(job, root) is not None
    echo(f'no checkpoint for {where}: training it first ({training_estimate(job, root)}'
         + ('; its record is kept as it is)' if recorded else ')'))
    record = execute(job, root, keep_record=recorded)
    if record.get('status') == 'claimed':
        raise ConfigError(f'{where} is being trained by {record.get("holder")}; run again when '
                          'it is done')
    if record.get('status') not in ('ok', 'done'):
        raise ConfigError(f'training {where} failed: {record.get("error")}')
    if not os.path.isfile(path):
        raise ConfigError(f'training {where} left no checkpoint at {path}')
    return read_final_checkpoint(path)


def describe_cell(trained: TrainedCell) -> dict[str, Any]:
    """``{'run_id', 'table', 'row', 'cell', 'seed', 'protocol'}`` of a trained cell's record."""
    return {k: trained.record.get(k) for k in ('run_id', 'table', 'row', 'cell', 'seed',
                                              'protocol')}
