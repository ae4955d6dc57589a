"""Furniture: tables, cabinets, chairs, sofas, lamps, balls, the camouflaged pillar and clutter,
built from primitives in an object-local frame."""
from __future__ import annotations

import math

import numpy as np

from fusionbench.data.scenes.constants import (
    BALL, CABINET, CHAIR, IGNORE_INDEX, LAMP, PILLAR, SOFA, TABLE)
from fusionbench.data.scenes.materials import (
    _FABRICS, _PLASTICS, _Tex, _jitter, _pick, _tex_any_furniture, _tex_fabric, _tex_paint,
    _tex_plastic, _tex_wood)
from fusionbench.data.scenes.geometry import _Builder

def _cabinet_overlay(rng, w, h, handle_tex):
    """Door/drawer seams and handles painted on the front (+z local) face."""
    n_cols = int(rng.integers(1, 4)) if w > 0.7 else int(rng.integers(1, 3))
    n_drawers = int(rng.integers(0, 3)) if h > 0.5 else 0
    drawer_h = rng.uniform(0.15, 0.25)
    hcol = handle_tex.c1

    def overlay(axis, sign, lp, col):
        m = (axis == 2) & (sign > 0)
        if not m.any():
            return col
        u = lp[m, 0] + w / 2          # 0..w
        v = lp[m, 1] + h / 2          # 0..h
        seam = np.zeros(u.shape, bool)
        top_doors = h - n_drawers * drawer_h
        for k in range(1, n_cols):
            seam |= np.abs(u - w * k / n_cols) < 0.006
        for k in range(1, n_drawers + 1):
            seam |= np.abs(v - (h - k * drawer_h)) < 0.006
        seam |= (u < 0.008) | (u > w - 0.008) | (v > h - 0.008) | (v < 0.008)
        handle = np.zeros(u.shape, bool)
        for k in range(n_drawers):   # centred drawer pulls
            yc = h - (k + 0.5) * drawer_h
            handle |= (np.abs(u - w / 2) < 0.06) & (np.abs(v - yc) < 0.012)
        for k in range(n_cols):      # door knobs near the upper-middle of each door
            xc = w * (k + 0.5) / n_cols + (0.3 if k % 2 == 0 else -0.3) * (w / n_cols)
            yc = min(top_doors * 0.75, 1.1)
            handle |= (np.abs(u - xc) < 0.012) & (np.abs(v - yc) < 0.05)
        c = col[m]
        c[seam] *= 0.5
        c[handle] = hcol
        col[m] = c
        return col
    return overlay


def _slab_on_legs(b, w, d, height, thickness, leg, inset, slab_tex, leg_tex, label):
    """A ``w`` × ``d`` slab (metres, local x × z) ``thickness`` thick with its top at ``height``,
    on four square legs of side ``leg`` set ``inset`` in from its corners: a table top, a seat."""
    b.box((0, height - thickness / 2, 0), (w / 2, thickness / 2, d / 2), slab_tex, label)
    for sx in (-1, 1):
        for sz in (-1, 1):
            b.box((sx * (w / 2 - leg / 2 - inset), (height - thickness) / 2,
                   sz * (d / 2 - leg / 2 - inset)),
                  (leg / 2, (height - thickness) / 2, leg / 2), leg_tex, label)


def _build_table(rng, x, z, yaw, dims):
    kind, w, d, h = dims
    b = _Builder(x, z, yaw)
    top = _tex_any_furniture(rng, 0.6, 0.3, 0.1)
    legs = top if rng.random() < 0.6 else _tex_plastic(rng)
    if kind == 'round':
        r = w / 2
        b.cyl(0, 0, h - 0.04, h, r, top, TABLE)
        b.cyl(0, 0, 0.03, h - 0.04, rng.uniform(0.035, 0.06), legs, TABLE)
        b.cyl(0, 0, 0.0, 0.03, min(0.3, r * 0.6), legs, TABLE)
        return b.parts
    tt = rng.uniform(0.025, 0.05)
    lw = rng.uniform(0.035, 0.07)
    inset = rng.uniform(0.0, 0.06)
    _slab_on_legs(b, w, d, h, tt, lw, inset, top, legs, TABLE)
    return b.parts


def _table_dims(rng):
    r = rng.random()
    if r < 0.25:
        w = rng.uniform(0.8, 1.2)
        return ('round', w, w, rng.uniform(0.70, 0.76))
    if r < 0.45:
        return ('coffee', rng.uniform(0.8, 1.3), rng.uniform(0.5, 0.7), rng.uniform(0.38, 0.5))
    return ('dining', rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.0), rng.uniform(0.70, 0.78))


def _build_chair(rng, x, z, yaw, dims):
    kind, w, d, sh = dims
    b = _Builder(x, z, yaw)
    r = rng.random()
    frame = _tex_any_furniture(rng, 0.45, 0.3, 0.25)
    seat = frame if r < 0.7 else _tex_fabric(rng)
    if kind == 'stool':
        rad = w / 2
        b.cyl(0, 0, sh - 0.05, sh, rad, seat, CHAIR)
        b.cyl(0, 0, 0.03, sh - 0.05, rng.uniform(0.02, 0.035), frame, CHAIR)
        b.cyl(0, 0, 0.0, 0.03, rad * rng.uniform(0.9, 1.2), frame, CHAIR)
        return b.parts
    st = rng.uniform(0.04, 0.07)
    lw = rng.uniform(0.03, 0.045)
    bh = rng.uniform(0.35, 0.5)
    bt = rng.uniform(0.03, 0.05)
    _slab_on_legs(b, w, d, sh, st, lw, 0.0, seat, frame, CHAIR)
    b.box((0, sh + bh / 2, -d / 2 + bt / 2), (w / 2, bh / 2, bt / 2), frame, CHAIR)
    return b.parts


