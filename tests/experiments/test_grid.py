"""Reliability of the grid: planning, run ids, kill and restart, NaN runs, concurrent writers,
determinism, exact resume.

The end-to-end tests run ``python -m fusionbench run table1 --protocol smoke`` on a 2-row subset
in subprocesses with one torch thread (on a shared 2-core machine two OpenMP threads per process
thrash: a 4 s smoke run then takes a minute). Each writes into its own results root.
"""
from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from fusionbench import compat
from fusionbench.cli import _parse_shard, main
from fusionbench.experiments.aggregate import aggregate, load_records, write_table_csv
from fusionbench.experiments.grid import (Job, failure_summary, hash_config, plan, runs_dir,
                                          work_dir, write_json_atomic)
from fusionbench.experiments.outputs import write_outputs
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.run import resolve_config, train_and_evaluate
from fusionbench.experiments.tables import MAIN_CELL, Cell, Metric, Row, TableSpec, get_table

REPO = Path(__file__).resolve().parents[2]
ROWS = ['unshared', 'shared_bn']           # two cheap rows of Table 1
SMOKE = ['--protocol', 'smoke', '--seeds', '1', '--jobs', '1']  # in order: tests kill between
CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
from grid_support import Killed, grid_env, run_command  # noqa: E402  (tests/experiments on sys.path)
from nan_probe import NAN_TABLE, UNSHARED, UNSHARED_OVERRIDES  # noqa: E402  (tests/experiments on sys.path)
TIMEOUT = 240


