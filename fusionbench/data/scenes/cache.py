"""Splits and their on-disk cache (one ``.npz`` per key, written atomically)."""
from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from fusionbench.data.scenes.constants import GENERATOR_VERSION, KEYS
from fusionbench.data.scenes.layout import scene_seed
from fusionbench.data.scenes.render import render_scene

def _empty_split(n, h, w):
    return {'rgb': np.zeros((n, h, w, 3), np.uint8), 'depth': np.zeros((n, h, w), np.float32),
            'normal': np.zeros((n, h, w, 3), np.float32),
            'albedo': np.zeros((n, h, w, 3), np.uint8),
            'shading': np.zeros((n, h, w), np.float32), 'label': np.zeros((n, h, w), np.uint8),
            'reshading': np.zeros((n, h, w), np.float32),
            'edge_texture': np.zeros((n, h, w), np.float32)}


def _render_chunk(args):
    seed, start, stop, h, w = args
    out = _empty_split(stop - start, h, w)
    for i, k in enumerate(range(start, stop)):
        sample = render_scene(scene_seed(seed, k), h, w)
        for key in KEYS:
            out[key][i] = sample[key]
    return start, out


def generate_split(num_scenes: int, height: int, width: int, seed: int,
                   workers: int = 1) -> dict[str, np.ndarray]:
    """Render ``num_scenes`` scenes; scene ``k`` uses :func:`scene_seed` ``(seed, k)``.

    Returns ``{'rgb': uint8 [K, H, W, 3], 'depth': float32 [K, H, W], 'normal': float32
    [K, H, W, 3], 'albedo': uint8 [K, H, W, 3], 'shading': float32 [K, H, W], 'label': uint8
    [K, H, W]}``. Identical for any ``workers`` (>= 2 uses a process pool).
    """
    n, h, w = int(num_scenes), int(height), int(width)
    if n < 0:
        raise ValueError(f'generate_split: num_scenes must be >= 0, got {n}')
    scene_seed(seed, max(n - 1, 0))   # validates seed / range
    out = _empty_split(n, h, w)
    workers = max(1, int(workers))
    chunk = max(1, min(32, -(-n // (4 * workers))))
    jobs = [(int(seed), a, min(a + chunk, n), h, w) for a in range(0, n, chunk)]
    if workers == 1 or len(jobs) <= 1:
        for start, part in map(_render_chunk, jobs):
            for key in KEYS:
                out[key][start:start + len(part[key])] = part[key]
        return out
    # 'fork' on Linux: workers only run numpy code, and unlike 'spawn'/'forkserver' it does not
    # re-import the caller's __main__ (scripts without an ``if __name__ == '__main__'`` guard).
    method = 'fork' if sys.platform.startswith('linux') else 'spawn'
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)   # "fork() with threads" (3.12+)
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)),
                                 mp_context=multiprocessing.get_context(method)) as pool:
            for start, part in pool.map(_render_chunk, jobs):
                for key in KEYS:
                    out[key][start:start + len(part[key])] = part[key]
    return out


def cache_path(cache_dir: str | os.PathLike, num_scenes: int, height: int, width: int,
               seed: int) -> str:
    """Path of the cache file for one (version, num_scenes, height, width, seed) key."""
    name = (f'scenes_{GENERATOR_VERSION}_n{int(num_scenes)}_h{int(height)}_w{int(width)}'
            f'_s{int(seed)}.npz')
    return os.path.join(os.fspath(cache_dir), name)


def _load_cached(path, n, h, w):
    ref = _empty_split(0, h, w)
    with np.load(path, allow_pickle=False) as f:
        if str(f['version']) != GENERATOR_VERSION:
            raise ValueError('version mismatch')
        out = {k: f[k] for k in KEYS}
    for k in KEYS:
        if out[k].dtype != ref[k].dtype or out[k].shape != (n,) + ref[k].shape[1:]:
            raise ValueError(f'bad array {k}')
    return out


def load_or_generate(cache_dir: str | os.PathLike, num_scenes: int, height: int, width: int,
                     seed: int, workers: int | None = None) -> dict[str, np.ndarray]:
    """:func:`generate_split`, cached as one ``.npz`` per key under ``cache_dir``.

    A readable cache file with the right version, keys, shapes and dtypes is loaded; anything
    else (missing, truncated, corrupt) is regenerated and written atomically (temporary file in
    ``cache_dir`` + ``os.replace``). ``workers=None`` uses ``min(2, cpu count)`` processes.
    Returns the same dict as :func:`generate_split`.
    """
    path = cache_path(cache_dir, num_scenes, height, width, seed)
    if os.path.exists(path):
        try:
            return _load_cached(path, int(num_scenes), int(height), int(width))
        except Exception:  # noqa: BLE001 -- any unreadable cache is simply regenerated
            pass
    if workers is None:
        workers = max(1, min(2, os.cpu_count() or 1))
    data = generate_split(num_scenes, height, width, seed, workers=workers)
    os.makedirs(os.fspath(cache_dir), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.scenes_', suffix='.tmp', dir=os.fspath(cache_dir))
    try:
        with os.fdopen(fd, 'wb') as fh:
            np.savez(fh, version=np.array(GENERATOR_VERSION), **data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return data
