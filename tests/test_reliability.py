"""Reliability of the CLI and the grid, one test per fault kind (fast, in process or smoke).

The grid-level tests that need whole ``run`` commands (killed parents, concurrent commands,
a full disk) live in ``tests/experiments/test_grid_faults.py``.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import time
from pathlib import Path

import pytest
import torch

from fusionbench import compat, registry
from fusionbench.cli import main
from fusionbench.data.errors import DataError
from fusionbench.errors import RecordError, WriteError, one_line
from fusionbench.experiments import preflight
from fusionbench.experiments.grid import check_writable, plan, record_state, runs_dir
from fusionbench.experiments.leases import CellClaim, is_stale, read_claim
from fusionbench.experiments.outputs import STALE_TEMP_S, remove_stale_temp_files
from fusionbench.experiments.protocols import get_protocol
from fusionbench.experiments.records import read_record, validate_record
from fusionbench.experiments.tables import get_table

REPO = Path(__file__).resolve().parents[1]
CEN = 'table1/cen-directed-l1half_refinenet-r101_300e_nyudv2-40.py'
CEN_PATH = REPO / 'configs' / CEN


def stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def write_config(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"_base_ = [{str(CEN_PATH)!r}]\n{body}")
    return path


# ----------------------------------------------------------------------------- 3: one-line errors
@pytest.mark.parametrize('body, expected', [
    ("model = dict(type='NoSuchModel')\n",
     r"model\.type: unknown model type 'NoSuchModel'; registered: .*MultiModalSegmentor"),
    ("model = dict(modalities=('rgb',))\n",
     r'model does not build: ValueError: cen .* needs at least 2, got 1'),
])
def test_config_errors_through_train_are_one_line(tmp_path, capsys, body, expected):
    config = write_config(tmp_path, 'bad.py', body)
    assert main(['train', str(config), '--protocol', 'smoke']) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1, lines
    assert re.match(rf'fusionbench: {re.escape(str(config))}: {expected}', lines[0]), lines[0]


def test_config_syntax_error_names_the_file_and_line(tmp_path, capsys):
    config = tmp_path / 'syntax.py'
    config.write_text(f"_base_ = [{str(CEN_PATH)!r}]\nmodel = dict(\n")
    assert main(['train', str(config), '--protocol', 'smoke']) == 2
    assert stderr_lines(capsys) == [
        f"fusionbench: {config}: syntax error at line 2: '(' was never closed; "
        'fix the config file']


def test_modality_the_data_lacks_is_one_line(tmp_path, capsys):
    config = write_config(tmp_path, 'hha.py', "model = dict(modalities=('rgb', 'hha'))\n")
    assert main(['train', str(config), '--protocol', 'paper']) == 2
    assert stderr_lines(capsys) == [
        f"fusionbench: {config}: model.modalities ['rgb', 'hha'] asks for ['hha'], which "
        "train_dataloader.dataset.modalities ['rgb', 'depth'] lacks; add them to the data set "
        'or drop them from the model']


def test_missing_data_root_through_train_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('FUSIONBENCH_DATA', str(tmp_path / 'nodata'))
    monkeypatch.setenv('FUSIONBENCH_WEIGHTS', str(tmp_path / 'noweights'))
    assert main(['train', CEN, '--protocol', 'paper', '--work-dir', str(tmp_path / 'w')]) == 2
    lines = stderr_lines(capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith('fusionbench: 2 missing input(s) for the run; first: missing '
                               f"NYUDv2 root {tmp_path / 'nodata' / 'nyudv2'}: run "
                               '`python -m fusionbench data prepare nyudv2')
    assert not (tmp_path / 'w').exists()  # nothing made before the check
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    assert main(['train', CEN, '--protocol', 'paper']) == 2  # the default work dir: not made
    assert not (tmp_path / 'results').exists()


def test_debug_shows_the_traceback(tmp_path, capsys):
    config = write_config(tmp_path, 'bad.py', "model = dict(type='NoSuchModel')\n")
    assert main(['train', str(config), '--protocol', 'smoke', '--debug']) == 2
    err = capsys.readouterr().err
    assert 'Traceback (most recent call last)' in err and 'ConfigError' in err
    assert err.strip().splitlines()[-1].startswith(f'fusionbench: {config}: model.type')


def test_data_error_from_a_dataloader_worker_is_its_own_line():
    flattened = DataError('Caught DataError in DataLoader worker process 0.\nOriginal Traceback '
                          '(most recent call last):\n  File "x.py", line 1\nfusionbench.data.'
                          'errors.DataError: corrupt or truncated image file /d/rgb/1.png: bad')
    assert one_line(flattened) == 'corrupt or truncated image file /d/rgb/1.png: bad'
    assert one_line(KeyError('a bug')) is None  # not an expected kind: keeps its traceback


# ----------------------------------------------------------------------------- 4: argument checks
@pytest.mark.parametrize('args, expected', [
    (['--seeds', '-1'], "argument --seeds: needs a whole number >= 1 (valid: 1, 2, 3, ...), "
                        "got '-1'"),
    (['--seeds', '0'], "argument --seeds: needs a whole number >= 1 (valid: 1, 2, 3, ...), "
                       "got '0'"),
    (['--jobs', '0'], "argument --jobs: needs a whole number >= 1 (valid: 1, 2, 3, ...), got '0'"),
    (['--jobs', '-3'], "argument --jobs: needs a whole number >= 1 (valid: 1, 2, 3, ...), "
                       "got '-3'"),
    (['--shard', '-1/2'], "argument --shard: needs i/n with 0 <= i < n, got '-1/2'; "
                          'valid: 0/2, 1/2'),
    (['--shard', '2/2'], "argument --shard: needs i/n with 0 <= i < n, got '2/2'; "
                         'valid: 0/2, 1/2'),
    (['--shard', 'x'], "argument --shard: needs i/n with whole numbers 0 <= i < n (e.g. 0/2, "
                       "1/2), got 'x'"),
])
def test_bad_arguments_are_rejected_with_the_valid_values(capsys, args, expected):
    csv = Path(os.environ['FUSIONBENCH_RESULTS']) / 'smoke' / 'table1.csv'
    before = csv.read_bytes() if csv.exists() else None
    with pytest.raises(SystemExit) as exit_info:
        main(['run', 'table1', '--protocol', 'smoke', *args])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [  # one line, no usage block
        f'fusionbench run: error: {expected} (see python -m fusionbench run --help)']
    assert (csv.read_bytes() if csv.exists() else None) == before  # nothing overwritten


@pytest.mark.parametrize('option', ['--batch', '--crop', '--repeats', '--steps', '--seeds'])
def test_bench_rejects_sizes_below_one_before_measuring(capsys, option):
    bench = Path(os.environ['FUSIONBENCH_RESULTS']) / 'bench'

    def contents():  # other tests may have written bench rows before: compare, not expect none
        return {p.name: p.read_bytes() for p in bench.iterdir()} if bench.exists() else {}
    before = contents()
    with pytest.raises(SystemExit) as exit_info:
        main(['bench', '--protocol', 'smoke', option, '0'])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"fusionbench bench: error: argument {option}: needs a whole number >= 1 (valid: 1, 2, "
        "3, ...), got '0' (see python -m fusionbench bench --help)"]
    assert contents() == before  # no row appended


def test_unknown_row_is_rejected_with_the_row_ids(capsys):
    assert main(['run', 'table1', '--protocol', 'smoke', '--rows', 'nosuchrow']) == 2
    assert stderr_lines(capsys) == [
        "fusionbench: unknown row(s) ['nosuchrow'] for table1; valid: unshared, shared_bn, "
        'private_bn, private_bn_l1_half, cen, cen_l1_all, cen_shuffled_labels']


# ----------------------------------------------------------------------------- 6: documented commands
def documented_commands() -> list[tuple[str, list[str]]]:
    """Every ``python -m fusionbench ...`` command quoted in README.md and in preflight's hints,
    as (source, argv up to the first option or placeholder)."""
    sources = [('README.md', (REPO / 'README.md').read_text(encoding='utf-8'))]
    sources += [(f'preflight hint {kind}', hint) for kind, (_, hint) in
                preflight.DATASET_HINTS.items()]
    sources += [(str(p.relative_to(REPO)), p.read_text(encoding='utf-8'))
                for p in (REPO / 'configs').rglob('*.py')]
    commands = []
    for source, text in sources:
        text = text.replace('\\\n', ' ')
        for match in re.finditer(r'-m fusionbench((?: +[^\s`\'"|)\]\\]+(?:\\\|[^\s`]+)*)*)', text):
            argv = []
            for token in match.group(1).split():
                if token.startswith(('-', '[', '<', '$', '…')) or token == '...':
                    break
                argv.append(token.split('\\|')[0])  # `list fusions\|models`: the first choice
            commands.append((source, argv))
    return commands


def test_every_documented_command_exists():
    commands = documented_commands()
    assert any(argv[:3] == ['data', 'prepare', 'nyudv2'] for _, argv in commands)
    assert len(commands) >= 10
    for source, argv in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, '--help'])
        assert exit_info.value.code == 0, f'{source}: `python -m fusionbench {shlex.join(argv)}`'


# ----------------------------------------------------------------------------- 8: records
def good_record(job) -> dict:
    return {'schema': 1, 'run_id': job.run_id, 'table': job.table, 'row': job.row,
            'cell': job.cell, 'protocol': job.protocol, 'seed': job.seed, 'status': 'ok',
            'error': None, 'metrics': {'primary': {'mIoU': 10.0, 'aAcc': 50.0, 'mAcc': 20.0}},
            'params': {'total': 100}}


@pytest.mark.parametrize('corrupt, reason', [
    (lambda r: json.dumps(r)[:40], r'not valid JSON \(truncated\?\)'),
    (lambda r: {k: v for k, v in r.items() if k != 'params'}, "missing key 'params'"),
    (lambda r: {k: v for k, v in r.items() if k != 'protocol'}, "missing key 'protocol'"),
    (lambda r: {k: v for k, v in r.items() if k != 'metrics'}, "missing key 'metrics'"),
    (lambda r: {k: v for k, v in r.items() if k != 'run_id'}, "missing key 'run_id'"),
    (lambda r: {**r, 'schema': 0}, 'schema 0 is not the current schema 1'),
    (lambda r: {**r, 'metrics': {}}, "status 'ok' but no metrics"),
    (lambda r: [r], 'not a JSON object but list'),
])
def test_invalid_records_are_reported_and_their_cell_is_not_done(tmp_path, corrupt, reason):
    root = str(tmp_path)
    job = plan(get_table('table1'), get_protocol('smoke'), 1, rows=['unshared'])[0]
    folder = Path(runs_dir('smoke', 'table1', root))
    folder.mkdir(parents=True)
    path = folder / job.record_name
    path.write_text(json.dumps(good_record(job)))
    assert record_state(job, root) == ('ok', None)
    bad = corrupt(good_record(job))
    path.write_text(bad if isinstance(bad, str) else json.dumps(bad))
    state, problem = record_state(job, root)
    assert state == 'invalid'
    assert re.match(rf'invalid run record {re.escape(str(path))}: {reason}', problem), problem
    # report and the CSV read records through the same function: skipped with a warning
    from fusionbench.experiments.aggregate import aggregate, load_records
    with pytest.warns(UserWarning, match=re.escape(str(path))):
        records = load_records(folder)
    assert records == []
    assert aggregate(records, get_table('table1'))['n_seeds'].sum() == 0


def test_report_names_invalid_records_and_does_not_crash(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    monkeypatch.setenv('FUSIONBENCH_REPORTS', str(tmp_path / 'reports'))
    job = plan(get_table('table1'), get_protocol('smoke'), 1, rows=['unshared'])[0]
    folder = Path(runs_dir('smoke', 'table1', str(tmp_path / 'results')))
    folder.mkdir(parents=True)
    path = folder / job.record_name
    path.write_text(json.dumps({k: v for k, v in good_record(job).items() if k != 'params'}))
    assert main(['report', '--protocol', 'smoke']) == 2  # its only record was invalid
    err = capsys.readouterr().err
    assert (f"fusionbench: warning: skipping invalid run record {path}: missing key 'params' "
            "(fix: `run` on its table reruns that cell)") in err
    assert 'fusionbench: smoke: no run records under' in err
    # beside a valid record, the report renders and names the skipped file (no machine path)
    good = plan(get_table('table1'), get_protocol('smoke'), 1, rows=['cen'])[0]
    (folder / good.record_name).write_text(json.dumps(good_record(good)))
    assert main(['report', '--protocol', 'smoke']) == 0
    assert f"fusionbench: warning: skipping invalid run record {path}" in capsys.readouterr().err
    report = (tmp_path / 'reports' / 'smoke.md').read_text()
    assert (f"- skipped record files: invalid run record runs/table1/{job.record_name}: "
            "missing key 'params'") in report
    assert str(tmp_path) not in report


def test_failed_record_is_valid_but_not_done(tmp_path):
    job = plan(get_table('table1'), get_protocol('smoke'), 1, rows=['unshared'])[0]
    record = {**good_record(job), 'status': 'failed', 'error': 'DataError: x', 'metrics': {},
              'params': {}}
    folder = Path(runs_dir('smoke', 'table1', str(tmp_path)))
    folder.mkdir(parents=True)
    (folder / job.record_name).write_text(json.dumps(record))
    assert record_state(job, str(tmp_path)) == ('failed', None)
    assert validate_record(record, 'x') is record
    with pytest.raises(RecordError, match="status 'failed' without an error"):
        validate_record({**record, 'error': None}, 'x')
    with pytest.raises(RecordError, match='cannot read it'):
        read_record(tmp_path / 'none.json')


# ----------------------------------------------------------------------------- 1: claims (unit)
def test_claims_exclude_live_owners_and_expire(tmp_path):
    path = str(tmp_path / 'cell.claim')
    first = CellClaim(path, lease_s=30)
    assert first.acquire()
    claim = read_claim(path)
    assert claim['host'] == socket.gethostname() and claim['pid'] == os.getpid()
    second = CellClaim(path, lease_s=30)
    assert not second.acquire() and second.holder['token'] == first.token
    first.release()
    assert not os.path.exists(path)
    assert second.acquire()
    second.release()
    # another host's claim: its pid means nothing here; only the lease decides
    other = {'host': 'other-host.cluster', 'pid': 1, 'token': 'x', 'renewed_at': time.time(),
             'expires_at': time.time() + 30}
    Path(path).write_text(json.dumps(other))
    assert not is_stale(other)
    assert not CellClaim(path).acquire()
    Path(path).write_text(json.dumps({**other, 'expires_at': time.time() - 1}))
    taker = CellClaim(path)
    assert taker.acquire()  # expired lease: stale, taken over
    taker.release()
    # this host, dead pid: stale at once
    dead = {**other, 'host': socket.gethostname(), 'pid': 2 ** 22 + 12345}
    assert is_stale(dead)
    assert is_stale(None) and is_stale({'host': 'h'})


def test_lease_is_renewed_by_its_owner(tmp_path):
    path = str(tmp_path / 'cell.claim')
    with CellClaim(path, lease_s=0.6) as claim:
        assert claim.held
        first = read_claim(path)['expires_at']
        time.sleep(0.5)
        assert read_claim(path)['expires_at'] > first  # renewed every lease/3
        assert not is_stale(read_claim(path))
    assert not os.path.exists(path)


# ----------------------------------------------------------------------------- 2: I/O (unit)
def test_unwritable_results_dir_fails_in_one_line_before_training(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(blocker / 'results'))
    assert main(['run', 'table1', '--protocol', 'smoke', '--seeds', '1', '--rows',
                 'unshared']) == 2
    assert stderr_lines(capsys) == [
        f"fusionbench: cannot write {blocker / 'results'}: Not a directory"]
    with pytest.raises(WriteError, match='cannot write'):
        check_writable(str(blocker / 'x'))
    assert main(['train', CEN, '--protocol', 'smoke', '--work-dir', str(blocker / 'w')]) == 2
    assert stderr_lines(capsys) == [f"fusionbench: cannot write {blocker / 'w'}: Not a directory"]


def test_stale_temp_plot_files_are_removed(tmp_path):
    plot = tmp_path / 'plots' / 'table1.png'
    plot.parent.mkdir()
    dead = plot.with_name('.table1.4194999.0123abcd.tmp.png')
    live = plot.with_name(f'.table1.{os.getpid()}.4567cdef.tmp.png')
    fresh = plot.with_name('.table1.4194998.89abcdef.tmp.png')
    for path in (dead, live, fresh):
        path.write_bytes(b'')
    old = time.time() - STALE_TEMP_S - 5
    os.utime(dead, (old, old))
    os.utime(live, (old, old))
    assert remove_stale_temp_files(plot) == [dead]
    assert not dead.exists() and live.exists() and fresh.exists()  # live writer / too recent


# ----------------------------------------------------------------------------- 9: weights only
class _Marker:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))  # creating the file proves the pickle ran code


def test_weights_only_is_enforced_whatever_the_environment(tmp_path, monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': _Marker(str(marker))}, evil)
    compat.enforce_weights_only_loading()  # as train_and_evaluate does before the Runner
    for load in (lambda p: compat.load_checkpoint(p),
                 lambda p: CheckpointLoader.load_checkpoint(p),   # resume, load_from
                 lambda p: _load_checkpoint(p, map_location='cpu')):
        with pytest.raises(compat.CheckpointError, match=rf'refusing to load checkpoint '
                                                         rf'{re.escape(str(evil))}: it asks for'):
            load(str(evil))
    assert not marker.exists()
    with pytest.raises(compat.CheckpointError, match='never downloads'):
        CheckpointLoader.load_checkpoint('https://example.org/x.pth')
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}}, good)
    assert torch.equal(CheckpointLoader.load_checkpoint(str(good))['state_dict']['w'],
                       torch.ones(1))


def test_load_from_a_code_running_checkpoint_fails_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    marker, evil = tmp_path / 'pwned', tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _Marker(str(marker))}, evil)
    config = write_config(tmp_path, 'load.py', f'load_from = {str(evil)!r}\n')
    assert main(['train', str(config), '--protocol', 'smoke',
                 '--work-dir', str(tmp_path / 'w')]) == 2
    lines = stderr_lines(capsys)
    assert lines[-1].startswith(f'fusionbench: refusing to load checkpoint {evil}: it asks for')
    assert not marker.exists()


# ----------------------------------------------------------------------------- 7: first-use slips
def test_report_with_nothing_to_report_fails_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('FUSIONBENCH_REPORTS', str(tmp_path / 'reports'))
    for root, expected in [
            (tmp_path / 'empty', f'fusionbench: no run records under {tmp_path / "empty"} '
                                 '($FUSIONBENCH_RESULTS); nothing to report (python -m '
                                 'fusionbench run <table> first)'),
            (tmp_path / 'missing', f'fusionbench: no run records under {tmp_path / "missing"} '
                                   '($FUSIONBENCH_RESULTS); nothing to report (python -m '
                                   'fusionbench run <table> first)'),
            (tmp_path / 'a-file', f'fusionbench: results root {tmp_path / "a-file"} '
                                  '($FUSIONBENCH_RESULTS) is not a folder; point '
                                  '$FUSIONBENCH_RESULTS at the folder holding <protocol>/runs/')]:
        (tmp_path / 'empty').mkdir(exist_ok=True)
        (tmp_path / 'a-file').write_text('x')
        monkeypatch.setenv('FUSIONBENCH_RESULTS', str(root))
        assert main(['report']) == 2
        assert stderr_lines(capsys) == [expected]
    assert main(['report', '--protocol', 'nosuch']) == 2
    assert stderr_lines(capsys) == [
        "fusionbench: unknown protocol 'nosuch'; registered: mini, paper, smoke"]
    assert not (tmp_path / 'reports').exists()


def test_the_papers_numbers_live_apart_from_every_protocols_results(monkeypatch, tmp_path):
    """The reported tables are not under any results root: the paper protocol's tables (and
    any other protocol's) can never land on them."""
    from fusionbench.paths import PAPER_DIR, results_root
    from fusionbench import registry
    assert {'table1', 'table5'} <= {p.stem for p in Path(PAPER_DIR).glob('*.csv')}
    for root in (results_root(), str(Path(PAPER_DIR).parent)):
        monkeypatch.setenv('FUSIONBENCH_RESULTS', root)
        for name in registry.list_names(registry.PROTOCOLS):
            out = Path(results_root(), name).resolve()
            assert out != Path(PAPER_DIR).resolve()
            assert Path(PAPER_DIR).resolve() not in out.parents


