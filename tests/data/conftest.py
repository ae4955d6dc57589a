"""Fixtures of the data-layer tests: the shared real NYU Depth v2 sample, seeded randomness."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

NYU_SAMPLE = Path(__file__).resolve().parents[2] / '..' / 'shared' / 'data' / 'nyudv2-sample'


@pytest.fixture
def nyu_sample() -> Path:
    """The real NYU Depth v2 sample (``<repo>/../shared/data/nyudv2-sample``), or skip."""
    if not (NYU_SAMPLE / 'test.txt').is_file():
        pytest.skip(f'real NYU Depth v2 sample not found at {NYU_SAMPLE.resolve()} '
                    '(expected rgb/ depth/ label40/ test.txt)')
    return NYU_SAMPLE.resolve()


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same NumPy random state."""
    state = np.random.get_state()
    np.random.seed(0)
    yield
    np.random.set_state(state)
