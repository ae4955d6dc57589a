"""Flat decals: the colour-only objects (picture, whiteboard, door on walls; rug on the floor)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from fusionbench.data.scenes.constants import _LAT
from fusionbench.data.scenes.materials import (
    _FABRICS, _PAINTS, _Tex, _WOODS, _fbm, _hsv_colour, _jitter, _mix, _pick, _tex_wood,
    _value_noise)

def _frame_dist(u, v, w, h):
    """Metric distance to the nearest rectangle edge for (u, v) in [0, w] x [0, h]."""
    return np.minimum(np.minimum(u, w - u), np.minimum(v, h - v))


@dataclass
class _WallDecal:
    label: int
    wall: int
    s0: float
    s1: float
    y0: float
    y1: float
    paint: Callable            # (u [n], v [n] metric, from bottom-left) -> colour [n, 3]


@dataclass
class _Rug:
    cx: float
    cz: float
    c: float
    s: float
    hw: float
    hd: float
    ellipse: bool
    paint: Callable            # (a [n], b [n] local metres, centred) -> colour [n, 3]


def _picture_painter(rng, w, h):
    fw = rng.uniform(0.02, 0.06)
    fcol = _jitter(rng, [_pick(rng, _WOODS), (0.05, 0.05, 0.05), (0.93, 0.93, 0.9),
                         (0.72, 0.58, 0.3)][int(rng.integers(4))])
    mat = rng.uniform(0.0, 0.08) if rng.random() < 0.4 else 0.0
    cols = [_hsv_colour(rng) for _ in range(4)]
    lat = rng.random((_LAT, _LAT))
    lat2 = rng.random((_LAT, _LAT))
    sc = rng.uniform(0.08, 0.3)
    grad = rng.random() < 0.5

    def paint(u, v):
        g = v / h if grad else _fbm(lat, u / sc, v / sc)
        col = _mix(cols[0], cols[1], g)
        blob = _fbm(lat2, u / sc + 3.0, v / sc + 1.0)
        m = blob > 0.6
        col[m] = _mix(cols[2], cols[3], np.clip((blob[m] - 0.6) * 4, 0, 1))
        dist = _frame_dist(u, v, w, h)
        col[dist < fw + mat] = (0.95, 0.95, 0.93)
        col[dist < fw] = fcol
        return col
    return paint


def _whiteboard_painter(rng, w, h):
    white = np.full(3, rng.uniform(0.88, 0.97)) * (1 + rng.uniform(-0.02, 0.02, 3))
    frame = np.full(3, rng.uniform(0.55, 0.8))
    fw = rng.uniform(0.015, 0.03)
    strokes = []
    for _ in range(int(rng.integers(0, 6))):
        col = [(0.05, 0.05, 0.08), (0.1, 0.2, 0.7), (0.7, 0.1, 0.1), (0.1, 0.5, 0.2)][
            int(rng.integers(4))]
        strokes.append((np.array(col), rng.uniform(0.1, 0.9) * h, rng.uniform(0.01, 0.08),
                        rng.uniform(5, 40), rng.uniform(0, 6.3), rng.uniform(0.1, 0.5) * w,
                        rng.uniform(0.5, 0.95) * w, rng.uniform(0.004, 0.01)))

    def paint(u, v):
        col = np.broadcast_to(white, u.shape + (3,)).copy()
        for c, y, a, k, ph, ua, ub, lw in strokes:
            m = (np.abs(v - (y + a * np.sin(k * u + ph))) < lw) & (u > ua) & (u < ub)
            col[m] = c
        col[_frame_dist(u, v, w, h) < fw] = frame
        return col
    return paint


def _door_painter(rng, w, h, wall_colour):
    if rng.random() < 0.5:
        tex = _tex_wood(rng)
    else:
        for _ in range(20):
            c = _jitter(rng, _pick(rng, _PAINTS), 0.03)
            if np.abs(c - wall_colour).mean() > 0.1:
                break
        tex = _Tex(rng, 'plain', c, amp=0.03)
    trim = _jitter(rng, (0.93, 0.92, 0.9), 0.02) if rng.random() < 0.6 else tex.c1 * 0.7
    tw = rng.uniform(0.05, 0.09)
    handle = _jitter(rng, [(0.72, 0.58, 0.3), (0.1, 0.1, 0.1), (0.7, 0.7, 0.72)][
        int(rng.integers(3))], 0.02)
    hx = tw + 0.07 if rng.random() < 0.5 else w - tw - 0.07
    n_panels = int(rng.integers(0, 3))

    def paint(u, v):
        col = tex(v, u)  # grain vertical
        if n_panels:
            inner_w = w - 2 * tw
            pu = (u - tw) / inner_w
            ph = (h - tw) / n_panels
            k = np.floor(v / ph)
            pv = v - k * ph
            edge = (np.abs(pu - 0.15) < 0.01) | (np.abs(pu - 0.85) < 0.01)
            edge = (edge & (pv > 0.12) & (pv < ph - 0.12)) | (
                ((np.abs(pv - 0.12) < 0.008) | (np.abs(pv - (ph - 0.12)) < 0.008))
                & (pu > 0.15) & (pu < 0.85))
            col[edge] *= 0.75
        col[((u - hx) ** 2 + (v - 1.0) ** 2) < 0.03 ** 2] = handle
        d = np.minimum(np.minimum(u, w - u), h - v)
        col[d < tw] = trim
        return col
    return paint


def _rug_painter(rng, hw, hd, ellipse):
    c_border = _jitter(rng, _pick(rng, _FABRICS))
    c_a = _jitter(rng, _pick(rng, _FABRICS)) if rng.random() < 0.6 else _hsv_colour(rng)
    c_b = _jitter(rng, _pick(rng, _FABRICS)) if rng.random() < 0.6 else _hsv_colour(rng)
    bw = rng.uniform(0.08, 0.15)
    pattern = int(rng.integers(4))
    lat = rng.random((_LAT, _LAT))
    per = rng.uniform(0.1, 0.4)

    def paint(a, b):
        fine = _value_noise(lat, a / 0.01, b / 0.01)
        if pattern == 0:
            w = (np.mod(a / per, 1.0) < 0.5).astype(float)
        elif pattern == 1:
            w = ((np.floor(a / per) + np.floor(b / per)) % 2).astype(float)
        elif pattern == 2:
            w = _fbm(lat, a / per + 5, b / per + 5)
        else:
            w = (np.mod(np.hypot(a / hw, b / hd) * 4.0, 1.0) < 0.5).astype(float)
        col = _mix(c_a, c_b, w) * (0.9 + 0.2 * fine)[:, None]
        if ellipse:
            border = np.hypot(a / hw, b / hd) > 1.0 - bw / min(hw, hd)
        else:
            border = np.minimum(hw - np.abs(a), hd - np.abs(b)) < bw
        col[border] = c_border * (0.9 + 0.2 * fine[border])[:, None]
        return col
    return paint
