"""Faults of whole ``run`` commands on the smoke protocol: a killed parent, two commands on one
table, a full disk, failed and corrupt records, ``train`` without ``--work-dir``.

Each command runs in its own process group (``start_new_session``) and is killed with its group
when the test ends, so nothing outlives a test. Each writes into its own results root.
"""
from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fusionbench.cli import main
from fusionbench.compat import intact_checkpoint
from fusionbench.experiments.grid import plan, runs_dir
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.tables import get_table
from grid_support import grid_env  # tests/experiments on sys.path

REPO = Path(__file__).resolve().parents[2]
ROWS = ['unshared', 'shared_bn']  # two cheap rows of Table 1
SMOKE = ['run', 'table1', '--protocol', 'smoke', '--seeds', '1', '--rows', *ROWS]
TIMEOUT = 240


def start(args: list[str], root: Path, **kwargs) -> subprocess.Popen:
    """``python -m fusionbench ARGS`` in a new process group."""
    return subprocess.Popen([sys.executable, '-m', 'fusionbench', *args], cwd=REPO,
                            env=grid_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, **kwargs)


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        pytest.fail(f'{proc.args} timed out\n{out}\n{err[-3000:]}')
    return proc.returncode, out, err


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
        except OSError:
            continue
        fields = stat.rsplit(')', 1)[1].split()  # after "(comm)": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != 'Z':
            members.append(int(entry.name))
    return members


def records(root: Path) -> list[dict]:
    folder = Path(runs_dir('smoke', 'table1', str(root / 'results')))
    return [json.loads(p.read_text()) for p in sorted(folder.glob('*.json'))] \
        if folder.is_dir() else []


def summary_line(out: str) -> str:
    return next(line for line in out.splitlines()
                if line.startswith('table1 [smoke]: ') and 'runs planned' in line)


# ----------------------------------------------------------------------------- 1: orphans, claims
@pytest.mark.slow
@pytest.mark.skipif(not Path('/proc').is_dir(), reason='reads /proc')
def test_killed_parent_takes_its_workers_along(tmp_path):
    proc = start([*SMOKE, '--jobs', '2'], tmp_path)
    try:
        work = tmp_path / 'results' / 'smoke' / 'work' / 'table1'
        deadline = time.time() + 120
        while time.time() < deadline and not any(p.is_dir() for p in work.glob('*')):
            time.sleep(0.2)  # a worker has started training a cell
        assert proc.poll() is None, proc.communicate()
        before = group_members(proc.pid)
        assert len(before) >= 3, before  # the parent, its workers (and the resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 10
        while time.time() < deadline and group_members(proc.pid):
            time.sleep(0.1)
        assert group_members(proc.pid) == [], 'workers outlived their parent'
        written = len(records(tmp_path))
        time.sleep(1.5)
        assert len(records(tmp_path)) == written  # nobody keeps training after the kill
    finally:
        kill_group(proc)
    # the next command finds the killed cells free (dead owner on this host) and finishes them
    code, out, err = finish(start([*SMOKE, '--jobs', '2'], tmp_path))
    assert code == 0, err[-3000:]
    assert 'running elsewhere' not in out
    assert sorted(r['row'] for r in records(tmp_path)) == sorted(ROWS)
    assert all(r['status'] == 'ok' for r in records(tmp_path))


@pytest.mark.slow
def test_two_commands_on_one_table_split_the_cells(tmp_path):
    first, second = start(SMOKE, tmp_path), start(SMOKE, tmp_path)
    try:
        results = [finish(first), finish(second)]
    finally:
        kill_group(first)
        kill_group(second)
    ran = []
    for code, out, err in results:
        assert code == 0, err[-3000:]
        ran.append(int(re.search(r'(\d+) ran', summary_line(out)).group(1)))
    assert sum(ran) == len(ROWS), [summary_line(out) for _, out, _ in results]
    done = records(tmp_path)
    assert sorted(r['row'] for r in done) == sorted(ROWS)
    assert all(r['status'] == 'ok' and r['resumed_from_iter'] == 0 for r in done)
    work = tmp_path / 'results' / 'smoke' / 'work' / 'table1'
    assert list(work.glob('*.claim')) == []  # released


