"""Shared fixtures: an isolated results/cache folder per test session, the real-data sample."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

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
