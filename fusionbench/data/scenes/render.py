"""Rendering: clean geometry, albedo and Lambertian shading with cast shadows, then the sensor
models (:mod:`.sensors`)."""
from __future__ import annotations

import math

import numpy as np

from fusionbench.data.scenes.constants import HFOV_DEG, KEYS, PROJECTOR_BASELINE, _NOISE_STREAM
from fusionbench.data.scenes.domains import edge_texture, reshading
from fusionbench.data.scenes.geometry import Scene, _SHELL_NORMALS
from fusionbench.data.scenes.layout import sample_scene
from fusionbench.data.scenes.raycast import (
    _cast_nearest, _occluded, _part_normal_uv, _shell_albedo_label)
from fusionbench.data.scenes.sensors import depth_sensor, rgb_camera

def render_layout(scene: Scene, height: int = 64, width: int = 64, *, objects: bool = True,
                  decals: bool = True) -> dict[str, np.ndarray]:
    """Render a :class:`Scene` at ``height x width``.

    ``objects=False`` / ``decals=False`` drop all 3-D objects / all flat decals (used to check
    that colour-only classes are invisible to geometry and the pillar to albedo); the sensor
    noise streams are the scene's either way.

    Returns the :func:`render_scene` keys plus ``depth_clean`` (float32 [H, W], noise- and
    hole-free camera-frame z in metres) and ``projector_visible`` (bool [H, W]).
    """
    h, w = int(height), int(width)
    if h < 2 or w < 2:
        raise ValueError(f'render: need height, width >= 2, got {h}x{w}')
    with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
        return _render(scene, h, w, objects, decals)


def _render(scene, h, w, objects, decals):
    if not objects:
        scene = Scene(**{**scene.__dict__, 'objects': []})
    if not decals:
        scene = Scene(**{**scene.__dict__, 'wall_decals': [], 'rugs': []})
    noise_rng = np.random.default_rng([scene.seed, _NOISE_STREAM])
    n_px = h * w
    f = (w / 2) / math.tan(math.radians(HFOV_DEG) / 2)
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    dc = np.stack([((jj - w / 2) / f).ravel(), ((ii - h / 2) / f).ravel(), np.ones(n_px)], axis=1)
    rot = scene.cam_rot
    d = dc @ rot.T
    o = scene.cam_pos

    t, t_shell, sid, who = _cast_nearest(scene, o, d)
    p = o + t[:, None] * d
    normal = np.zeros((n_px, 3))
    albedo = np.zeros((n_px, 3))
    label = np.zeros(n_px, np.uint8)

    parts = [pt for ob in scene.objects for pt in ob.parts]
    camo = np.zeros(n_px, bool)
    for k, part in enumerate(parts):
        m = who == k
        if not m.any():
            continue
        nk, u, v, face = _part_normal_uv(part, p[m])
        normal[m] = nk
        label[m] = part.label
        if part.camo:
            camo |= m
            continue
        col = part.tex(u, v)
        if part.overlay is not None:
            col = part.overlay(face[0], face[1], face[2], col)
        albedo[m] = col
    shell_vis = who < 0
    need = shell_vis | camo
    ps = o + t_shell[need, None] * d[need]
    alb_s, lab_s = _shell_albedo_label(scene, ps, sid[need])
    albedo[need] = alb_s                           # camouflage: albedo of the shell behind
    label[shell_vis] = lab_s[shell_vis[need]]
    normal[shell_vis] = _SHELL_NORMALS[sid[shell_vis]]

    # direct lighting with cast shadows + projector visibility, one batch of shadow rays
    origins = p + 1e-4 * normal
    n_l = len(scene.lights)
    proj = o + rot[:, 0] * PROJECTOR_BASELINE
    targets = np.concatenate([scene.lights, proj[None]], axis=0)
    to = targets[:, None, :] - origins[None]                  # [L+1, n, 3]
    dist2 = np.einsum('lij,lij->li', to, to)
    cos = np.einsum('lij,ij->li', to, normal) / np.sqrt(dist2)
    vis = cos > 0
    for k in range(n_l + 1):
        idx = np.flatnonzero(vis[k])
        vis[k, idx[_occluded(scene, origins[idx], targets[k])]] = False
    direct = (scene.power[:, None] * np.where(vis[:n_l], cos[:n_l], 0.0) /
              (dist2[:n_l] + 0.75)).sum(axis=0)
    shading = np.clip(scene.ambient + direct, 0.0, 1.5)
    projector_visible = vis[n_l]

    # sensors, in this order: the noise stream is shared (RGB draws first)
    alb8, rgb = rgb_camera(albedo, shading, dc, h, w, f, scene.sensor, noise_rng)
    depth = depth_sensor(t, d, normal, projector_visible, h, w, scene.sensor, noise_rng)
    z = t.reshape(h, w)
    # derived Taskonomy-style domains: no random draws, so every output above is unchanged
    reshade = reshading(normal, d).reshape(h, w)
    edges = edge_texture(alb8, shading, h, w)

    return {
        'rgb': rgb,
        'depth': depth,
        'normal': (normal @ rot).reshape(h, w, 3).astype(np.float32),
        'albedo': alb8.reshape(h, w, 3),
        'shading': shading.reshape(h, w).astype(np.float32),
        'label': label.reshape(h, w),
        'reshading': reshade,
        'edge_texture': edges,
        'depth_clean': z.astype(np.float32),
        'projector_visible': projector_visible.reshape(h, w),
    }


def render_scene(seed: int, height: int = 64, width: int = 64) -> dict[str, np.ndarray]:
    """Render scene ``seed`` (deterministic) at ``height x width``.

    Returns ``{'rgb': uint8 [H, W, 3], 'depth': float32 [H, W] (metres, 0 = hole),
    'normal': float32 [H, W, 3] (unit, camera frame x right / y down / z forward, clean),
    'albedo': uint8 [H, W, 3] (clean sRGB texture), 'shading': float32 [H, W] (Lambertian incl.
    shadows, clean, in [0, 1.5]), 'label': uint8 [H, W] (class index or 255),
    'reshading': float32 [H, W] (Lambertian from a light at the camera, in [0, 1]),
    'edge_texture': float32 [H, W] (2-D edges of the clean render, in [0, 1])}``
    (the last two: :mod:`.domains`).
    """
    out = render_layout(sample_scene(seed), height, width)
    return {k: out[k] for k in KEYS}
