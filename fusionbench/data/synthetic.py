"""The embedded default dataset: procedural RGB-D scenes as an mmengine dataset.

Scenes come from :func:`fusionbench.data.scenes.load_or_generate` (deterministic from the seed,
cached on disk). Each sample enters the pipeline with ``results['modalities']`` holding the
requested modalities -- ``rgb`` (uint8 ``[H, W, 3]``), ``depth`` (float32 metres ``[H, W, 1]``,
0 = sensor hole), ``normal`` (float32 ``[H, W, 3]``), ``albedo`` (uint8 ``[H, W, 3]``),
``shading``, ``reshading``, ``edge_texture`` (float32 ``[H, W, 1]``; the last two are the
Taskonomy-style domains of :mod:`fusionbench.data.scenes.domains`, in ``[0, 1]``) -- and ``results['gt_seg_map']`` (uint8 ``[H, W]``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from mmengine.dataset import BaseDataset

from fusionbench import registry
from fusionbench.data import scenes
from fusionbench.data.errors import DataError
from fusionbench.registry import DATASETS, TRANSFORMS


@DATASETS.register_module()
class SyntheticScenes(BaseDataset):
    """Procedural indoor RGB-D scenes (see :mod:`fusionbench.data.scenes`).

    Args:
        cache_dir: where generated splits are cached.
        num_scenes: scenes in this split.
        height / width: resolution.
        seed: split seed (train and val use different seeds, so they share no scene).
        modalities: names among ``scenes.MODALITIES``, in the model's order.
        pipeline: transforms (configs built from fusionbench's TRANSFORMS registry).
        label_shuffle_seed: None (default), or a seed: scene ``i`` then carries the label map
            of scene ``π(i)`` for a fixed random permutation ``π`` -- the labels no longer match
            the images (the shuffled-label control of CEN's γ dynamics: a task gradient
            without task signal).
    """

    METAINFO = dict(classes=scenes.CLASSES, palette=scenes.PALETTE)

    def __init__(self, cache_dir: str, num_scenes: int, height: int, width: int, seed: int,
                 modalities: Sequence[str] = ('rgb', 'depth'),
                 pipeline: Sequence[dict | Callable] = (),
                 label_shuffle_seed: int | None = None, **kwargs):
        unknown = [m for m in modalities if m not in scenes.MODALITIES]
        if unknown:
            raise DataError(f'SyntheticScenes: unknown modalities {unknown}; available: '
                            f'{list(scenes.MODALITIES)}')
        self.cache_dir = cache_dir
        self.num_scenes = num_scenes
        self.size = (height, width)
        self.seed = seed
        self.modalities = tuple(modalities)
        self.label_shuffle_seed = label_shuffle_seed
        self.arrays: dict[str, np.ndarray] = {}
        pipeline = [registry.build(TRANSFORMS, t) if isinstance(t, dict) else t
                    for t in pipeline]
        super().__init__(pipeline=pipeline, serialize_data=False, **kwargs)

    def load_data_list(self) -> list[dict]:
        self.arrays = scenes.load_or_generate(self.cache_dir, self.num_scenes, *self.size,
                                              seed=self.seed)
        order = np.arange(self.num_scenes)
        if self.label_shuffle_seed is not None:
            order = np.random.default_rng(self.label_shuffle_seed).permutation(self.num_scenes)
        self._label_index = order
        return [dict(sample_idx=i, sample_id=f'scene{self.seed}-{i:05d}')
                for i in range(self.num_scenes)]

    def get_data_info(self, idx: int) -> dict:
        info = dict(super().get_data_info(idx))
        i = info['sample_idx']
        info['modalities'] = {m: self.arrays[m][i] for m in self.modalities}
        info['gt_seg_map'] = self.arrays['label'][self._label_index[i]]
        info['img_shape'] = info['ori_shape'] = self.size
        return info
