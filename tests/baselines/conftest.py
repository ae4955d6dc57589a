"""Fixtures of the baseline tests."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """Train on one CPU thread: on a busy 2-core machine two OpenMP threads per process make the
    toy runs >10× slower (spinning at barriers), with the same results up to float rounding."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