def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    from fusionbench import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, 'cmd_list', interrupted)
    assert main(['list', 'tables']) == 130
    assert stderr_lines(capsys) == [
        'fusionbench: interrupted; finished runs keep their records: run the same command '
        'again to continue (unfinished runs resume from their last checkpoint)']
    assert main(['list', 'tables', '--debug']) == 130
    assert 'Traceback' in capsys.readouterr().err


def test_unimportable_plugin_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv('FUSIONBENCH_PLUGINS', 'no_such_plugin_module')
    assert main(['list', 'fusions']) == 2
    assert stderr_lines(capsys) == [
        "fusionbench: $FUSIONBENCH_PLUGINS: cannot import 'no_such_plugin_module' (No module "
        "named 'no_such_plugin_module'); put its package on PYTHONPATH or remove it from "
        '$FUSIONBENCH_PLUGINS']


def test_every_option_of_every_command_has_help():
    import argparse

    from fusionbench.cli import build_parser
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    undocumented = [f'{name} {a.dest}' for name, parser in commands.choices.items()
                    for a in parser._actions
                    if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
                    and not a.help]
    assert undocumented == []


def test_submit_no_wait_with_every_cell_done_writes_the_table(tmp_path, capsys, monkeypatch):
    """Nothing to submit: no "run the same command again" promise, the table is written."""
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    folder = Path(runs_dir('smoke', 'table1', str(tmp_path / 'results')))
    folder.mkdir(parents=True)
    for job in plan(get_table('table1'), get_protocol('smoke'), 1):
        (folder / job.record_name).write_text(json.dumps(good_record(job)))
    assert main(['run', 'table1', '--protocol', 'smoke', '--seeds', '1', '--submit', 'local',
                 '--no-wait']) == 0
    out = capsys.readouterr().out
    assert '0 cell(s) submitted (local), 7 already done' in out
    assert 'run the same command again' not in out
    assert (tmp_path / 'results' / 'smoke' / 'table1.csv').is_file()
    assert main(['run', 'table1', '--protocol', 'smoke', '--seeds', '1']) == 0  # reuse, say so
    assert ('  nothing trained: all 7 finished cell(s) were reused from their records of this '
            'code in this results root (--force retrains)') in capsys.readouterr().out.splitlines()


