"""Small generated data sets on disk, in the layouts the readers expect."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from fusionbench.data.fileio import encode_sunrgbd_depth, write_png


def ramp_results(h: int = 12, w: int = 16, sample_id: str = 's0') -> dict:
    """A pipeline ``results`` whose every pixel encodes its coordinates.

    rgb ``uint8 [h, w, 3]`` = (y, x, 7); depth ``float32 [h, w, 1]`` = 1 + (y*w + x)/100;
    label ``uint8 [h, w]`` = (y*w + x) % 40, so ``label == code(depth)`` at every pixel.
    """
    y, x = np.mgrid[:h, :w]
    index = y * w + x
    return dict(sample_id=sample_id, img_shape=(h, w), ori_shape=(h, w),
                modalities={'rgb': np.stack([y, x, np.full_like(x, 7)], -1).astype(np.uint8),
                            'depth': (1 + index / 100).astype(np.float32)[..., None]},
                gt_seg_map=(index % 40).astype(np.uint8))


def label_of_depth(depth: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ramp_results`' depth code: ``[H, W, 1]`` -> label ``[H, W]``."""
    return (np.round((depth[..., 0] - 1) * 100).astype(np.int64) % 40).astype(np.uint8)


def write_nyu_layout(root: Path, ids=('000001', '000002', '000003'), size=(24, 32),
                     split='val', with_hha=False, seed=0) -> dict[str, dict]:
    """NYU layout with random frames; returns ``{id: dict(rgb, depth_mm, mask)}``."""
    rng = np.random.default_rng(seed)
    frames = {}
    for sample_id in ids:
        frame = dict(rgb=rng.integers(0, 256, (*size, 3), dtype=np.uint8),
                     depth_mm=rng.integers(500, 9000, size, dtype=np.uint16),
                     mask=rng.choice(np.r_[np.arange(40), 255], size).astype(np.uint8))
        write_png(root / 'rgb' / f'{sample_id}.png', frame['rgb'])
        write_png(root / 'depth' / f'{sample_id}.png', frame['depth_mm'])
        write_png(root / 'masks' / f'{sample_id}.png', frame['mask'])
        if with_hha:
            write_png(root / 'hha' / f'{sample_id}.png', frame['rgb'][..., ::-1].copy())
        frames[sample_id] = frame
    (root / f'{split}.txt').write_text(''.join(f'{i}\n' for i in ids))
    return frames


def write_sunrgbd_layout(root: Path, counts=None, size=(20, 28), seed=0) -> dict[str, dict]:
    """SUN RGB-D split folders (rgb as JPEG, SUN-encoded depth, 0..37 labels)."""
    rng = np.random.default_rng(seed)
    counts = counts or {'train': 3, 'test': 2}
    frames = {}
    for split, count in counts.items():
        for k in range(count):
            sample_id = f'{split}{k:04d}'
            y, x = np.mgrid[:size[0], :size[1]]              # smooth, so JPEG keeps it
            rgb = np.stack([y * 8, x * 8, np.full_like(x, 40 * k)], -1) + rng.integers(0, 30)
            frame = dict(rgb=rgb.astype(np.uint8),
                         depth_mm=rng.integers(400, 12000, size, dtype=np.uint16),
                         label=rng.integers(0, 38, size, dtype=np.uint8))
            split_dir = root / split
            (split_dir / 'rgb').mkdir(parents=True, exist_ok=True)
            Image.fromarray(frame['rgb']).save(split_dir / 'rgb' / f'{sample_id}.jpg', quality=95)
            write_png(split_dir / 'depth' / f'{sample_id}.png',
                      encode_sunrgbd_depth(frame['depth_mm']))
            write_png(split_dir / 'label' / f'{sample_id}.png', frame['label'])
            frames[sample_id] = frame
    return frames
