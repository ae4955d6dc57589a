"""Figure 3 of the CEN paper, measured: what the kept and the exchanged channels respond to.

The paper (§4.1, Figure 3): "the RGB channel with non-zero scaling factor mainly characterizes
the texture, while the Depth channel with non-zero factor focuses more on the boundary". On the
procedural scenes (:mod:`fusionbench.data.scenes`) the per-pixel depth, normals and albedo are
known, so the claim can be tested with numbers instead of by eye. Top-down, every step a
function of the model and a batch (or of arrays):

1. :func:`select_points`: the CEN exchange points analysed -- by default every point of
   encoder stage 1 (the highest-resolution stage: ``H/4 × W/4``, 16 × 16 on ``mini``'s 64 × 64
   scenes; later stages are 8 × 8 and smaller), or one named point. All points of a stage share
   one resolution (a basic block's stride sits in its first 3×3 convolution).
2. :func:`channel_groups`: per point, the channels ``(γ_rgb ≈ 0, γ_depth > 0)``
   (``depth_dominant``), ``(γ_rgb > 0, γ_depth ≈ 0)`` (``rgb_dominant``) and both ``> 0``
   (``both``), with ``≈ 0`` meaning ``|γ| < θ`` -- CEN's own exchange criterion (Eq. 6), θ of
   that point's CEN module.
3. :func:`capture_features` + :func:`group_maps`: each group's averaged feature map. The
   feature is what the network continues with at the point: the CEN module's output (the
   private norm's output after the exchange, before the residual addition), ``[M, N, C, h, w]``.
   A ``depth_dominant`` channel is read from the depth stream (the RGB stream holds a copy of it
   after the exchange), an ``rgb_dominant`` one from the RGB stream, a ``both`` channel as the
   mean of the two streams; the group map is the plain mean over the group's (point, channel)
   pairs, as the paper's "averaged feature maps" (no per-channel rescaling: our choice, so a
   channel counts with the scale its γ gives it).
4. :func:`edge_maps` + :func:`pool_edges`: the scene's ground-truth edges at full resolution,
   then their density per feature-map cell (area average):

   - ``depth``: depth discontinuities, ``|Δ²(1/z)| > 4 %`` of ``1/z`` along x or y -- the depth
     sensor model's own depth-edge criterion (:func:`fusionbench.data.scenes.sensors.
     depth_sensor`); on a plane ``1/z`` is affine in the pixel coordinates, so smooth slopes
     (a floor receding) give no edge. From the clean camera-frame depth (no noise, no holes).
   - ``normal``: normal discontinuities, an angle over :data:`NORMAL_EDGE_DEG` between the
     unit normals of 4-neighbours (creases; curved surfaces turn by a few degrees per pixel).
   - ``albedo``: albedo edges, a Euclidean distance over :data:`ALBEDO_EDGE` between the sRGB
     albedos (``/255``) of 4-neighbours (decals, material boundaries, strong texture).
   - ``geometry`` = ``depth`` or ``normal``; ``geometry_only`` = geometry and not albedo (the
     camouflaged pillar, creases within one material); ``albedo_only`` = albedo and not
     geometry (pictures, rugs, doors, whiteboards, texture).
5. :func:`responses` + :func:`scene_correlations`: per scene, Spearman's ρ
   (``scipy.stats.spearmanr``: rank-based, so invariant to any monotone rescaling of the maps
   and robust to the heavy tail of edge densities) over the ``h × w`` cells between each group's
   response and each edge density. Two responses: ``gradient``, the gradient magnitude of the
   group map (central differences; **the primary measure**: invariant to the sign and offset a
   channel's γ and β give it, and "responds to an edge" whether the map peaks on the edge or
   steps across it), and ``map``, the mean map itself (signed; kept for reference).
6. :func:`summarise` + :func:`verdict`: mean ρ over scenes with the Student-t interval over
   scenes (:func:`fusionbench.analysis.stats.summarize`), and per scene the contrast
   ``ρ(depth_dominant) − ρ(rgb_dominant)`` on each edge map. The claim holds when the contrast's
   interval lies above 0 on ``geometry_only`` edges and below 0 on ``albedo_only`` edges (the
   exclusive maps: object boundaries carry both kinds of edges, so the overlapping maps cannot
   separate the two readings).

7. The control (:func:`initial_model`): each stream sees its own modality from the first
   iteration, so depth-stream channels may follow depth edges whatever CEN learnt. The same
   channel groups (the trained γ's) read from the same network at its initial weights (the
   pretrained encoder on ``mini``) give the contrasts the inputs alone produce; their per-scene
   change, trained − initial, is what training with exchange added (``beyond_inputs``).

Scenes whose response or edge map is constant (an empty group, a scene without such edges) give
no ρ and are left out of that cell's mean (its ``n_scenes`` says how many remain).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats
from torch import Tensor, nn

from fusionbench.analysis.stats import CI_HIGH, CI_LOW, summarize
from fusionbench.fusion.cen import ChannelExchange
from fusionbench.fusion.gamma_dynamics import exchange_layers
from fusionbench.modal import split_modalities

#: The channel groups of the paper's Figure 3, in its column order, with their panel titles.
GROUPS = ('depth_dominant', 'rgb_dominant', 'both')
GROUP_TITLES = {'depth_dominant': r'$\gamma_{rgb}\approx 0,\ \gamma_{depth}>0$',
                'rgb_dominant': r'$\gamma_{rgb}>0,\ \gamma_{depth}\approx 0$',
                'both': r'$\gamma_{rgb}>0,\ \gamma_{depth}>0$'}
#: Channels with both γ's under θ: exchanged both ways, counted but not a panel.
NEITHER = 'neither'
EDGES = ('depth', 'normal', 'geometry', 'albedo', 'geometry_only', 'albedo_only')
RESPONSES = ('gradient', 'map')
PRIMARY_RESPONSE = 'gradient'
#: Depth edge: ``|Δ²(1/z)| > DEPTH_EDGE_REL · (1/z)`` (the depth sensor model's criterion).
DEPTH_EDGE_REL = 0.04
#: Normal edge: the normals of 4-neighbours differ by more than this angle (degrees; our
#: choice: box creases are 90°, a 64-pixel-wide sphere or cylinder turns by well under 30° per
#: pixel).
NORMAL_EDGE_DEG = 30.0
#: Albedo edge: the sRGB albedos of 4-neighbours differ by more than this Euclidean distance
#: (albedo in [0, 1] per channel; our choice: about 25 of 255 levels, above the faint variation
#: of plain paint, below the step to a decal or another material).
ALBEDO_EDGE = 0.1
#: The two contrasts the verdict reads, and the sign the paper's claim predicts for each.
CLAIM_CONTRASTS = {'geometry_only': +1, 'albedo_only': -1}
CONTRAST = 'depth_dominant − rgb_dominant'
SUPPORTED, CONTRADICTED, UNDECIDED = 'supported', 'contradicted', 'undecided'
#: The ``model`` column: the trained cell, the same network at its initial weights (the
#: control: same channel groups, no training with exchange), and the per-scene difference.
TRAINED, INITIAL, CHANGE = 'trained', 'initial', 'trained − initial'


# ----------------------------------------------------------------------------- channels
def select_points(model: nn.Module, stage: int | None = 1,
                  point: str | None = None) -> list[tuple[str, ChannelExchange, nn.Module]]:
    """The CEN exchange points analysed: ``[(name, CEN module, its norm)]`` in forward order.

    ``point`` (a name such as ``'layer1.1.bn2'``) picks one; otherwise every point of
    ``stage`` (1..4). Raises ``ValueError`` when the model has no CEN point, or none matches
    (the message lists the model's points).
    """
    layers = [(fusion.point.name, fusion, norm) for fusion, norm in exchange_layers(model)]
    if not layers:
        raise ValueError('Figure 3 needs a model with CEN exchange points (a cen row); this '
                         'model has none')
    if point is not None:
        chosen = [layer for layer in layers if layer[0] == point]
    else:
        chosen = [layer for layer in layers if layer[1].point.stage == stage]
    if not chosen:
        what = f'point {point!r}' if point is not None else f'stage {stage}'
        raise ValueError(f'no CEN exchange point at {what}; the model has '
                         f'{", ".join(name for name, _, _ in layers)}')
    return chosen


def channel_groups(gamma: Tensor | np.ndarray, threshold: float,
                   modalities: Sequence[str]) -> dict[str, np.ndarray]:
    """Split one exchange point's channels by their γ's.

    Args:
        gamma: the private norm's γ ``[M, C]`` (modalities in ``modalities`` order).
        threshold: θ; ``|γ| < θ`` is "≈ 0" (the channel CEN exchanges, Eq. 6).
        modalities: the model's modality names; must include ``'rgb'`` and ``'depth'``.

    Returns ``{group: bool [C]}`` for :data:`GROUPS` and :data:`NEITHER` (disjoint, covering
    every channel). Raises ``ValueError`` for a γ that is not ``[M, C]`` with ``M`` the number
    of modalities, or modalities without rgb and depth.
    """
    modalities = tuple(modalities)
    missing = [m for m in ('rgb', 'depth') if m not in modalities]
    if missing:
        raise ValueError(f'Figure 3 compares the rgb and depth streams; the model has '
                         f'modalities {modalities}')
    gamma = np.abs(gamma.detach().cpu().numpy() if isinstance(gamma, Tensor)
                   else np.asarray(gamma, dtype=float))
    if gamma.ndim != 2 or gamma.shape[0] != len(modalities):
        raise ValueError(f'γ must be [M, C] with M = {len(modalities)} modalities, got shape '
                         f'{tuple(gamma.shape)}')
    rgb = gamma[modalities.index('rgb')] >= threshold
    depth = gamma[modalities.index('depth')] >= threshold
    return {'depth_dominant': ~rgb & depth, 'rgb_dominant': rgb & ~depth, 'both': rgb & depth,
            NEITHER: ~rgb & ~depth}


# ----------------------------------------------------------------------------- features
@torch.no_grad()
def capture_features(model: nn.Module, inputs: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
    """Run the encoder on ``inputs`` ``[M*N, C_in, H, W]`` and keep the output of the CEN modules
    named ``names``: ``{name: [M, N, C, h, w]}`` (float32, CPU, contiguous).

    The model is put in eval mode for the pass (running BN statistics, as at test time) and
    left in the mode it was in. Forward hooks; nothing of the model is changed.
    """
    wanted = set(names)
    modules = {f.point.name: f for f, _ in exchange_layers(model) if f.point.name in wanted}
    missing = sorted(wanted - set(modules))
    if missing:
        raise ValueError(f'the model has no CEN exchange point {missing}')
    encoder = getattr(getattr(model, 'module', model), 'backbone')
    m = encoder.num_modalities
    captured: dict[str, Tensor] = {}

    def keep(name):
        def hook(module, args, output):
            x = output[0] if isinstance(output, tuple) else output
            captured[name] = split_modalities(x.detach().float().cpu().contiguous(), m)
        return hook

    handles = [module.register_forward_hook(keep(name)) for name, module in modules.items()]
    was_training = model.training
    model.eval()
    try:
        encoder(inputs)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: captured[name].contiguous() for name in names}


def group_maps(features: Mapping[str, Tensor], groups: Mapping[str, Mapping[str, np.ndarray]],
               modalities: Sequence[str]) -> dict[str, np.ndarray]:
    """Each group's averaged feature map over every analysed point.

    Args:
        features: ``{point: [M, N, C, h, w]}`` (:func:`capture_features`); every point the same
            ``N, h, w``.
        groups: ``{point: {group: bool [C]}}`` (:func:`channel_groups`).
        modalities: the stream order of ``features``.

    Returns ``{group: float64 [N, h, w]}`` for :data:`GROUPS`: the mean over the group's
    (point, channel) pairs of the depth stream (``depth_dominant``), the RGB stream
    (``rgb_dominant``) or the mean of both streams (``both``); all-NaN for an empty group.
    """
    modalities = tuple(modalities)
    rgb, depth = modalities.index('rgb'), modalities.index('depth')
    shapes = {tuple(f.shape[1:2]) + tuple(f.shape[3:]) for f in features.values()}
    if len(shapes) != 1:
        raise ValueError(f'the points analysed together must share N, h, w; got {sorted(shapes)}')
    n, h, w = shapes.pop()
    out = {}
    for group in GROUPS:
        total, count = np.zeros((n, h, w)), 0
        for name, y in features.items():
            mask = torch.as_tensor(np.asarray(groups[name][group], dtype=bool))
            if not bool(mask.any()):
                continue
            streams = {'depth_dominant': y[depth], 'rgb_dominant': y[rgb],
                       'both': (y[rgb] + y[depth]) / 2}[group]      # [N, C, h, w]
            total += streams[:, mask].double().sum(1).numpy()
            count += int(mask.sum())
        out[group] = total / count if count else np.full((n, h, w), np.nan)
    return out


# ----------------------------------------------------------------------------- edges
def depth_edges(depth: np.ndarray, rel: float = DEPTH_EDGE_REL) -> np.ndarray:
    """bool ``[H, W]``: ``max(|Δ²_x d|, |Δ²_y d|) > rel · d`` with ``d = 1/z`` (padded by
    linear extrapolation).

    ``depth``: clean camera-frame z ``[H, W]`` in metres (> 0). Raises ``ValueError`` for a
    non-positive depth (a sensor hole: use the clean depth).
    """
    z = np.asarray(depth, dtype=float)
    if z.ndim != 2 or not (z > 0).all():
        raise ValueError('depth_edges needs a clean, positive [H, W] depth (no holes)')
    d = 1.0 / z
    p = np.pad(d, 1, mode='reflect', reflect_type='odd')  # linear extrapolation: a plane
    # reaching the border keeps a zero second difference there (edge padding would not)
    lap = np.maximum(np.abs(p[1:-1, :-2] + p[1:-1, 2:] - 2 * d),
                     np.abs(p[:-2, 1:-1] + p[2:, 1:-1] - 2 * d))
    return lap > rel * d


def _neighbour_edges(step_x: np.ndarray, step_y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """bool ``[H, W]``: a pixel is an edge when its step to a right/left (``step_x`` ``[H, W-1]``)
    or lower/upper (``step_y`` ``[H-1, W]``) neighbour is one."""
    out = np.zeros(shape, dtype=bool)
    out[:, :-1] |= step_x
    out[:, 1:] |= step_x
    out[:-1] |= step_y
    out[1:] |= step_y
    return out


def normal_edges(normal: np.ndarray, degrees: float = NORMAL_EDGE_DEG) -> np.ndarray:
    """bool ``[H, W]``: the unit normals ``[H, W, 3]`` of 4-neighbours differ by more than
    ``degrees``."""
    n = np.asarray(normal, dtype=float)
    if n.ndim != 3 or n.shape[-1] != 3:
        raise ValueError(f'normal_edges needs normals [H, W, 3], got {n.shape}')
    cos = math.cos(math.radians(degrees))
    return _neighbour_edges((n[:, 1:] * n[:, :-1]).sum(-1) < cos,
                            (n[1:] * n[:-1]).sum(-1) < cos, n.shape[:2])


def albedo_edges(albedo: np.ndarray, distance: float = ALBEDO_EDGE) -> np.ndarray:
    """bool ``[H, W]``: the sRGB albedos (uint8 ``[H, W, 3]``) of 4-neighbours differ by more
    than ``distance`` (Euclidean, albedo scaled to [0, 1])."""
    a = np.asarray(albedo, dtype=float) / 255.0
    if a.ndim != 3 or a.shape[-1] != 3:
        raise ValueError(f'albedo_edges needs an albedo [H, W, 3], got {a.shape}')
    return _neighbour_edges(np.linalg.norm(a[:, 1:] - a[:, :-1], axis=-1) > distance,
                            np.linalg.norm(a[1:] - a[:-1], axis=-1) > distance, a.shape[:2])


def edge_maps(depth_clean: np.ndarray, normal: np.ndarray,
              albedo: np.ndarray) -> dict[str, np.ndarray]:
    """``{edge: bool [H, W]}`` for :data:`EDGES` from one scene's ground truth."""
    depth, norm, alb = depth_edges(depth_clean), normal_edges(normal), albedo_edges(albedo)
    geometry = depth | norm
    return {'depth': depth, 'normal': norm, 'geometry': geometry, 'albedo': alb,
            'geometry_only': geometry & ~alb, 'albedo_only': alb & ~geometry}


def pool_edges(edges: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Edge density per cell: ``[..., H, W]`` bool -> float ``[..., h, w]`` (area average,
    ``torch.nn.functional.adaptive_avg_pool2d``)."""
    x = torch.as_tensor(np.asarray(edges, dtype=np.float64))
    lead = x.shape[:-2]
    pooled = F.adaptive_avg_pool2d(x.reshape(-1, 1, *x.shape[-2:]), size)
    return pooled.reshape(*lead, *size).numpy()


# ----------------------------------------------------------------------------- correlation
def responses(group_map: np.ndarray) -> dict[str, np.ndarray]:
    """``{'gradient': |∇ map|, 'map': map}`` of one ``[h, w]`` map (central differences,
    ``numpy.gradient``; one-sided at the border)."""
    m = np.asarray(group_map, dtype=float)
    if np.isnan(m).any() or min(m.shape) < 2:
        return {'gradient': np.full(m.shape, np.nan), 'map': m}
    gy, gx = np.gradient(m)
    return {'gradient': np.hypot(gx, gy), 'map': m}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ of two equally shaped maps; NaN when either is constant or has a NaN."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f'spearman: maps of different sizes {a.shape} and {b.shape}')
    if np.isnan(a).any() or np.isnan(b).any() or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return float(stats.spearmanr(a, b).statistic)


def scene_correlations(maps: Mapping[str, np.ndarray],
                       edges: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Per scene, ρ of every group's response with every edge density.

    Args:
        maps: ``{group: [N, h, w]}`` (:func:`group_maps`).
        edges: ``{edge: [N, h, w]}`` edge densities at the maps' resolution (:func:`pool_edges`).

    Returns a long table: ``scene, group, edge, response, rho`` (``scene``: 0..N-1).
    """
    rows = []
    for group, values in maps.items():
        for scene in range(len(values)):
            for response, r in responses(values[scene]).items():
                for edge, density in edges.items():
                    if density[scene].shape != r.shape:
                        raise ValueError(f'edge density {edge} is {density[scene].shape}, the '
                                         f'maps are {r.shape}; pool the edges to the maps')
                    rows.append((scene, group, edge, response, spearman(r, density[scene])))
    return pd.DataFrame(rows, columns=['scene', 'group', 'edge', 'response', 'rho'])


def contrasts(per_scene: pd.DataFrame) -> pd.DataFrame:
    """Per scene, ``ρ(depth_dominant) − ρ(rgb_dominant)`` on each (edge, response):
    ``scene, edge, response, difference`` (NaN where either ρ is)."""
    wide = per_scene.pivot_table(index=['scene', 'edge', 'response'], columns='group',
                                 values='rho', dropna=False, aggfunc='first')
    diff = (wide.get('depth_dominant', np.nan) - wide.get('rgb_dominant', np.nan))
    return diff.rename('difference').reset_index()


def summarise(per_scene: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The summary table, per ``model`` (:data:`TRAINED` when ``per_scene`` has no ``model``
    column): one row per (group, edge, response) -- mean ρ over scenes -- and one per (edge,
    response) contrast (``group`` = :data:`CONTRAST`), each with ``n_scenes``, ``mean``,
    ``std`` and the Student-t interval over scenes (``ci95_t_low``, ``ci95_t_high`` at 95 %;
    :func:`fusionbench.analysis.stats.summarize`). With both a trained and an initial model,
    also the contrasts' per-scene change (``model`` = :data:`CHANGE`: trained − initial, paired
    by scene)."""
    if 'model' not in per_scene:
        per_scene = per_scene.assign(model=TRAINED)
    rows, differences = [], {}
    for model, scenes in per_scene.groupby('model', sort=False):
        for (group, edge, response), part in scenes.groupby(['group', 'edge', 'response'],
                                                            sort=False):
            rows.append(_summary_row(model, 'correlation', group, edge, response, part['rho'],
                                     confidence))
        differences[model] = contrasts(scenes).set_index(['scene', 'edge', 'response'])[
            'difference']
    if TRAINED in differences and INITIAL in differences:
        differences[CHANGE] = differences[TRAINED] - differences[INITIAL]
    for model, difference in differences.items():
        for (edge, response), part in difference.rename('difference').reset_index().groupby(
                ['edge', 'response'], sort=False):
            rows.append(_summary_row(model, 'contrast', CONTRAST, edge, response,
                                     part['difference'], confidence))
    order = {name: i for i, name in enumerate((TRAINED, INITIAL, CHANGE, *GROUPS, CONTRAST,
                                               *EDGES, *RESPONSES))}
    table = pd.DataFrame(rows)
    return table.sort_values(['model', 'group', 'response', 'edge'],
                             key=lambda c: c.map(order), kind='stable').reset_index(drop=True)


def _summary_row(model: str, kind: str, group: str, edge: str, response: str,
                 values: pd.Series, confidence: float) -> dict:
    finite = values.dropna().to_numpy(dtype=float)
    summary = summarize(finite, confidence) if finite.size else {
        'mean': math.nan, 'std': math.nan, CI_LOW: math.nan, CI_HIGH: math.nan}
    low, high = (k for k in summary if k not in ('mean', 'std'))
    return {'model': model, 'kind': kind, 'group': group, 'edge': edge, 'response': response,
            'n_scenes': int(finite.size), 'mean': summary['mean'], 'std': summary['std'],
            CI_LOW: summary[low], CI_HIGH: summary[high]}


def verdict(summary: pd.DataFrame, response: str = PRIMARY_RESPONSE,
            model: str = TRAINED) -> dict:
    """The paper's claim against the contrasts of ``response`` of ``model``: ``{'verdict',
    'model', 'response', 'reason', 'parts': {edge: {'expected', 'mean', 'low', 'high',
    'holds'}}}``. With ``model`` = :data:`CHANGE` it asks whether training with exchange moved
    the contrasts the claimed way beyond what the input streams give at the initial weights.

    ``holds`` per part: True when the interval lies on the predicted side of 0 (above on
    ``geometry_only``: depth-dominant channels follow geometric edges more; below on
    ``albedo_only``: RGB-dominant channels follow albedo edges more), False when it lies on the
    other side, None when it contains 0 or cannot be formed. The verdict is ``supported`` when
    every part holds, ``contradicted`` when any part is False, else ``undecided``.
    """
    parts = {}
    for edge, sign in CLAIM_CONTRASTS.items():
        row = summary[(summary['kind'] == 'contrast') & (summary['edge'] == edge)
                      & (summary['response'] == response) & (summary['model'] == model)]
        mean, low, high = ((float(row.iloc[0][k]) for k in ('mean', CI_LOW, CI_HIGH))
                           if len(row) else (math.nan,) * 3)
        holds = None
        if not (math.isnan(low) or math.isnan(high)):
            if sign * low > 0 and sign * high > 0:
                holds = True
            elif sign * low < 0 and sign * high < 0:
                holds = False
        parts[edge] = {'expected': '> 0' if sign > 0 else '< 0', 'mean': mean, 'low': low,
                       'high': high, 'holds': holds}
    states = [p['holds'] for p in parts.values()]
    if any(s is False for s in states):
        result = CONTRADICTED
    elif all(s is True for s in states):
        result = SUPPORTED
    else:
        result = UNDECIDED
    reason = '; '.join(
        f"{edge} edges: {CONTRAST} = {_num(p['mean'])} [{_num(p['low'])}, {_num(p['high'])}] "
        f"(claim: {p['expected']})" for edge, p in parts.items())
    return {'verdict': result, 'model': model, 'response': response, 'reason': reason,
            'parts': parts}


def _num(value: float) -> str:
    return '—' if value != value else f'{value:+.3f}'


# ----------------------------------------------------------------------------- end to end
@dataclass(frozen=True)
class SceneTruth:
    """One scene's inputs as shown and its ground truth: ``rgb`` uint8 ``[H, W, 3]``, ``depth``
    float32 ``[H, W]`` (the sensor's, metres, 0 = hole), ``depth_clean`` float32 ``[H, W]``
    (camera-frame z, metres), ``normal`` float32 ``[H, W, 3]``, ``albedo`` uint8 ``[H, W, 3]``."""
    rgb: np.ndarray
    depth: np.ndarray
    depth_clean: np.ndarray
    normal: np.ndarray
    albedo: np.ndarray


def scene_truth(dataset, index: int) -> SceneTruth:
    """Scene ``index`` of a :class:`~fusionbench.data.synthetic.SyntheticScenes` split: the
    cached arrays plus the clean depth, re-rendered from the scene's seed (deterministic; the
    cache keeps only the sensor's noisy depth with holes)."""
    from fusionbench.data.scenes import render_layout, sample_scene, scene_seed

    arrays = dataset.arrays
    height, width = dataset.size
    clean = render_layout(sample_scene(scene_seed(dataset.seed, index)), height, width)
    return SceneTruth(rgb=arrays['rgb'][index], depth=np.asarray(arrays['depth'][index]).squeeze(),
                      depth_clean=clean['depth_clean'], normal=arrays['normal'][index],
                      albedo=arrays['albedo'][index])


@dataclass(frozen=True)
class Figure3Result:
    """What :func:`analyse` measured (everything the figure, the CSVs and the report need).

    ``maps``: ``{group: [S, h, w]}`` of the trained model; ``edges``: ``{edge: bool [S, H, W]}``
    at full resolution; ``group_sizes``: ``{group: (point, channel) pairs}`` (:data:`NEITHER`
    included); ``per_scene``: :func:`scene_correlations` with a ``model`` column (trained, and
    initial when a reference was given); ``summary``: :func:`summarise`; ``verdict``: the claim
    on the trained model; ``beyond_inputs``: the claim on the change from the initial weights
    (empty without a reference).
    """
    points: tuple[str, ...]
    thresholds: dict[str, float]
    group_sizes: dict[str, int]
    scene_ids: tuple[str, ...]
    truth: tuple[SceneTruth, ...]
    maps: dict[str, np.ndarray]
    edges: dict[str, np.ndarray]
    per_scene: pd.DataFrame
    summary: pd.DataFrame
    verdict: dict = field(default_factory=dict)
    beyond_inputs: dict = field(default_factory=dict)


def dataset_maps(model: nn.Module, dataset, scenes: int, groups: Mapping[str, Mapping],
                 batch_size: int = 16) -> dict[str, np.ndarray]:
    """:func:`group_maps` of ``model`` over the first ``scenes`` scenes of ``dataset`` (inputs
    from its pipeline and the model's data preprocessor, as at test time), in batches:
    ``{group: [S, h, w]}``. ``groups``: ``{point: {group: bool [C]}}``."""
    from mmengine.dataset import pseudo_collate

    net = getattr(model, 'module', model)
    names = list(groups)
    parts: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    for start in range(0, scenes, batch_size):
        batch = pseudo_collate([dataset[i] for i in range(start, min(start + batch_size,
                                                                     scenes))])
        inputs = net.data_preprocessor(batch, training=False)['inputs']
        maps = group_maps(capture_features(model, inputs, names), groups, net.modalities)
        for group in GROUPS:
            parts[group].append(maps[group])
    return {group: np.concatenate(parts[group]) for group in GROUPS}


def analyse(model: nn.Module, dataset, scenes: int, stage: int | None = 1,
            point: str | None = None, reference: nn.Module | None = None,
            batch_size: int = 16, confidence: float = 0.95) -> Figure3Result:
    """Figure 3's maps and numbers for a trained CEN ``model`` on the first ``scenes`` scenes of
    a :class:`~fusionbench.data.synthetic.SyntheticScenes` ``dataset``.

    ``reference``: the same network at its initial weights (:func:`initial_model`), or None.
    Its features are grouped by the *trained* model's γ's, so its contrasts say what the input
    streams alone give those channels (each stream sees its own modality from the first
    iteration); the change trained − initial is what training with exchange added.

    Raises ``ValueError`` for ``scenes`` outside ``1..len(dataset)``, a model without CEN points
    at ``stage`` / ``point`` (or a reference without them), or modalities without rgb and
    depth.
    """
    if not 1 <= scenes <= len(dataset):
        raise ValueError(f'--scenes must lie in 1..{len(dataset)} (the test split has '
                         f'{len(dataset)} scenes), got {scenes}')
    points = select_points(model, stage, point)
    modalities = tuple(getattr(model, 'module', model).modalities)
    groups = {name: channel_groups(norm.weight, fusion.threshold, modalities)
              for name, fusion, norm in points}
    names = [name for name, _, _ in points]
    truth = tuple(scene_truth(dataset, i) for i in range(scenes))
    edges = {edge: np.stack([edge_maps(t.depth_clean, t.normal, t.albedo)[edge] for t in truth])
             for edge in EDGES}
    maps = dataset_maps(model, dataset, scenes, groups, batch_size)
    densities = {edge: pool_edges(value, maps[GROUPS[0]].shape[-2:])
                 for edge, value in edges.items()}
    per_scene = [scene_correlations(maps, densities).assign(model=TRAINED)]
    if reference is not None:
        initial = dataset_maps(reference, dataset, scenes, groups, batch_size)
        per_scene.append(scene_correlations(initial, densities).assign(model=INITIAL))
    per_scene = pd.concat(per_scene, ignore_index=True)
    summary = summarise(per_scene, confidence)
    sizes = {g: int(sum(int(np.sum(groups[n][g])) for n in names)) for g in (*GROUPS, NEITHER)}
    ids = tuple(str(dataset.get_data_info(i).get('sample_id', i)) for i in range(scenes))
    return Figure3Result(
        points=tuple(names),
        thresholds={name: float(fusion.threshold) for name, fusion, _ in points},
        group_sizes=sizes, scene_ids=ids, truth=truth, maps=maps, edges=edges,
        per_scene=per_scene, summary=summary, verdict=verdict(summary),
        beyond_inputs=verdict(summary, model=CHANGE) if reference is not None else {})


def initial_model(cfg) -> nn.Module:
    """The cell's network at its initial weights: built from its resolved config and
    initialised as the run initialises it (its seed, :mod:`fusionbench.models.init`; the
    pretrained encoder when the protocol pretrains), in eval mode, on CPU. The global RNG is
    left as it was; mmengine's initialisation summary is not logged."""
    import logging

    from mmengine.logging import MMLogger

    from fusionbench import compat, registry

    compat.drop_closed_log_files()  # init_weights() outside a Runner logs to the current logger
    logger = MMLogger.get_current_instance()  # where init_weights' summary goes
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(int((cfg.get('randomness') or {}).get('seed', 0)))
            model = registry.build(registry.MODELS, cfg.model.to_dict()
                                   if hasattr(cfg.model, 'to_dict') else dict(cfg.model))
            model.init_weights()
    finally:
        logger.setLevel(level)
    return model.eval()


def test_dataset(cfg):
    """The split Figure 3 is measured on: the config's test split (its validation split when it
    has none), built from fusionbench's registry with its pipeline.

    Raises ``ValueError`` when that split is not the procedural scenes (only they carry the
    per-pixel depth, normals and albedo the edge maps need).
    """
    from fusionbench import registry

    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    spec = dict(loader['dataset']) if loader else {}
    if spec.get('type') != 'SyntheticScenes':
        raise ValueError(f"Figure 3's edge maps need the procedural scenes' ground truth "
                         f"(SyntheticScenes); this config's test split is "
                         f"{spec.get('type')!r}: use a synthetic protocol (smoke, mini)")
    return registry.build(registry.DATASETS, spec)
