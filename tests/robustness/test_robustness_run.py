"""``run robustness`` end to end on the smoke protocol, and its bad inputs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fusionbench.cli import main
from fusionbench.experiments.checkpoints import find_job
from fusionbench.experiments.robustness import CSV_COLUMNS

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tests' / 'experiments'))  # the subprocess runner the grid tests use
from grid_support import run_command  # noqa: E402
TIMEOUT = 300


def fusionbench(args: list[str], root: Path) -> subprocess.CompletedProcess:
    return run_command([sys.executable, '-m', 'fusionbench', *args], root, TIMEOUT, cwd=REPO)


@pytest.mark.slow
def test_run_robustness_trains_the_missing_cell_evaluates_and_reports(tmp_path):
    done = fusionbench(['run', 'robustness', '--protocol', 'smoke', '--rows', 'cen'], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'no checkpoint for table1/cen seed 0 (smoke): training it first' in done.stdout
    assert 'table1/cen seed 0: 17 conditions in' in done.stdout
    assert 'differs from its record' not in done.stdout
    results = tmp_path / 'results' / 'smoke'
    df = pd.read_csv(results / 'robustness_table1.csv')
    assert tuple(df.columns[:len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert len(df) == 17 * 4  # conditions × heads (rgb, depth, ensemble, primary)
    assert set(df['corruption']) == {'clean', 'zeros', 'mean', 'noise', 'holes'}
    assert set(df.loc[df['corruption'] == 'holes', 'modality']) == {'depth'}
    assert sorted(set(df.loc[df['corruption'] == 'noise', 'severity'])) == [0.1, 0.25, 0.5, 1.0]
    assert df['mIoU'].between(0, 100).all()
    # the clean condition is the run's own test evaluation: the record's numbers exactly
    job = find_job('table1', 'cen', 0, protocol='smoke')
    record = json.loads((results / 'runs' / 'table1' / job.record_name).read_text())
    clean = df[df['corruption'] == 'clean'].set_index('head')['mIoU']
    assert {h: clean[h] for h in clean.index} == {h: m['mIoU'] for h, m in
                                                  record['metrics'].items()}
    assert (results / 'plots' / 'robustness_table1.png').stat().st_size > 10_000

    # again, one corruption, no training allowed: the checkpoint is reused and the other
    # conditions of the CSV are kept
    again = fusionbench(['run', 'robustness', '--protocol', 'smoke', '--rows', 'cen',
                         '--corruptions', 'zeros', '--no-train'], tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert 'training it first' not in again.stdout
    assert 'table1/cen seed 0: 3 conditions in' in again.stdout
    assert len(pd.read_csv(results / 'robustness_table1.csv')) == 17 * 4

    report = fusionbench(['report', '--protocol', 'smoke'], tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    text = (tmp_path / 'reports' / 'smoke.md').read_text()
    assert '## Robustness to missing and degraded modalities' in text
    assert '](../results/smoke/plots/robustness_table1.png)' in text
    assert '| cen | 1 |' in text


@pytest.mark.parametrize('args, message', [
    (['--rows', 'nope'], "unknown row(s) ['nope'] for table1; valid: unshared, shared_bn"),
    (['--corruptions', 'fog'], "unknown corruption(s) ['fog']; known: zeros, mean, noise, holes"),
    (['--table', 'nope'], "unknown table 'nope'"),
    (['--protocol', 'nope'], "unknown protocol 'nope'"),
    (['--force'], 'run robustness evaluates trained cells: it takes --protocol'),
    (['--rows', 'cen', '--no-train'], 'no checkpoint for table1/cen seed 0 (smoke) at '),
])
def test_bad_input_is_one_line_and_a_nonzero_exit(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('FUSIONBENCH_RESULTS', str(tmp_path / 'results'))
    argv = ['run', 'robustness', *(['--protocol', 'smoke'] if '--protocol' not in args else []),
            *args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith('fusionbench: ')
    assert message in err
    assert not (tmp_path / 'results' / 'smoke' / 'robustness_table1.csv').exists()


def test_robustness_options_on_a_training_table_are_refused(capsys):
    assert main(['run', 'table1', '--protocol', 'smoke', '--corruptions', 'noise']) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'not to `run table1`' in err
