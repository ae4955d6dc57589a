"""``run robustness``: trained cells evaluated, without retraining, under a missing or degraded
modality (beyond the paper; the DELIVER benchmark's sensor-failure study on our data).

For every (row, seed) of a table: the cell's trained model (:func:`~fusionbench.experiments.
checkpoints.load_trained`, trained first when missing), then its held-out test split under each
condition of the declared grid (:mod:`fusionbench.robustness.corruptions`): clean, one modality
removed (zeros or the training-split mean), Gaussian noise of rising σ on one modality, depth
holes of rising coverage. The corruption is a transform inserted into the cell's own test
pipeline just before its normalisation (:func:`corrupted_pipeline`), so the model sees a
corrupted sensor through the preprocessing it was trained with; evaluation is the run's own
(the config's test evaluator, every head). The clean condition therefore reproduces the run's
recorded test metrics (:func:`clean_mismatches` checks it).

Outputs under ``results/<protocol>/``: ``robustness_<table>.csv`` (one row per table row ×
seed × condition × head; rows of other (row, seed)s already there are kept, so ``--rows``
subsets add up) and ``plots/robustness_<table>.png`` (mean IoU against severity, one line per
row, :func:`fusionbench.report.robustness.plot_robustness`).
"""
from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fusionbench.errors import ConfigError
from fusionbench.robustness.corruptions import (Corruption, condition_name, conditions,
                                                get_corruptions)

#: Pipeline steps a corruption goes before: the first of these the test pipeline has (raw
#: units before, normalised after).
INSERT_BEFORE = ('NormalizeModalities', 'PackMultiModalInputs')
#: Values that mean "no measurement" in fusionbench's readers (depth 0; see
#: :mod:`fusionbench.data.transforms`): left out of the statistics, kept by noise.
HOLE_VALUES = {'depth': 0.0, 'depth_zbuffer': 0.0}
#: Training samples the statistics are measured on (evenly spaced; our choice: enough for the
#: per-channel mean and std to three digits, a second or two to load).
STAT_SAMPLES = 256
#: Seed of the corruptions' draws (the same scenes get the same corruption in every cell).
CORRUPTION_SEED = 0
#: The CSV's leading columns (more follow: aAcc, mAcc, unit, run_id, synthetic).
CSV_COLUMNS = ('table', 'row', 'seed', 'corruption', 'modality', 'severity', 'head', 'mIoU')


def csv_path(table: str, protocol: str, root: str | None = None) -> Path:
    from fusionbench.paths import results_root
    return Path(root or results_root()) / protocol / f'robustness_{table}.csv'


def plot_path(table: str, protocol: str, root: str | None = None) -> Path:
    from fusionbench.paths import results_root
    return Path(root or results_root()) / protocol / 'plots' / f'robustness_{table}.png'


def corrupted_pipeline(pipeline: Sequence[dict], transform: dict | None) -> list[dict]:
    """``pipeline`` with ``transform`` inserted before its first :data:`INSERT_BEFORE` step
    (a copy; ``transform`` None: the copy unchanged). Raises :class:`ConfigError` when the
    pipeline has none of them (nowhere to put a raw-unit corruption)."""
    pipeline = [copy.deepcopy(dict(t)) for t in pipeline]
    if transform is None:
        return pipeline
    types = [t.get('type') for t in pipeline]
    for anchor in INSERT_BEFORE:
        if anchor in types:
            index = types.index(anchor)
            return [*pipeline[:index], dict(transform), *pipeline[index:]]
    raise ConfigError(f'the test pipeline {types} has none of {list(INSERT_BEFORE)}: no place '
                      'for a corruption in raw units')


def _pipeline_owner(loader: dict) -> dict:
    """The (innermost) data set config of ``loader`` that holds the pipeline."""
    from fusionbench.experiments.config_check import datasets_in
    owners = [d for d in datasets_in(loader.get('dataset')) if 'pipeline' in d]
    if not owners:
        raise ConfigError('test_dataloader.dataset has no pipeline to corrupt')
    return owners[-1]