# ----------------------------------------------------------------------------- 2: full disk
def _small_disk() -> None:
    """In the child: files may not grow past 2 MB (a smoke checkpoint is ~5 MB), as on a full
    disk; the write fails with EFBIG instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))


@pytest.mark.slow
def test_full_disk_stops_the_grid_with_one_line_and_no_partial_files(tmp_path):
    proc = start([*SMOKE, '--jobs', '2'], tmp_path, preexec_fn=_small_disk)
    try:
        code, out, err = finish(proc)
    finally:
        kill_group(proc)
    assert code == 2
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    found = re.fullmatch(r'fusionbench: cannot write (\S+\.pth): File too large', lines[0])
    assert found, lines[0]
    assert not Path(found.group(1)).exists()  # the half-written checkpoint is gone
    work = tmp_path / 'results' / 'smoke' / 'work' / 'table1'
    assert all(intact_checkpoint(str(p)) for p in work.glob('*/*.pth'))
    assert records(tmp_path) == []
    assert 'runs planned' not in out  # stopped: no summary, no CSV
    assert not (tmp_path / 'results' / 'smoke' / 'table1.csv').exists()


# ----------------------------------------------------------------------------- 7, 8: records
@pytest.mark.slow
def test_failed_and_corrupt_records_are_rerun(tmp_path):
    code, out, err = finish(start(SMOKE, tmp_path))
    assert code == 0, err[-3000:]
    jobs = plan(get_table('table1'), get_protocol('smoke'), 1, rows=ROWS)
    folder = Path(runs_dir('smoke', 'table1', str(tmp_path / 'results')))
    truncated, failed = (folder / job.record_name for job in jobs)
    truncated.write_text(truncated.read_text()[:100])
    record = json.loads(failed.read_text())
    record.update(status='failed', error='DataError: missing file x.png', metrics={}, params={})
    failed.write_text(json.dumps(record))

    code, out, err = finish(start(SMOKE, tmp_path))
    assert code == 0, err[-3000:]
    assert summary_line(out).startswith(
        'table1 [smoke]: 2 runs planned, 0 already done, 2 ran (1 failed before, retried), '
        '0 failed, ')
    assert [line for line in err.splitlines() if line.strip()] == [
        f'fusionbench: invalid run record {truncated}: not valid JSON (truncated?): '
        + re.search(r'not valid JSON \(truncated\?\): (.*) \(its cell', err).group(1)
        + ' (its cell was rerun)']
    assert [r['status'] for r in records(tmp_path)] == ['ok', 'ok']
    code, out, err = finish(start(SMOKE, tmp_path))  # now everything is done
    assert summary_line(out).startswith('table1 [smoke]: 2 runs planned, 2 already done, 0 ran')


# ----------------------------------------------------------------------------- 5: default work dir
@pytest.mark.slow
def test_train_without_work_dir_uses_a_default(tmp_path, capsys, monkeypatch, set_threads):
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    set_threads(1)
    config = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
    assert main(['train', config, '--protocol', 'smoke']) == 0
    out = capsys.readouterr().out
    work = re.search(r'work dir: (\S+)', out).group(1)
    folder = Path(os.path.abspath(work))  # printed relative to the current directory
    assert folder.parent == tmp_path / 'results' / 'smoke' / 'work' / 'train'
    assert re.fullmatch(r'cen-directed-l1half_refinenet-r101_300e_nyudv2-40-[0-9a-f]{12}',
                        folder.name)
    assert list(folder.glob('*.pth'))
    assert 'ensemble' in out


# ----------------------------------------------------------------------------- 3: data errors
def _break_missing_file(root: Path) -> Path:
    path = root / 'depth' / '000002.png'
    path.unlink()
    return path


def _break_corrupt_png(root: Path) -> Path:
    path = root / 'rgb' / '000002.png'
    path.write_bytes(path.read_bytes()[:40])
    return path


@pytest.mark.slow
@pytest.mark.parametrize('damage, message', [
    (_break_missing_file, r'missing file {path}: sample 000002 is listed in .*train\.txt'),
    (_break_corrupt_png, r'corrupt or truncated image file {path}: '),  # in a loader worker
])
def test_data_errors_through_train_are_one_line(tmp_path, capsys, damage, message, set_threads):
    """A bad data set under ``train <config>``: one line naming the file, exit 2 -- whether the
    data set finds it when built or a DataLoader worker when loading the sample."""
    sys.path.insert(0, str(REPO / 'tests' / 'data'))
    try:
        from fixtures import write_nyu_layout
    finally:
        sys.path.pop(0)

    root = tmp_path / 'nyudv2'
    write_nyu_layout(root, split='train')
    write_nyu_layout(root, split='val')
    path = damage(root)
    base = REPO / 'configs' / 'table1' / 'cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
    config = tmp_path / 'tiny_nyu.py'
    config.write_text(
        f'_base_ = [{str(base)!r}]\n'
        # from scratch: the test is about the data, not the (absent) ImageNet weights
        'model = dict(backbone=dict(depth=18, width=0.125, pretrained=None), '
        'decode_head=dict(width=0.0625))\n'
        'train_dataloader = dict(batch_size=2, num_workers=1, persistent_workers=False, '
        f'dataset=dict(data_root={str(root)!r}))\n'
        'val_dataloader = dict(num_workers=0, persistent_workers=False, '
        f'dataset=dict(data_root={str(root)!r}))\n'
        'test_dataloader = val_dataloader\n')
    set_threads(1)
    code = main(['train', str(config), '--protocol', 'paper',
                 '--work-dir', str(tmp_path / 'work')])
    assert code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert re.match('fusionbench: ' + message.format(path=re.escape(str(path))), lines[0]), lines[0]
