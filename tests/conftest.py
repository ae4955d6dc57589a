"""Shared fixtures: an isolated results/cache folder per test session, the real-data sample."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = REPO_ROOT.parent / 'shared' / 'data' / 'nyudv2-sample'


@pytest.fixture(scope='session', autouse=True)
def _isolated_outputs(tmp_path_factory):
    """Keep test runs out of the repo's results/ and reports/; share one scene cache."""
    base = tmp_path_factory.mktemp('fusionbench')
    old = {k: os.environ.get(k) for k in ('FUSIONBENCH_RESULTS', 'FUSIONBENCH_REPORTS',
                                          'FUSIONBENCH_CACHE')}
    os.environ['FUSIONBENCH_RESULTS'] = str(base / 'results')
    os.environ['FUSIONBENCH_REPORTS'] = str(base / 'reports')
    os.environ.setdefault('FUSIONBENCH_CACHE', str(base / 'cache'))
    yield base
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def nyudv2_sample() -> Path:
    if not SHARED_SAMPLE.is_dir():
        pytest.skip(f'the shared NYU Depth v2 sample is not at {SHARED_SAMPLE} '
                    '(../shared beside the checkout)')
    return SHARED_SAMPLE


@pytest.fixture
def set_threads():
    """``torch.set_num_threads``, with the thread count restored after the test (a count left
    behind changes the rounding, and the speed, of every later test in the process)."""
    threads = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(threads)


@pytest.fixture
def one_thread(monkeypatch, set_threads):
    """Train on one CPU thread (child processes too, through ``OMP_NUM_THREADS``): on a busy
    2-core machine two OpenMP threads per process make the toy runs >10× slower (spinning at
    barriers), and CPU results are bit-identical only at a fixed thread count."""
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    set_threads(1)