def modality_statistics(cfg, modalities: Sequence[str],
                        samples: int = STAT_SAMPLES) -> dict[str, dict]:
    """Per modality of ``cfg``'s training split: ``{'mean', 'std', 'min', 'max': [C] lists,
    'hole': float | None}`` in raw units over the valid pixels (:data:`HOLE_VALUES` excluded).

    The split is read through its loading steps only (``Load*`` transforms; the synthetic
    scenes need none): no augmentation, no normalisation. Up to ``samples`` evenly spaced
    samples. Source: our choice of reference for "the dataset mean" and "the modality's std".
    """
    from mmengine.registry import DefaultScope

    from fusionbench import registry

    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    owner = _pipeline_owner({'dataset': dataset_cfg})
    owner['pipeline'] = [t for t in owner['pipeline']
                         if str(t.get('type', '')).startswith('Load')]
    with DefaultScope.overwrite_default_scope('fusionbench'):
        dataset = registry.build(registry.DATASETS, dict(dataset_cfg))
    count = len(dataset)
    indices = np.unique(np.linspace(0, count - 1, min(samples, count)).round().astype(int))
    arrays: dict[str, list[np.ndarray]] = {m: [] for m in modalities}
    for index in indices:
        item = dataset[int(index)]
        for modality in modalities:
            array = np.asarray(item['modalities'][modality], dtype=np.float64)
            arrays[modality].append(array.reshape(-1, array.shape[-1] if array.ndim == 3 else 1))
    stats = {}
    for modality, chunks in arrays.items():
        pixels = np.concatenate(chunks)
        hole = HOLE_VALUES.get(modality)
        if hole is not None:
            pixels = pixels[(pixels != hole).all(axis=1)]
        stats[modality] = {'mean': pixels.mean(0).round(4).tolist(),
                           'std': pixels.std(0).round(4).tolist(),
                           'min': pixels.min(0).tolist(), 'max': pixels.max(0).tolist(),
                           'hole': hole}
    return stats


def evaluate(model, cfg, transform: dict | None) -> dict[str, dict]:
    """Metrics per head (``{head: {mIoU, mAcc, aAcc}}``, as a record's ``metrics``) of
    ``model`` (on its device) on ``cfg``'s test split with ``transform`` in its pipeline (None:
    clean).

    The config's own test loader and test evaluator, the model's ``test_step``: what the run's
    test loop did, with one more pipeline step.
    """
    import torch
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from fusionbench.experiments.run import _by_head

    loader_cfg = copy.deepcopy(cfg.test_dataloader)
    loader_cfg = loader_cfg.to_dict() if hasattr(loader_cfg, 'to_dict') else dict(loader_cfg)
    owner = _pipeline_owner(loader_cfg)
    owner['pipeline'] = corrupted_pipeline(owner['pipeline'], transform)
    loader_cfg.update(num_workers=0, persistent_workers=False)
    with DefaultScope.overwrite_default_scope('fusionbench'):
        loader = Runner.build_dataloader(loader_cfg, seed=CORRUPTION_SEED)
        evaluator = Evaluator(copy.deepcopy(cfg.test_evaluator))
        evaluator.dataset_meta = loader.dataset.metainfo
        with torch.no_grad():
            for batch in loader:
                evaluator.process(data_samples=model.test_step(batch), data_batch=batch)
        flat = evaluator.evaluate(len(loader.dataset))
    return _by_head(flat)


def evaluate_cell(trained, corruptions: Sequence[Corruption], stats: dict[str, dict],
                  device: str = 'cpu') -> list[dict]:
    """CSV rows of one trained cell under the clean condition and every applicable corruption
    (:func:`~fusionbench.robustness.corruptions.conditions`)."""
    model = trained.model.to(device)
    modalities = tuple(trained.cfg.model.get('modalities') or ())
    record = trained.record
    rows = []
    for corruption, modality, severity in conditions(corruptions, modalities):
        transform = None if corruption is None else corruption.transform_cfg(
            modality, severity, stats.get(modality), CORRUPTION_SEED)
        metrics = evaluate(model, trained.cfg, transform)
        for head, values in metrics.items():
            rows.append({'table': record['table'], 'row': record['row'], 'seed': record['seed'],
                         'corruption': condition_name(corruption), 'modality': modality,
                         'severity': severity, 'head': head, 'mIoU': values.get('mIoU'),
                         'mAcc': values.get('mAcc'), 'aAcc': values.get('aAcc'),
                         'unit': '' if corruption is None else corruption.unit,
                         'run_id': record['run_id'],
                         'synthetic': bool(record.get('synthetic'))})
    trained.model.to('cpu')
    return rows


def clean_mismatches(rows: Sequence[dict], record: dict, tolerance: float = 0.01) -> list[str]:
    """Heads whose clean mIoU differs from the record's test mIoU by more than ``tolerance``
    (percentage points): ``['rgb 41.20 vs 41.31', ...]``. Empty when they agree, as they do
    when the checkpoint is the recorded run's on the same device."""
    recorded = record.get('metrics') or {}
    out = []
    for row in rows:
        if row['corruption'] != 'clean' or row['head'] not in recorded:
            continue
        want = recorded[row['head']].get('mIoU')
        if want is not None and abs(float(row['mIoU']) - float(want)) > tolerance:
            out.append(f"{row['head']} {row['mIoU']:.2f} vs {want:.2f}")
    return out