def _chair_dims(rng):
    if rng.random() < 0.3:
        w = rng.uniform(0.3, 0.4)
        return ('stool', w, w, rng.uniform(0.45, 0.75))
    return ('chair', rng.uniform(0.4, 0.5), rng.uniform(0.4, 0.5), rng.uniform(0.42, 0.48))


def _build_sofa(rng, x, z, yaw, dims):
    w, d, _ = dims
    b = _Builder(x, z, yaw)
    tex = _tex_fabric(rng) if rng.random() < 0.85 else _Tex(
        rng, 'plain', _jitter(rng, _pick(rng, _FABRICS[[1, 7]])), amp=0.06)
    sh, bh = rng.uniform(0.38, 0.46), rng.uniform(0.75, 0.9)
    bd, aw, ah = rng.uniform(0.18, 0.25), rng.uniform(0.12, 0.22), rng.uniform(0.55, 0.65)
    b.box((0, sh / 2, bd / 2), (w / 2 - aw, sh / 2, d / 2 - bd / 2), tex, SOFA)
    b.box((0, bh / 2, -d / 2 + bd / 2), (w / 2, bh / 2, bd / 2), tex, SOFA)
    for sx in (-1, 1):
        b.box((sx * (w / 2 - aw / 2), ah / 2, bd / 2), (aw / 2, ah / 2, d / 2 - bd / 2), tex, SOFA)
    return b.parts


def _build_cabinet(rng, x, z, yaw, dims):
    w, d, h = dims
    b = _Builder(x, z, yaw)
    tex = _tex_any_furniture(rng, 0.5, 0.5)
    handle = _tex_plastic(rng)
    b.box((0, h / 2, 0), (w / 2, h / 2, d / 2), tex, CABINET,
          overlay=_cabinet_overlay(rng, w, h, handle))
    return b.parts


def _build_lamp(rng, x, z, yaw, dims):
    kind, rad, h = dims
    b = _Builder(x, z, yaw)
    metal = _tex_plastic(rng)
    shade = _tex_fabric(rng) if rng.random() < 0.5 else _tex_paint(rng, allow_pattern=False)
    if kind == 'column':
        b.cyl(0, 0, 0.0, h, rad, shade, LAMP)
        return b.parts
    b.cyl(0, 0, 0.0, 0.03, rng.uniform(0.12, 0.18), metal, LAMP)
    sh = rng.uniform(0.25, 0.38)
    b.cyl(0, 0, 0.03, h - sh * 0.5, rng.uniform(0.015, 0.03), metal, LAMP)
    b.cyl(0, 0, h - sh, h, rad, shade, LAMP)
    return b.parts


def _lamp_dims(rng):
    if rng.random() < 0.35:
        return ('column', rng.uniform(0.08, 0.15), rng.uniform(1.0, 1.6))
    return ('floor', rng.uniform(0.17, 0.26), rng.uniform(1.35, 1.75))


def _build_ball(rng, x, z, yaw, dims):
    (r,) = dims
    b = _Builder(x, z, yaw)
    q = rng.random()
    if q < 0.4:
        tex = _tex_plastic(rng)
    elif q < 0.75:
        n = 2 * int(rng.integers(2, 5))
        tex = _Tex(rng, 'segments', _jitter(rng, _pick(rng, _PLASTICS)),
                   _jitter(rng, _pick(rng, _PLASTICS)), width=2 * math.pi * r / n)
    else:
        tex = _tex_fabric(rng)
    b.sph(0, r, 0, r, tex, BALL)
    return b.parts


def _camo_parts(kind, rng, x, z, yaw, dims, room):
    b = _Builder(x, z, yaw)
    if kind == 'round':
        b.cyl(0, 0, 0.0, room[1], dims[0], None, PILLAR, camo=True)
    else:
        w, d, h = dims
        b.box((0, h / 2, 0), (w / 2, h / 2, d / 2), None, PILLAR, camo=True)
    return b.parts


def _clutter_parts(rng, x, z, base, yaw):
    b = _Builder(x, z, yaw, base)
    c = rng.random()
    tex = [_tex_plastic, _tex_fabric, _tex_paint, _tex_wood][int(rng.integers(4))](rng)
    if c < 0.55:
        w, d, h = rng.uniform(0.1, 0.3), rng.uniform(0.08, 0.25), rng.uniform(0.03, 0.25)
        b.box((0, h / 2, 0), (w / 2, h / 2, d / 2), tex, IGNORE_INDEX)
        return b.parts, max(w, d) / 2
    r, h = rng.uniform(0.035, 0.15), rng.uniform(0.08, 0.4)
    b.cyl(0, 0, 0.0, h, r, tex, IGNORE_INDEX)
    return b.parts, r
