"""A finished run's final checkpoint: written by the grid, read by :mod:`~fusionbench.
experiments.checkpoints` (the format is described there).

Kept apart from that module so the grid writes it without importing the module that plans and
trains cells through the grid (no import circle).
"""
from __future__ import annotations

import json
import os

#: File name of a finished run's checkpoint in its work dir.
FINAL_CHECKPOINT = 'final.pth'
#: mmengine's pointer to the resumable checkpoint (see :func:`fusionbench.compat.prepare_resume`).
LAST_CHECKPOINT = 'last_checkpoint'
#: Prefixes a wrapped model adds to state-dict keys (DDP's ``module.``, ``torch.compile``'s
#: ``_orig_mod.``); removed so the weights load into the bare model.
WRAPPER_PREFIXES = ('module.', '_orig_mod.')


def _strip_wrappers(key: str) -> str:
    for prefix in WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key


def resumable_checkpoint(folder: str) -> str | None:
    """The checkpoint mmengine's pointer names in ``folder`` (or the newest intact ``iter_*`` /
    ``epoch_*`` one); None when there is none."""
    from fusionbench.compat import intact_checkpoint

    pointer = os.path.join(folder, LAST_CHECKPOINT)
    candidates = []
    if os.path.isfile(pointer):
        with open(pointer, encoding='utf-8') as f:
            named = f.read().strip()
        if named:
            candidates += [named, os.path.join(folder, os.path.basename(named))]
    others = [os.path.join(folder, n) for n in os.listdir(folder)
              if n.endswith('.pth') and n != FINAL_CHECKPOINT]
    candidates += sorted(others, key=os.path.getmtime, reverse=True)
    return next((p for p in candidates if os.path.isfile(p) and intact_checkpoint(p)), None)


def keep_final_checkpoint(folder: str, record: dict) -> str | None:
    """Write ``folder/final.pth`` from the run's last checkpoint (weights, config, ``record``);
    return its path (None when the run left no checkpoint).

    Written through a temporary file and ``os.replace``. The grid calls it before writing the
    record (a finished cell has its weights) and :func:`drop_resumable_checkpoints` after.
    Raises :class:`~fusionbench.errors.WriteError` naming the file on a write failure (the
    temporary file removed).
    """
    import torch

    from fusionbench import compat
    from fusionbench.errors import WriteError

    source = resumable_checkpoint(folder) if os.path.isdir(folder) else None
    if source is None:
        return None
    checkpoint = compat.load_checkpoint(source)
    meta = checkpoint.get('meta') or {}
    final = {'state_dict': {_strip_wrappers(k): v for k, v in checkpoint['state_dict'].items()},
             'meta': {'cfg': meta.get('cfg', ''), 'run_id': record.get('run_id'),
                      'iter': meta.get('iter'), 'dataset_meta': meta.get('dataset_meta') or {},
                      'record': json.dumps(record, sort_keys=True, default=str)}}
    path = os.path.join(folder, FINAL_CHECKPOINT)
    tmp = f'{path}.{os.getpid()}.tmp'
    try:
        torch.save(final, tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise WriteError(path, err.strerror or str(err)) from err
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def drop_resumable_checkpoints(folder: str) -> list[str]:
    """Delete mmengine's resumable checkpoints of a finished run (``final.pth`` and the logs
    stay); return the deleted paths. The pointer goes first, so a kill in between never leaves
    a pointer to a deleted file (:func:`fusionbench.compat.prepare_resume` would fall back to
    ``final.pth``, which cannot resume)."""
    if not os.path.isfile(os.path.join(folder, FINAL_CHECKPOINT)):
        return []  # never leave a finished run without any weights
    removed = []
    for stale in [os.path.join(folder, LAST_CHECKPOINT),
                  *(os.path.join(folder, n) for n in sorted(os.listdir(folder))
                    if n.endswith('.pth') and n != FINAL_CHECKPOINT)]:
        if os.path.isfile(stale):
            os.remove(stale)
            removed.append(stale)
    return removed