# ----------------------------------------------------------------------------- helpers
def fusionbench(args: list[str], root: Path, prefix: list[str] | None = None,
                timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``python -m fusionbench ARGS`` (or ``python PREFIX ARGS``) in its own process group."""
    return run_command([sys.executable, *(prefix or ['-m', 'fusionbench']), *args], root,
                       timeout, cwd=REPO)


def smoke_jobs(rows: list[str] = ROWS, table: str = 'table1') -> list[Job]:
    return plan(get_table(table), get_protocol('smoke'), 1, rows=rows)


def record_path(root: Path, job: Job) -> Path:
    return Path(runs_dir('smoke', job.table, str(root / 'results'))) / job.record_name


def read_csv(root: Path, table: str = 'table1') -> pd.DataFrame:
    return pd.read_csv(root / 'results' / 'smoke' / f'{table}.csv')


def state_dict(path: Path) -> dict[str, torch.Tensor]:
    return compat.load_checkpoint(str(path))['state_dict']


def assert_same_weights(a: Path, b: Path) -> None:
    sa, sb = state_dict(a), state_dict(b)
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'


# ----------------------------------------------------------------------------- plan, ids, --list
def test_shards_are_disjoint_and_cover_the_plan():
    spec, protocol = get_table('table1'), get_protocol('smoke')
    full = plan(spec, protocol, 2)
    assert len(full) == 2 * len(spec.cells()) == 14
    assert len({j.run_id for j in full}) == len(full)
    for count in (2, 3, 13):
        shards = [plan(spec, protocol, 2, (index, count)) for index in range(count)]
        ids = [j.run_id for shard in shards for j in shard]
        assert len(ids) == len(set(ids)), f'{count} shards overlap'
        assert set(ids) == {j.run_id for j in full}, f'{count} shards miss cells'
        assert all(abs(len(a) - len(b)) <= 1 for a in shards for b in shards)  # balanced
    with pytest.raises(ValueError, match='shard'):
        plan(spec, protocol, 1, (2, 2))
    with pytest.raises(Exception, match='0 <= i < n'):
        _parse_shard('2/2')
    assert _parse_shard('1/4') == (1, 4)


def test_run_id_is_a_hash_of_resolved_config_protocol_and_seed(monkeypatch, tmp_path):
    def spec(overrides: dict) -> TableSpec:
        return TableSpec('ids', 'ids', [Row('r', 'r', {MAIN_CELL: Cell(CEN, overrides)})],
                         [Metric('m', 'rgb')], {})

    smoke, mini = get_protocol('smoke'), get_protocol('mini')
    base = plan(spec({}), smoke, 2)
    assert [j.run_id for j in base] == [j.run_id for j in plan(spec({}), smoke, 2)]  # stable
    assert base[0].run_id != base[1].run_id                                          # seed
    assert plan(spec({}), mini, 1)[0].run_id != base[0].run_id                       # protocol
    changed = plan(spec({'model.fusion.threshold': 3e-2}), smoke, 1)[0]              # config
    assert changed.run_id != base[0].run_id
    assert changed.resolved['model']['fusion']['threshold'] == 3e-2
    # the same value spelled as an override is the same run
    same = plan(spec({'model.fusion.threshold': 2e-2}), smoke, 1)[0]
    assert same.run_id == base[0].run_id
    # the id is the hash of exactly what the record stores as its config
    code = base[0].code
    assert base[0].run_id == hash_config(base[0].resolved, 'smoke', 0, code)
    reordered = dict(reversed(list(base[0].resolved.items())))
    assert hash_config(reordered, 'smoke', 0, code) == base[0].run_id
    # machine-local places are not the experiment: another cache or work dir, the same run
    monkeypatch.setenv('FUSIONBENCH_CACHE', str(tmp_path / 'elsewhere'))
    moved = plan(spec({}), smoke, 1)[0]
    assert moved.resolved['train_dataloader']['dataset']['cache_dir'] == str(tmp_path / 'elsewhere')
    assert moved.run_id == base[0].run_id
    cfg = resolve_config(CEN, smoke, 0, work_dir=str(tmp_path))
    resolved = json.loads(json.dumps(cfg.to_dict(), default=str))
    assert resolved['work_dir'] == str(tmp_path)
    assert hash_config(resolved, 'smoke', 0, code) == base[0].run_id


def test_list_prints_every_cell_of_the_shard(capsys):
    full = plan(get_table('table1'), get_protocol('smoke'), 2)
    assert main(['run', 'table1', '--protocol', 'smoke', '--seeds', '2', '--list']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [j.run_id for j in full]
    assert [line.split()[1] for line in lines] == [j.key for j in full]
    assert all(line.split()[2] == j.config for line, j in zip(lines, full))
    assert main(['run', 'table1', '--protocol', 'smoke', '--seeds', '2', '--list',
                 '--shard', '1/2', '--rows', 'cen']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ['cen/main/seed1']


def test_failure_summary_fits_one_screen():
    failed = [{'table': 't', 'row': f'r{i}', 'cell': 'main', 'seed': 0, 'run_id': f'{i:012d}',
               'error': 'TrainingDiverged: loss is nan at iteration 2'} for i in range(50)]
    lines = failure_summary(failed).splitlines()
    assert lines[0] == '50 run(s) failed:'
    assert len(lines) == 22 and '30 more' in lines[-1]
    assert lines[1] == ('  t r0/main/seed0 [000000000000]: '
                        'TrainingDiverged: loss is nan at iteration 2')


# ----------------------------------------------------------------------------- atomic writes
def test_write_json_atomic_never_leaves_half_a_record(tmp_path, monkeypatch):
    path = tmp_path / 'runs' / 'r.json'
    write_json_atomic(str(path), {'a': 1})

    def broken_dump(obj, f, **kwargs):
        f.write('{"a": ')  # half a record, then the writer dies
        raise KeyboardInterrupt

    monkeypatch.setattr(json, 'dump', broken_dump)
    with pytest.raises(KeyboardInterrupt):
        write_json_atomic(str(path), {'a': 2})
    monkeypatch.undo()
    assert json.loads(path.read_text()) == {'a': 1}              # the old record, whole
    assert [p.name for p in path.parent.iterdir()] == ['r.json']  # no temporary left behind


def _record(table: str, row: str, seed: int, writer: int) -> dict:
    return {'schema': 1, 'run_id': f'{row}-{seed}', 'table': table, 'row': row, 'cell': 'main',
            'seed': seed, 'status': 'ok', 'protocol': 'smoke', 'synthetic': True,
            'finished_at': f'2026-01-01T00:00:{writer:02d}+00:00', 'params': {'total': 1e6},
            'metrics': {h: {'mIoU': 10.0 * seed + writer} for h in ('rgb', 'depth', 'ensemble')}}


def _concurrent_writer(args: tuple) -> None:
    root, writer, rows, seeds = args
    folder = runs_dir('smoke', 'table1', root)
    for row in rows:
        for seed in seeds:
            write_json_atomic(os.path.join(folder, f'{row}__main__seed{seed}.json'),
                              _record('table1', row, seed, writer))
            write_json_atomic(os.path.join(folder, 'contended.json'),  # same name, every writer
                              _record('table1', 'contended', 0, writer))
    jobs = [Job('table1', r.id, 'main', s, 'smoke', '', {}, f'{r.id}-{s}', {})
            for r in get_table('table1').rows for s in range(4)]
    write_outputs('table1', 'smoke', jobs, root=root)  # every writer rewrites CSV and plot


def test_run_and_report_write_the_same_table_files(tmp_path):
    """One writer per output: the CSV ``run`` leaves is byte-identical to the one ``report``
    rewrites (per-seed columns included), and there is one heads plot, ``plots/table1.png``
    (beside the claimed effects, ``plots/table1_effects.png``)."""
    from fusionbench.experiments.outputs import render_reports
    root = tmp_path / 'results'
    folder = runs_dir('smoke', 'table1', str(root))
    rows = [r.id for r in get_table('table1').rows]
    for row in rows:
        for seed in range(2):
            write_json_atomic(os.path.join(folder, f'{row}__main__seed{seed}.json'),
                              _record('table1', row, seed, 1))
    jobs = [Job('table1', r, 'main', s, 'smoke', '', {}, f'{r}-{s}', {}) for r in rows
            for s in range(2)]
    written = write_outputs('table1', 'smoke', jobs, root=str(root))
    csv = root / 'smoke' / 'table1.csv'
    plots = root / 'smoke' / 'plots'
    assert written == [csv, plots / 'table1.png', plots / 'table1_effects.png']
    after_run = csv.read_bytes()
    assert b'ensemble_miou_values' in after_run and b'ensemble_miou_seeds' in after_run
    said = []  # the only line: the committed reference has no smoke runs to set beside
    render_reports('smoke', root=str(root), reports_dir=str(tmp_path / 'reports'),
                   say=said.append)
    assert all("reference has no `smoke` runs" in line for line in said), said
    assert csv.read_bytes() == after_run
    assert sorted(p.name for p in plots.iterdir()) == [  # the PNGs the report links, vectors
        f'{stem}.{ext}' for stem in ('table1', 'table1_effects') for ext in ('pdf', 'png', 'svg')]


def test_concurrent_writers_lose_nothing(tmp_path):
    """Four processes write disjoint records (and one contended name) into one folder at once,
    each rewriting the table CSV; every record survives whole and the last CSV has them all."""
    root = str(tmp_path)
    rows = [r.id for r in get_table('table1').rows]
    work = [(root, w, rows[w % 2::2], range(w // 2 * 2, w // 2 * 2 + 2)) for w in range(4)]
    with multiprocessing.get_context('fork').Pool(4) as pool:
        pool.map(_concurrent_writer, work)
    folder = Path(runs_dir('smoke', 'table1', root))
    assert not [p for p in folder.iterdir() if p.name.startswith('.')], 'temporary files left'
    records = load_records(folder)  # would warn on a torn file
    assert len(records) == 7 * 4 + 1
    assert json.loads((folder / 'contended.json').read_text())['row'] == 'contended'
    df = pd.read_csv(tmp_path / 'smoke' / 'table1.csv')
    assert list(df['row']) == rows and list(df['n_seeds']) == [4] * 7
    expected = aggregate([r for r in records if r['row'] != 'contended'], get_table('table1'))
    pd.testing.assert_series_equal(df['rgb_miou_mean'], expected['rgb_miou_mean'],
                                   check_dtype=False, rtol=1e-5)  # CSV keeps 6 digits
    assert (tmp_path / 'smoke' / 'plots' / 'table1.png').stat().st_size > 0
    # and the CSV writer alone, contended: always one whole table
    df.to_csv(tmp_path / 'expected.csv', index=False)
    with multiprocessing.get_context('fork').Pool(4) as pool:
        pool.starmap(write_table_csv, [(df, tmp_path / 'same.csv')] * 16)
    assert (tmp_path / 'same.csv').read_text() == (tmp_path / 'expected.csv').read_text()


# ----------------------------------------------------------------------------- e2e: the grid
@pytest.mark.slow
def test_killed_grid_restarts_keeping_finished_cells(tmp_path):
    """SIGKILL during the second of two runs (after its first checkpoint), then run again:
    the finished cell is kept byte for byte, the killed one resumes from its checkpoint, a stale
    half-written temporary record is ignored, the CSV has one row per table row."""
    first, second = smoke_jobs()
    args = ['run', 'table1', *SMOKE, '--rows', *ROWS]
    second_work = Path(work_dir('smoke', 'table1', second.run_id, str(tmp_path / 'results')))
    log = open(tmp_path / 'killed.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'fusionbench', *args], cwd=REPO,
                            env=grid_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + TIMEOUT
    try:
        while not (second_work / 'last_checkpoint').exists():
            assert proc.poll() is None, 'the grid ended before it could be killed:\n' + \
                (tmp_path / 'killed.log').read_text()[-3000:]
            assert time.monotonic() < deadline, 'no checkpoint of the second run in time'
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
    assert proc.returncode == -signal.SIGKILL
    kept = record_path(tmp_path, first)
    assert kept.is_file() and not record_path(tmp_path, second).exists()
    kept_bytes, kept_mtime = kept.read_bytes(), kept.stat().st_mtime_ns
    stale = kept.parent / f'.{second.record_name}.99999.deadbeef.tmp'  # a writer killed mid-write
    stale.write_text('{"schema": 1, "run_id": "' + second.run_id)

    done = fusionbench(args, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '2 runs planned, 1 already done, 1 ran, 0 failed' in done.stdout
    assert kept.read_bytes() == kept_bytes and kept.stat().st_mtime_ns == kept_mtime
    resumed = json.loads(record_path(tmp_path, second).read_text())
    assert resumed['status'] == 'ok' and resumed['run_id'] == second.run_id
    assert resumed['resumed_from_iter'] in (6, 12)  # from the killed run's checkpoint
    assert sorted(p.name for p in kept.parent.glob('*.json')) == sorted(
        [first.record_name, second.record_name])
    df = read_csv(tmp_path)
    assert list(df['row']) == [r.id for r in get_table('table1').rows]  # one row per table row
    counts = dict(zip(df['row'], df['n_seeds']))
    assert counts == {'unshared': 1, 'shared_bn': 1, 'private_bn': 0, 'private_bn_l1_half': 0,
                      'cen': 0, 'cen_l1_all': 0, 'cen_shuffled_labels': 0}
    assert df['n_failed'].sum() == 0
    assert df.loc[df['row'] == 'shared_bn', 'rgb_miou_mean'].item() == pytest.approx(
        resumed['metrics']['rgb']['mIoU'])


@pytest.mark.slow
def test_force_reruns_from_scratch_and_same_seed_gives_identical_results(tmp_path):
    """Two runs of one cell (the second with --force) in two processes: the second trains from
    iteration 0 (not a resume of the finished run) and ends with identical metrics and
    bit-identical weights."""
    (job,) = smoke_jobs(['cen'])
    args = ['run', 'table1', *SMOKE, '--rows', 'cen']
    first = fusionbench(args, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    path = record_path(tmp_path, job)
    one = json.loads(path.read_text())
    work = Path(work_dir('smoke', 'table1', job.run_id, str(tmp_path / 'results')))
    checkpoint = work / 'final.pth'  # a finished run keeps its final weights only
    shutil.copy(checkpoint, tmp_path / 'first.pth')

    second = fusionbench([*args, '--force'], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    two = json.loads(path.read_text())
    assert one['resumed_from_iter'] == two['resumed_from_iter'] == 0  # trained, not reloaded
    assert two['started_at'] >= one['finished_at']
    assert one['torch_threads'] == two['torch_threads'] == 1
    for key in ('metrics', 'gamma_sparsity', 'params'):
        assert one[key] == two[key], key
    assert one['metrics']['rgb']['mIoU'] > 0 and one['gamma_sparsity']
    assert_same_weights(tmp_path / 'first.pth', checkpoint)




@pytest.mark.slow
def test_nan_run_is_recorded_failed_and_the_grid_goes_on(tmp_path):
    done = fusionbench(['run', 'nan_probe', *SMOKE], tmp_path, prefix=['-c', NAN_TABLE])
    assert done.returncode == 1, done.stderr[-3000:]
    assert '2 runs planned, 0 already done, 2 ran, 1 failed' in done.stdout
    assert 'nan_probe.csv' in done.stdout
    summary = done.stderr[done.stderr.index('1 run(s) failed:'):].strip().splitlines()
    assert len(summary) == 2
    assert summary[1].startswith('  nan_probe diverges/main/seed0 [')
    assert 'TrainingDiverged: loss is nan at iteration' in summary[1]
    runs = tmp_path / 'results' / 'smoke' / 'runs' / 'nan_probe'
    records = {r['row']: r for r in load_records(runs)}
    bad, good = records['diverges'], records['fine']
    assert bad['status'] == 'failed' and bad['error'].startswith('TrainingDiverged: loss is nan')
    assert 'TrainingDiverged' in bad['traceback'] and bad['metrics'] == {}
    assert good['status'] == 'ok' and good['metrics']['rgb']['mIoU'] >= 0
    df = read_csv(tmp_path, 'nan_probe')
    assert df.set_index('row')[['n_seeds', 'n_failed']].to_dict('index') == {
        'diverges': {'n_seeds': 0, 'n_failed': 1}, 'fine': {'n_seeds': 1, 'n_failed': 0}}
    assert math.isnan(df.set_index('row').loc['diverges', 'rgb_miou_mean'])


@pytest.mark.slow
def test_concurrent_shards_into_one_folder(tmp_path):
    """``--shard 0/2`` and ``--shard 1/2`` at once into one results root: disjoint cells, both
    records kept, and the CSV (rewritten by each) ends with both."""
    args = ['run', 'table1', *SMOKE, '--rows', *ROWS]
    procs = [subprocess.Popen([sys.executable, '-m', 'fusionbench', *args, '--shard', f'{i}/2'],
                              cwd=REPO, env=grid_env(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
             for i in range(2)]
    outs = []
    try:
        for proc in procs:
            outs.append(proc.communicate(timeout=TIMEOUT))
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-3000:]
        assert '1 runs planned, 0 already done, 1 ran, 0 failed' in out
    runs = tmp_path / 'results' / 'smoke' / 'runs' / 'table1'
    assert sorted(p.name for p in runs.iterdir()) == sorted(j.record_name for j in smoke_jobs())
    assert {r['row'] for r in load_records(runs)} == set(ROWS)
    df = read_csv(tmp_path)
    counts = dict(zip(df['row'], df['n_seeds']))
    assert counts['unshared'] == counts['shared_bn'] == 1


# ----------------------------------------------------------------------------- resume (in-process)
@pytest.mark.slow
def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path, one_thread):
    """Killed at iteration 9 (checkpoint of iteration 6 on disk), resumed: same weights, same
    metrics as a run that never stopped. The smoke decoder has dropout, so without the RNG
    states in the checkpoint the resumed run would differ."""
    smoke = get_protocol('smoke')

    def cfg(name: str, kill_at: int | None = None):
        c = resolve_config(CEN, smoke, 0, work_dir=str(tmp_path / name))
        if kill_at is not None:
            c.custom_hooks = [*c.custom_hooks, dict(type='TestKillAt', at=kill_at)]
        return c

    straight = train_and_evaluate(cfg('straight'))
    with pytest.raises(Killed):
        train_and_evaluate(cfg('killed', kill_at=9))
    assert sorted(p.name for p in (tmp_path / 'killed').glob('*.pth')) == ['iter_6.pth']
    resumed = train_and_evaluate(cfg('killed'))
    assert straight['resumed_from_iter'] == 0 and resumed['resumed_from_iter'] == 6
    assert resumed['metrics'] == straight['metrics']
    assert resumed['gamma_sparsity'] == straight['gamma_sparsity']
    assert resumed['val_metrics'] == straight['val_metrics']
    assert resumed['val_curve'] == straight['val_curve'] and resumed['val_curve']['iterations'] \
        == [6, 12]  # the validation at the checkpoint's iteration is not lost
    assert resumed['gamma_dynamics'] == straight['gamma_dynamics']
    assert_same_weights(tmp_path / 'straight' / 'iter_12.pth', tmp_path / 'killed' / 'iter_12.pth')


def _checkpoint(path: Path, value: float = 0.0) -> Path:
    torch.save({'meta': {'iter': 1}, 'state_dict': {'w': torch.full((4,), value)}}, path)
    return path


def test_prepare_resume_repairs_what_a_kill_leaves(tmp_path):
    work = tmp_path / 'w'
    work.mkdir()
    pointer = work / 'last_checkpoint'
    assert compat.prepare_resume(str(tmp_path / 'missing')) is None
    assert compat.prepare_resume(str(work)) is None                     # nothing to resume
    old = _checkpoint(work / 'iter_6.pth')
    pointer.write_text(str(old))
    assert compat.prepare_resume(str(work)) == str(old)                 # intact: kept
    # killed mid-save of iteration 12: the file is cut short, the pointer not yet rewritten
    cut = _checkpoint(work / 'iter_12.pth', 1.0)
    cut.write_bytes(cut.read_bytes()[:200])
    assert not compat.intact_checkpoint(str(cut)) and compat.intact_checkpoint(str(old))
    pointer.write_text(str(cut))
    assert compat.prepare_resume(str(work)) == str(old)                 # back to the intact one
    assert pointer.read_text() == str(old)
    # the hook deletes the old checkpoint before writing the new: pointer to a deleted file
    old.unlink()
    pointer.write_text(str(old))
    assert compat.prepare_resume(str(work)) is None and not pointer.exists()  # fresh start
    pointer.write_text('')                                              # killed writing the pointer
    assert compat.prepare_resume(str(work)) is None and not pointer.exists()
    # a results folder moved elsewhere: the pointer's file name is found in the work dir
    good = _checkpoint(work / 'iter_18.pth')
    pointer.write_text('/gone/results/smoke/work/table1/x/iter_18.pth')
    assert compat.prepare_resume(str(work)) == str(good)
    # --force: checkpoints and pointer go, logs stay
    (work / 'run.log').write_text('log')
    assert compat.prepare_resume(str(work), fresh=True) is None
    assert sorted(p.name for p in work.iterdir()) == ['run.log']


@pytest.mark.slow
def test_poisoned_work_dir_does_not_break_the_rerun(tmp_path, one_thread):
    """A killed run's leftovers -- a pointer to a deleted checkpoint, a truncated checkpoint --
    make the rerun start fresh instead of crashing on resume."""
    work = tmp_path / 'work'
    work.mkdir()
    (work / 'iter_12.pth').write_bytes(b'PK\x03\x04' + b'\0' * 64)  # torch.save cut short
    (work / 'last_checkpoint').write_text(str(work / 'iter_6.pth'))  # deleted before the save
    cfg = resolve_config(UNSHARED, get_protocol('smoke'), 0, UNSHARED_OVERRIDES,
                         work_dir=str(work))
    result = train_and_evaluate(cfg)
    assert result['resumed_from_iter'] == 0 and result['metrics']['rgb']['mIoU'] >= 0
    assert compat.intact_checkpoint(str(work / 'iter_12.pth'))
