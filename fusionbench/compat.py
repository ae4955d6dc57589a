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
3. mmengine's ``init_dist`` for the ``pytorch`` and ``slurm`` launchers calls
   ``torch.cuda.set_device`` and defaults to NCCL. :func:`init_distributed` brings up the process
   group itself (gloo on CPU, nccl on GPU; under Slurm from its ``SLURM_*`` variables, see
   :func:`slurm_environment`) so the Runner finds it initialised and skips its CUDA-only path,
   and :func:`model_wrapper_cfg` gives DDP ``device_ids=None`` on CPU.
4. mmengine's auto-resume (``resume = True``) trusts ``work_dir/last_checkpoint`` blindly, and
   its ``CheckpointHook`` deletes the previous checkpoint *before* writing the next one with a
   plain (non-atomic) ``torch.save``, then rewrites ``last_checkpoint``. A run killed in that
   window leaves a pointer to a deleted file, or to a truncated one, or an empty pointer, and
   every later run of that work dir crashes on resume. :func:`prepare_resume` repairs the
   pointer (newest intact checkpoint, or a fresh start) before the Runner is built.

5. mmengine 0.10.7 loads checkpoints (``load_from``, resume, ``Pretrained`` init) with
   ``torch.load`` and no ``weights_only``, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns into
   full unpickling. :func:`enforce_weights_only_loading` routes every mmengine load through
   :func:`load_checkpoint` (explicit ``weights_only=True``, the allow-list of 2); it imports
   ``mmengine.runner`` (seconds), so it runs where training starts
   (:func:`fusionbench.experiments.run.train_and_evaluate`), not on ``import fusionbench``.

:func:`apply` runs 1 and 2; it is idempotent and called on ``import fusionbench``.
"""
from __future__ import annotations

import importlib.machinery
import logging
import os
import pickle
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


class CheckpointError(RuntimeError):
    """A checkpoint fusionbench will not load; ``str()`` is one line naming the file."""


class UnsafeCheckpointError(CheckpointError, pickle.UnpicklingError):
    """A checkpoint whose pickle asks for a global outside the allow-list (it could run code)."""


def _refusal_reason(err: Exception) -> str:
    """The useful part of torch's multi-line weights-only refusal."""
    import re
    text = str(err)
    found = re.search(r'GLOBAL (\S+) was not an allowed global', text)
    if found:
        return f'it asks for {found.group(1)}, which is not on the allow-list'
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    unpickler = [line for line in lines if 'WeightsUnpickler error' in line or
                 'Unsupported' in line]
    return (unpickler or lines or [type(err).__name__])[-1]


def load_checkpoint(path: str, map_location: str | torch.device | None = 'cpu') -> dict:
    """Load an mmengine (or plain torch) checkpoint with ``weights_only=True``, always.

    ``weights_only`` is passed explicitly, so ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` in the
    environment cannot turn it off (torch honours that variable only where the argument is
    left out). The allow-list is :func:`mmengine_checkpoint_globals`.

    Raises:
        FileNotFoundError: ``path`` does not exist (named).
        UnsafeCheckpointError: the pickle asks for something outside the allow-list (a
            checkpoint that would run code); names ``path``.
        CheckpointError: the file is not a readable checkpoint; names ``path``.
    """
    import zipfile

    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoint_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'refusing to load checkpoint {path}: {_refusal_reason(err)} (fusionbench loads '
            'checkpoints weights-only; re-save it as a plain state dict)') from err
    except (EOFError, RuntimeError, zipfile.BadZipFile) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f'cannot read checkpoint {path}: {reason}') from err


def _load_from_local_weights_only(filename: str, map_location=None) -> dict:
    """mmengine's local checkpoint loader, weights-only (see :func:`load_checkpoint`)."""
    return load_checkpoint(os.path.expanduser(filename), map_location=map_location)


def _load_from_remote_refused(filename: str, map_location=None) -> dict:
    """mmengine's URL loaders (http, torchvision://, open-mmlab://, ...): refused."""
    raise CheckpointError(f'refusing to load checkpoint {filename}: fusionbench never downloads '
                          'checkpoints; put the file on disk and give its path')


