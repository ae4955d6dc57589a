"""Common random numbers for initial weights: a module's init depends on (seed, its name) only.

Rows of a table are compared seed by seed (paired design, see
:mod:`fusionbench.analysis.claims`). For the pairing to remove the seed-to-seed noise of
the parts two rows share, the same seed must give those parts the same initial weights. With
one global RNG it does not: each row's extra modules (a fusion module's interface check, a
second stream, a baseline's layers) consume random numbers during construction, so every
module built after them -- the decoder, later stages -- starts elsewhere.

Here every module's random init draws from the global RNG re-seeded with a hash of (the run's
seed, the module's qualified name), inside :func:`torch.random.fork_rng` (the global stream is
left as it was). Same name, same shape, same seed → the same initial weights, whatever else the
model contains. The data side needs nothing: the sampler draws its order from its own seeded
generator and the augmentation (flips) from numpy's global RNG, which model code never touches,
so the same seed already gives every row the same batches and flips.
"""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

import torch
from torch import nn


def name_seed(seed: int, name: str) -> int:
    """A 63-bit seed from the run's ``seed`` and a module's qualified ``name`` (SHA-1)."""
    digest = hashlib.sha1(f'{int(seed)}:{name}'.encode()).digest()
    return int.from_bytes(digest[:8], 'big') >> 1


@contextlib.contextmanager
def seeded(seed: int, name: str) -> Iterator[None]:
    """Run the body with the global RNGs (CPU and CUDA) seeded by :func:`name_seed`; restore
    them afterwards."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(name_seed(seed, name))
        yield


def run_seed() -> int:
    """The seed the run's global RNG was seeded with (mmengine seeds torch with the run seed)."""
    return int(torch.initial_seed())


def reset_by_name(model: nn.Module, seed: int, prefix: str = '',
                  skip: tuple[type, ...] = ()) -> int:
    """``reset_parameters()`` of every module of ``model`` that has one and owns parameters,
    each under :func:`seeded` with its qualified name (``prefix`` + name). Modules of a type in
    ``skip``, and everything inside them, keep their own init (they are not shared between rows
    anyway). Returns the number of modules reset."""
    skipped: list[str] = []
    count = 0
    for name, module in model.named_modules():
        if any(s == '' or name == s or name.startswith(s + '.') for s in skipped):
            continue
        if skip and isinstance(module, skip):
            skipped.append(name)
            continue
        if not callable(getattr(module, 'reset_parameters', None)):
            continue
        if not any(True for _ in module.parameters(recurse=False)):
            continue
        with seeded(seed, prefix + name):
            module.reset_parameters()
        count += 1
    return count