def run_robustness(table: str = 'table1', protocol: str = 'mini', seeds: int = 1,
                   rows: Sequence[str] | None = None,
                   corruptions: Sequence[str] | None = None, train_missing: bool = True,
                   echo: Callable[[str], None] = print, root: str | None = None,
                   device: str | None = None) -> pd.DataFrame:
    """Evaluate every (row, seed ``0..seeds-1``) of ``table`` under ``protocol``; return the
    CSV rows (columns :data:`CSV_COLUMNS` first).

    ``rows`` / ``corruptions``: subsets (None: all rows, every declared corruption).
    ``train_missing``: train a cell without a checkpoint first (else :class:`ConfigError`,
    naming it). One line per cell through ``echo``. Raises :class:`ConfigError` for an unknown
    row or corruption before anything is loaded or trained.
    """
    import torch

    from fusionbench.experiments.checkpoints import load_trained
    from fusionbench.experiments.tables import get_table

    chosen = get_corruptions(corruptions)
    spec = get_table(table)
    valid = [r.id for r in spec.rows]
    unknown = [r for r in rows or () if r not in valid]
    if unknown or (rows is not None and not rows):
        what = f'unknown row(s) {unknown}' if unknown else '--rows needs at least one row id'
        raise ConfigError(f'{what} for {table}; valid: {", ".join(valid)}')
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    stats_cache: dict[str, dict] = {}
    out: list[dict] = []
    for row in rows or valid:
        for seed in range(seeds):
            start, cpu = time.perf_counter(), time.process_time()
            trained = load_trained(table, row, seed, protocol=protocol,
                                   train_missing=train_missing, echo=echo, root=root)
            modalities = tuple(trained.cfg.model.get('modalities') or ())
            key = json.dumps(trained.cfg.train_dataloader.dataset.to_dict(), sort_keys=True,
                             default=str)
            if key not in stats_cache:
                stats_cache[key] = modality_statistics(trained.cfg, modalities)
                echo('training-split statistics (raw units, valid pixels): ' + '; '.join(
                    f"{m} mean {_short(v['mean'])} std {_short(v['std'])}"
                    for m, v in stats_cache[key].items()))
            cell_rows = evaluate_cell(trained, chosen, stats_cache[key], device)
            out += cell_rows
            mismatch = clean_mismatches(cell_rows, trained.record)
            evaluated = {(r['corruption'], r['modality'], r['severity']) for r in cell_rows}
            echo(f'{table}/{row} seed {seed}: {len(evaluated)} conditions in '
                 f'{time.perf_counter() - start:.1f} s ({time.process_time() - cpu:.1f} CPU-s)'
                 + (f'; clean mIoU differs from its record: {", ".join(mismatch)}'
                    if mismatch else ''))
    return order_columns(pd.DataFrame(out))


def _short(values: Sequence[float]) -> str:
    return ', '.join(f'{v:.3g}' for v in values)


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    """:data:`CSV_COLUMNS` first, the rest after in their order."""
    first = [c for c in CSV_COLUMNS if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]


def merge_rows(old: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """``new`` after the rows of ``old`` it does not replace. A row of ``old`` is replaced when
    ``new`` evaluated its (row, seed) with other weights (another ``run_id``) or under its
    condition (``corruption``; the clean one is evaluated every time), so ``--rows`` and
    ``--corruptions`` subsets add up."""
    if old is None or old.empty:
        return new.reset_index(drop=True)
    evaluated = {(r, s): (set(g['corruption']), set(g['run_id']) if 'run_id' in g else set())
                 for (r, s), g in new.groupby(['row', 'seed'])}

    def replaced(row) -> bool:
        if (row['row'], row['seed']) not in evaluated:
            return False
        corruptions, run_ids = evaluated[(row['row'], row['seed'])]
        return row['corruption'] in corruptions or row.get('run_id') not in run_ids

    kept = old[[not replaced(row) for _, row in old.iterrows()]]
    return order_columns(pd.concat([kept, new], ignore_index=True))


def write_robustness(df: pd.DataFrame, table: str, protocol: str,
                     root: str | None = None) -> list[Path]:
    """Merge ``df`` into ``robustness_<table>.csv`` (:func:`merge_rows`) and redraw its plot,
    under a lock (``work/robustness_<table>.lock``); return the written paths."""
    from fusionbench.analysis.files import atomic_write_text
    from fusionbench.experiments.outputs import _atomic_plot, _locked
    from fusionbench.report.robustness import plot_robustness

    path = csv_path(table, protocol, root)
    with _locked(path.parent / 'work' / f'robustness_{table}.lock'):
        old = pd.read_csv(path) if path.is_file() else None
        merged = merge_rows(old, df)
        atomic_write_text(path, merged.to_csv(index=False, float_format='%.4g'))
        plot = _atomic_plot(plot_path(table, protocol, root),
                            lambda tmp: plot_robustness(merged, tmp, title=f'{table} [{protocol}]'))
    return [path, plot]


__all__ = ['CSV_COLUMNS', 'corrupted_pipeline', 'csv_path', 'evaluate', 'evaluate_cell',
           'clean_mismatches', 'merge_rows', 'modality_statistics', 'plot_path',
           'run_robustness', 'write_robustness']
