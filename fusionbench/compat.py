"""Every workaround the pinned OpenMMLab stack needs, in one place.

fusionbench pins mmengine 0.10.7, mmcv-lite 2.1.0 and mmsegmentation 1.2.2 on torch 2.11-2.14.
Three things do not work out of the box on that combination:

1. ``mmcv._ext`` -- mmcv-lite ships no compiled ops, but ``mmseg.models`` imports ``mmcv.ops``
   which asserts that each op exists in ``mmcv._ext``. :func:`install_mmcv_ext_stub` registers a
   stand-in module whose ops raise ``NotImplementedError`` *when called*, so importing works and
   any accidental use of a compiled op fails loudly instead of silently.
2. ``torch.load`` defaults to ``weights_only=True`` since torch 2.6, and mmengine checkpoints hold
   a few non-tensor objects (numpy scalars/arrays, mmengine's ``HistoryBuffer``, ``ConfigDict``).
   :func:`allow_mmengine_checkpoint_globals` adds exactly those classes to torch's allow-list;
   weights-only loading stays on.
3. mmengine's ``init_dist`` for the ``pytorch`` launcher calls ``torch.cuda.set_device`` and
   defaults to NCCL. :func:`init_distributed` brings up the process group itself (gloo on CPU,
   nccl on GPU) so the Runner finds it initialised and skips its CUDA-only path, and
   :func:`model_wrapper_cfg` gives DDP ``device_ids=None`` on CPU.

:func:`apply` runs 1 and 2; it is idempotent and called on ``import fusionbench``.
"""
from __future__ import annotations

import importlib.machinery
import os
import sys
import types
from typing import Any

import torch

_STUB_NAME = 'mmcv._ext'


def _missing_op(name: str):
    def op(*args: Any, **kwargs: Any):
        raise NotImplementedError(
            f'mmcv op {name!r} needs the compiled mmcv._ext, which mmcv-lite does not ship; '
            'fusionbench never calls compiled mmcv ops')
    op.__name__ = name
    return op


def install_mmcv_ext_stub() -> bool:
    """Register a stand-in for ``mmcv._ext`` unless a real one imports.

    Returns True when the stub was installed (or already present), False when a real compiled
    extension is available and left alone.
    """
    existing = sys.modules.get(_STUB_NAME)
    if existing is not None:
        return getattr(existing, '__fusionbench_stub__', False)
    try:
        import mmcv._ext  # noqa: F401  (a full mmcv build: nothing to do)
        return False
    except ImportError:
        pass
    stub = types.ModuleType(_STUB_NAME)
    stub.__spec__ = importlib.machinery.ModuleSpec(_STUB_NAME, loader=None)
    stub.__fusionbench_stub__ = True

    def __getattr__(name: str):  # module-level getattr: any op name resolves to a raising stub
        if name.startswith('__'):
            raise AttributeError(name)
        return _missing_op(name)

    stub.__getattr__ = __getattr__
    sys.modules[_STUB_NAME] = stub
    return True


HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'mean', 'current'})


def history_buffer_getattr(owner: type, name: str):
    """The only ``getattr`` an mmengine checkpoint needs: a ``HistoryBuffer`` statistic.

    A message hub pickles ``HistoryBuffer.statistics_methods`` as ``getattr(HistoryBuffer,
    'mean')`` etc. Allow-listing the real ``builtins.getattr`` would let a checkpoint reach any
    attribute of any allowed class, so this stand-in answers only those lookups.
    """
    from mmengine.logging import HistoryBuffer

    allowed = HISTORY_BUFFER_STATISTICS | set(HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and name in allowed:
        return getattr(owner, name)
    raise pickle_error(f'checkpoint asks for getattr({owner!r}, {name!r}), which fusionbench '
                       'does not allow in weights-only loading')


def pickle_error(message: str) -> Exception:
    import pickle
    return pickle.UnpicklingError(message)


def mmengine_checkpoint_globals() -> list:
    """The globals an mmengine Runner checkpoint holds besides tensors and builtins."""
    import codecs

    import numpy as np
    from mmengine.config import ConfigDict
    from mmengine.logging import HistoryBuffer

    core = getattr(np, '_core', None) or np.core
    dtypes = [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool')]
    return [HistoryBuffer, ConfigDict, np.ndarray, np.dtype, core.multiarray._reconstruct,
            core.multiarray.scalar, codecs.encode, *dtypes,
            (history_buffer_getattr, 'builtins.getattr'),
            (history_buffer_getattr, '__builtin__.getattr')]


def allow_mmengine_checkpoint_globals() -> None:
    """Allow-list the classes of :func:`mmengine_checkpoint_globals` for weights-only loading."""
    torch.serialization.add_safe_globals(mmengine_checkpoint_globals())


def load_checkpoint(path: str, map_location: str | torch.device = 'cpu') -> dict:
    """Load an mmengine (or plain torch) checkpoint with ``weights_only=True``.

    Raises FileNotFoundError naming ``path`` when it does not exist.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoint_globals()
    return torch.load(path, map_location=map_location, weights_only=True)


def init_distributed(backend: str | None = None, timeout_s: int = 600) -> bool:
    """Initialise ``torch.distributed`` from torchrun's environment, CPU-safe.

    Picks gloo when CUDA is unavailable and nccl otherwise (``backend`` overrides). Returns True
    when a process group exists afterwards, False when the environment is not distributed
    (no ``WORLD_SIZE`` > 1). Call before building the mmengine Runner: the Runner then sees an
    initialised group and does not run its CUDA-only ``init_dist``.
    """
    import datetime

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1:
        return False
    if backend is None:
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if backend == 'nccl':
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', '0')))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return True


def model_wrapper_cfg() -> dict:
    """The Runner's ``model_wrapper_cfg`` for distributed training on this machine.

    DDP over CPU modules needs ``device_ids=None``; mmengine would otherwise pass the local rank.
    """
    cfg: dict = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
    if not torch.cuda.is_available():
        cfg['device_ids'] = None
    return cfg


_applied = False


def apply() -> None:
    """Install the import-time workarounds (idempotent)."""
    global _applied
    if _applied:
        return
    install_mmcv_ext_stub()
    allow_mmengine_checkpoint_globals()
    _applied = True