def test_list_says_what_run_would_do_with_each_cell(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    jobs = plan(get_table('table1'), get_protocol('smoke'), 1)
    folder = Path(runs_dir('smoke', 'table1', str(tmp_path / 'results')))
    folder.mkdir(parents=True)
    (folder / jobs[0].record_name).write_text(json.dumps(good_record(jobs[0])))
    (folder / jobs[1].record_name).write_text(json.dumps({**good_record(jobs[1]),
                                                          'status': 'failed', 'metrics': {},
                                                          'error': 'TrainingDiverged'}))
    (folder / jobs[2].record_name).write_text('{"run_id": ')
    assert main(['run', 'table1', '--protocol', 'smoke', '--seeds', '1', '--list']) == 0
    out, err = capsys.readouterr()
    assert [line.split()[-1] for line in out.splitlines()] == [
        'done', 'rerun-failed', 'rerun-invalid', 'to-run', 'to-run', 'to-run', 'to-run']
    assert err.strip() == ('table1 [smoke]: 7 cell(s): 1 done, 1 rerun-failed, '
                           '1 rerun-invalid, 4 to-run')
    assert main(['run', 'table1', '--protocol', 'smoke', '--seeds', '1', '--list',
                 '--force']) == 0
    assert capsys.readouterr().err.strip() == 'table1 [smoke]: 7 cell(s): 7 rerun'


@pytest.mark.parametrize('command', ['params', 'preflight'])
def test_an_unknown_target_names_the_tables(command, capsys):
    assert main([command, 'table9']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('fusionbench: config not found: table9')
    assert err[0].endswith('or name a table: ' + ', '.join(
        registry.list_names(registry.TABLES)))
    # a config path stays a config path: no table list
    assert main([command, 'nope/x.py']) == 2
    assert 'name a table' not in capsys.readouterr().err


# ------------------------------------------------------------------------- SIGTERM handling
_TERM_CHILD = '''
import os, signal, sys, time
from fusionbench.cli import _terminate_cleanly
with _terminate_cleanly(grace_s={grace}):
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    except SystemExit as exc:
        print('cleanup ran', exc.code, flush=True)
        if {swallow}:  # as an exception raised inside a __del__ is printed and dropped
            time.sleep(60)
        raise
'''


@pytest.mark.parametrize('swallow', [False, True])
def test_sigterm_exits_143_even_when_the_exit_is_swallowed(swallow):
    """SIGTERM raises SystemExit(143) so finally blocks run; if that exception is swallowed
    (it landed in a ``__del__``: seen with CUDA loader workers) the process still exits 143
    after the grace period instead of running on."""
    import subprocess
    import sys
    start = time.monotonic()
    done = subprocess.run([sys.executable, '-c', _TERM_CHILD.format(grace=1.0, swallow=swallow)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 143, done.stderr
    assert 'cleanup ran 143' in done.stdout
    assert time.monotonic() - start < 30
    assert ('still running 1 s after SIGTERM' in done.stderr) == swallow
    assert 'terminated (SIGTERM); finished runs keep their records' in done.stderr