def enforce_weights_only_loading() -> None:
    """Route every mmengine checkpoint load (``load_from``, ``resume``, ``init_cfg``
    ``Pretrained``) through :func:`load_checkpoint`.

    mmengine 0.10.7's loaders call ``torch.load`` without ``weights_only``, so
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` would make them unpickle arbitrary code. The local
    loader is replaced by the weights-only one and the downloading loaders by a refusal
    (fusionbench never downloads). Idempotent.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    for prefix in list(CheckpointLoader._schemes):
        loader = _load_from_local_weights_only if prefix == '' else _load_from_remote_refused
        CheckpointLoader.register_scheme(prefix, loader, force=True)


def slurm_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """torch's ``env://`` variables for one task of a Slurm job step (``srun``).

    ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` come from ``SLURM_PROCID`` / ``SLURM_NTASKS`` /
    ``SLURM_LOCALID``; ``MASTER_ADDR`` is kept when set, else the job's first node
    (``scontrol show hostnames``, or ``SLURM_NODELIST`` itself when it names one plain host);
    ``MASTER_PORT`` is kept when set, else 29500 (torch's default), as mmengine's Slurm path.
    Raises RuntimeError (one line) when a variable is missing or the first node is unknown.
    """
    import shutil
    import subprocess

    env = os.environ if environ is None else environ
    missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS') if k not in env]
    if missing:
        raise RuntimeError(f'--launcher slurm needs the Slurm task variables {missing}: start the '
                           'command with srun (one task per process)')
    out = {'RANK': env['SLURM_PROCID'], 'WORLD_SIZE': env['SLURM_NTASKS'],
           'LOCAL_RANK': env.get('SLURM_LOCALID', '0'),
           'MASTER_PORT': env.get('MASTER_PORT', '29500')}
    if env.get('MASTER_ADDR'):
        out['MASTER_ADDR'] = env['MASTER_ADDR']
        return out
    nodes = env.get('SLURM_STEP_NODELIST') or env.get('SLURM_NODELIST') or ''
    if nodes and not any(c in nodes for c in '[],'):
        out['MASTER_ADDR'] = nodes
    elif nodes and shutil.which('scontrol'):
        hosts = subprocess.run(['scontrol', 'show', 'hostnames', nodes], capture_output=True,
                               text=True, timeout=30).stdout.split()
        if hosts:
            out['MASTER_ADDR'] = hosts[0]
    if 'MASTER_ADDR' not in out:
        raise RuntimeError(f'--launcher slurm: cannot tell the first node of {nodes!r} (no '
                           'scontrol here); set MASTER_ADDR')
    return out


def init_distributed(backend: str | None = None, timeout_s: int = 600,
                     launcher: str = 'pytorch') -> bool:
    """Initialise ``torch.distributed`` from the launcher's environment, CPU-safe.

    ``launcher``: ``'pytorch'`` (torchrun's ``RANK`` / ``WORLD_SIZE`` / ``MASTER_*``) or
    ``'slurm'`` (``srun``'s ``SLURM_*``, turned into torch's variables by
    :func:`slurm_environment`). Picks gloo when CUDA is unavailable and nccl otherwise
    (``backend`` overrides). Returns True when a process group exists afterwards -- also for a
    launcher's single process, so the Runner does not run its CUDA-only ``init_dist`` -- and
    False outside a launcher (no ``WORLD_SIZE``). Call before building the mmengine Runner.
    """
    import datetime

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return True
    if launcher == 'slurm':
        os.environ.update(slurm_environment())
    if 'WORLD_SIZE' not in os.environ:
        return False
    if int(os.environ['WORLD_SIZE']) == 1:  # one process: no peers to find
        os.environ.setdefault('RANK', '0')
        os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
        os.environ.setdefault('MASTER_PORT', str(_free_port()))
    if backend is None:
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if backend == 'nccl':
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', '0')))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
    return True


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def model_wrapper_cfg() -> dict:
    """The Runner's ``model_wrapper_cfg`` for distributed training on this machine.

    DDP over CPU modules needs ``device_ids=None``; mmengine would otherwise pass the local rank.
    """
    cfg: dict = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
    if not torch.cuda.is_available():
        cfg['device_ids'] = None
    return cfg


def is_main_process() -> bool:
    """Rank 0 of the process group, or any process outside one."""
    import torch.distributed as dist
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def barrier() -> None:
    """``torch.distributed.barrier()`` inside a process group; nothing outside one."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


LAST_CHECKPOINT = 'last_checkpoint'


def intact_checkpoint(path: str) -> bool:
    """True when ``path`` is a complete torch (zip) checkpoint.

    ``torch.save`` writes the zip's central directory last, so a file cut short by a kill is not
    a readable zip; this reads only the directory, not the tensors.
    """
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _checkpoints(work_dir: str) -> list[str]:
    """The ``*.pth`` files directly under ``work_dir``, oldest first."""
    paths = [os.path.join(work_dir, name) for name in os.listdir(work_dir)
             if name.endswith('.pth')]
    return sorted((p for p in paths if os.path.isfile(p)), key=os.path.getmtime)


def prepare_resume(work_dir: str, fresh: bool = False) -> str | None:
    """Make ``work_dir`` safe for mmengine's auto-resume; return what it will resume from.

    ``fresh``: delete the checkpoints and the pointer, so the run starts from iteration 0
    (``run --force``: otherwise the Runner would resume the finished run and train nothing).
    Otherwise the pointer ``last_checkpoint`` is kept when it names an intact checkpoint, and
    is rewritten (atomically) to the newest intact checkpoint of ``work_dir`` -- or removed,
    for a fresh start -- when it is empty or names a missing or truncated file (a run killed
    while checkpointing). A pointer to a moved results folder is followed to the same file
    name in ``work_dir``. Logs are never touched. Call on one process only (rank 0).
    """
    if not os.path.isdir(work_dir):
        return None
    pointer = os.path.join(work_dir, LAST_CHECKPOINT)
    if fresh:
        for path in _checkpoints(work_dir):
            os.remove(path)
        if os.path.exists(pointer):
            os.remove(pointer)
        return None
    if not os.path.exists(pointer):
        return None
    with open(pointer) as f:
        named = f.read().strip()
    candidates = [named, os.path.join(work_dir, os.path.basename(named))] if named else []
    for path in candidates:
        if os.path.isfile(path) and intact_checkpoint(path):
            resume_from = path
            break
    else:
        intact = [p for p in _checkpoints(work_dir) if intact_checkpoint(p)]
        resume_from = intact[-1] if intact else None
    if resume_from is None:
        os.remove(pointer)
    elif resume_from != named:
        tmp = f'{pointer}.{os.getpid()}.tmp'
        with open(tmp, 'w') as f:
            f.write(resume_from)
        os.replace(tmp, pointer)
    return resume_from


_applied = False


def drop_closed_log_files() -> int:
    """Remove closed file handlers from every mmengine logger; return how many were removed.

    mmengine 0.10.7: a finished Runner leaves its ``MMLogger`` as the *current* instance, and
    once its log file is closed (work dir cleaned up, handler closed) the next
    ``BaseModule.init_weights()`` outside a Runner writes its initialisation summary to that
    handler's stream, which is ``None`` -- ``AttributeError: 'NoneType' object has no attribute
    'write'``. Dropping closed handlers keeps the logger usable.
    """
    from logging import FileHandler

    from mmengine.logging import MMLogger

    removed = 0
    for logger in list(MMLogger._instance_dict.values()):
        for handler in list(logger.handlers):
            if isinstance(handler, FileHandler) and handler.stream is None:
                logger.removeHandler(handler)
                removed += 1
    return removed


#: Log messages of the pinned stack that no user can act on (deprecations inside mmengine's own
#: hooks; mmengine's warning that a metric has no key prefix, which fusionbench's metrics leave
#: out on purpose; the note that a fresh work dir has no checkpoint to resume; the path of
#: each weights file loaded).
KNOWN_NOISE = (
    'The prefix is not set in metric class',
    '"FileClient" will be deprecated in future',
    '"HardDiskBackend" is the alias of "LocalBackend"',
    'Did not find last_checkpoint to be resumed',
    'Loads checkpoint by ',  # the weights a run loads are in its record (with their SHA-256)
)


class KnownNoiseFilter(logging.Filter):
    """Drops the records whose message starts with one of :data:`KNOWN_NOISE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(KNOWN_NOISE)


def silence_known_noise(logger: logging.Logger) -> None:
    """Attach :class:`KnownNoiseFilter` to ``logger`` (a Runner's ``MMLogger``: mmengine logs
    to the current instance, the Runner's). Idempotent."""
    if not any(isinstance(f, KnownNoiseFilter) for f in logger.filters):
        logger.addFilter(KnownNoiseFilter())


def apply() -> None:
    """Install the import-time workarounds (idempotent)."""
    global _applied
    if _applied:
        return
    install_mmcv_ext_stub()
    allow_mmengine_checkpoint_globals()
    _applied = True
