"""Qualitative results of a segmentation table: trained cells' predictions on fixed test scenes.

:func:`collect` runs trained cells (:class:`~fusionbench.experiments.checkpoints.TrainedCell`)
on the same few scenes of their test split (the validation split when the config has no test
split) and keeps what the figure shows (:mod:`fusionbench.report.qualitative`): every input
modality as the network received it before normalisation, the ground truth, and the chosen
heads' class maps.

The scenes are fixed: :func:`scene_indices` spreads ``k`` of them evenly over the split
(``i·n // k`` for ``i = 0..k-1``), so the same command shows the same scenes for every row,
seed and rerun, and a larger ``k`` keeps the first scene.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fusionbench.data.visualize import IGNORE_INDEX

#: Pipeline steps left out of the split the inputs are *drawn* from: the network sees the
#: normalised values, a reader wants the camera's colours and the depth in metres.
NORMALISING_STEPS = ('NormalizeModalities',)


@dataclass(frozen=True)
class Column:
    """One prediction column: the table ``row``, the model's ``head`` (``rgb``, ``depth``,
    ``ensemble``) and its class maps, one ``int [H, W]`` per scene."""

    row: str
    head: str
    predictions: tuple[np.ndarray, ...]

    @property
    def title(self) -> str:
        """``'<row>: <head>'``."""
        return f'{self.row}: {self.head}'


@dataclass(frozen=True)
class QualitativeGrid:
    """What the qualitative figure draws.

    Attributes:
        indices: the scenes' positions in the split; ``scene_ids``: their ids (file stems or
            ``scene<seed>-<index>``).
        inputs: ``{modality: (array per scene)}``, each ``[H, W, C]`` before normalisation
            (RGB ``0..255``, depth in the dataset's unit).
        labels: ground truth per scene, ``int [H, W]`` (``ignore_index`` where unlabelled).
        columns: the prediction columns, in the order drawn.
        classes / palette: class names and ``uint8 [K, 3]`` colours of the split's metainfo.
        ignore_index: the label value of unlabelled pixels.
    """

    indices: tuple[int, ...]
    scene_ids: tuple[str, ...]
    inputs: dict[str, tuple[np.ndarray, ...]]
    labels: tuple[np.ndarray, ...]
    columns: tuple[Column, ...]
    classes: tuple[str, ...]
    palette: np.ndarray
    ignore_index: int = 255


def scene_indices(split_size: int, scenes: int) -> list[int]:
    """``scenes`` fixed positions spread evenly over a split of ``split_size``: ``i·n // k``.

    Raises ``ValueError`` when ``scenes`` is not in ``1..split_size``.
    """
    if not 1 <= scenes <= split_size:
        raise ValueError(f'--scenes {scenes}: the test split has {split_size} scenes; use '
                         f'1..{split_size}')
    return [i * split_size // scenes for i in range(scenes)]


def eval_split(cfg, normalised: bool = True):
    """The config's test split (its validation split when it has none), built from the
    registry with the config's pipeline; without the normalising steps
    (:data:`NORMALISING_STEPS`) when not ``normalised``.

    Raises ``ValueError`` when the config has neither split.
    """
    from fusionbench import registry

    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    if not loader:
        raise ValueError('the config has no test_dataloader or val_dataloader')
    spec = _plain(loader['dataset'])
    if not normalised:
        spec['pipeline'] = [step for step in spec.get('pipeline') or []
                            if step.get('type') not in NORMALISING_STEPS]
    return registry.build(registry.DATASETS, spec)


def _plain(value):
    """A config node as plain dicts and lists (mmengine ``ConfigDict`` included)."""
    if hasattr(value, 'items'):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def predict(model, dataset, indices: Sequence[int], batch_size: int = 8
            ) -> dict[str, list[np.ndarray]]:
    """Every head's class map on the scenes ``indices`` of ``dataset``: ``{head: [int [H, W]]}``
    (the model's ``test_step``: the config's test-time scales and flip, predictions at each
    sample's size). Heads as the model names them (``rgb``, ``depth``, ``ensemble``)."""
    import torch
    from mmengine.dataset import pseudo_collate

    out: dict[str, list[np.ndarray]] = {}
    model.eval()
    with torch.no_grad():
        for start in range(0, len(indices), batch_size):
            batch = pseudo_collate([dataset[i] for i in indices[start:start + batch_size]])
            for sample in model.test_step(batch):
                for key in sample.keys():
                    if key.startswith('pred_') and key != 'pred_sem_seg':
                        out.setdefault(key[len('pred_'):], []).append(
                            sample.get(key).data.squeeze(0).cpu().numpy().astype(np.int64))
    return out


def heads_of(model) -> tuple[str, ...]:
    """The model's heads in its order (modalities, then the ensemble)."""
    net = getattr(model, 'module', model)
    return tuple(getattr(net, 'heads', ()))


def primary_head(model) -> str:
    """The head a table reports: the ensemble when the model has one, else its only modality."""
    heads = heads_of(model)
    return 'ensemble' if 'ensemble' in heads else heads[0]


def collect(cells: Sequence[tuple[str, object]], scenes: int,
            all_heads: bool | None = None) -> QualitativeGrid:
    """The grid for trained ``cells`` (``[(row id, TrainedCell)]``) on ``scenes`` fixed scenes.

    Columns: with one cell (or ``all_heads``), each of its heads (``'<row>: <head>'``); with
    several, each cell's primary head (:func:`primary_head`). The inputs are drawn from the
    cell with the most modalities (a unimodal row sees a subset of them).

    Raises ``ValueError`` for ``scenes`` outside the split, no cells, a cell whose model is not a
    segmentor (no ``pred_*`` heads), or cells whose test splits are not the same scenes.
    """
    if not cells:
        raise ValueError('no cells to draw')
    all_heads = len(cells) == 1 if all_heads is None else all_heads
    widest = max(cells, key=lambda c: len(c[1].cfg.model.get('modalities') or ()))[1]
    drawn = eval_split(widest.cfg, normalised=False)
    indices = scene_indices(len(drawn), scenes)
    samples = [drawn[i] for i in indices]
    scene_ids = tuple(str(s['data_samples'].metainfo.get('sample_id', i))
                      for s, i in zip(samples, indices))
    columns = []
    for row, cell in cells:
        dataset = eval_split(cell.cfg)
        ids = tuple(str(dataset[i]['data_samples'].metainfo.get('sample_id', i))
                    for i in indices)
        if len(dataset) != len(drawn) or ids != scene_ids:
            raise ValueError(f'{row}: its test split is not the scenes of the others '
                             f'({ids[:2]}… vs {scene_ids[:2]}…)')
        heads = predict(cell.model, dataset, indices)
        if not heads:
            raise ValueError(f'{row}: its model predicts no class maps (not a segmentor)')
        wanted = heads_of(cell.model) if all_heads else (primary_head(cell.model),)
        columns += [Column(row, head, tuple(heads[head])) for head in wanted]
    meta = drawn.metainfo
    ignore = int(getattr(drawn, 'ignore_index', IGNORE_INDEX))
    return QualitativeGrid(
        indices=tuple(indices), scene_ids=scene_ids,
        inputs={name: tuple(_hwc(s['inputs'][name]) for s in samples)
                for name in samples[0]['inputs']},
        labels=tuple(s['data_samples'].gt_sem_seg.data.squeeze(0).numpy().astype(np.int64)
                     for s in samples),
        columns=tuple(columns), classes=tuple(meta.get('classes') or ()),
        palette=np.asarray(meta.get('palette'), dtype=np.uint8).reshape(-1, 3),
        ignore_index=ignore)


def _hwc(tensor) -> np.ndarray:
    """``[C, H, W]`` tensor -> ``float32 [H, W, C]`` array."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy().transpose(1, 2, 0),
                                dtype=np.float32)


__all__ = ['Column', 'NORMALISING_STEPS', 'QualitativeGrid', 'collect', 'heads_of', 'predict',
           'primary_head', 'scene_indices', 'eval_split']
