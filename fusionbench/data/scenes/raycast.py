"""Ray casting, vectorised over rays (loops over the handful of primitives only): nearest hits,
shadow rays, surface normals / uv, the shell's albedo and labels."""
from __future__ import annotations

import numpy as np

from fusionbench.data.scenes.constants import RUG, _EPS
from fusionbench.data.scenes.geometry import _SHELL_LABEL

def _t_box(g, o, d):
    cx, cy, cz, hx, hy, hz, c, s = g
    ox, oy, oz = o[..., 0] - cx, o[..., 1] - cy, o[..., 2] - cz
    lox, loz = c * ox - s * oz, s * ox + c * oz
    ldx, ldz = c * d[:, 0] - s * d[:, 2], s * d[:, 0] + c * d[:, 2]
    ldy = d[:, 1]
    t1, t2 = (-hx - lox) / ldx, (hx - lox) / ldx
    tn, tf = np.minimum(t1, t2), np.maximum(t1, t2)
    t1, t2 = (-hy - oy) / ldy, (hy - oy) / ldy
    tn, tf = np.maximum(tn, np.minimum(t1, t2)), np.minimum(tf, np.maximum(t1, t2))
    t1, t2 = (-hz - loz) / ldz, (hz - loz) / ldz
    tn, tf = np.maximum(tn, np.minimum(t1, t2)), np.minimum(tf, np.maximum(t1, t2))
    return np.where((tn <= tf) & (tn > _EPS), tn, np.inf)


def _t_cyl(g, o, d):
    cx, cz, y0, y1, r = g
    ox, oy, oz = o[..., 0] - cx, o[..., 1], o[..., 2] - cz
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    a = dx * dx + dz * dz
    b = ox * dx + oz * dz
    c = ox * ox + oz * oz - r * r
    disc = b * b - a * c
    ts = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    ys = oy + ts * dy
    ts = np.where((disc >= 0) & (ts > _EPS) & (ys >= y0) & (ys <= y1), ts, np.inf)
    for yc in (y0, y1):
        tc = (yc - oy) / dy
        xc, zc = ox + tc * dx, oz + tc * dz
        ts = np.where((tc > _EPS) & (xc * xc + zc * zc <= r * r) & (tc < ts), tc, ts)
    return ts


def _t_sph(g, o, d):
    cx, cy, cz, r = g
    ox, oy, oz = o[..., 0] - cx, o[..., 1] - cy, o[..., 2] - cz
    dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
    a = dx * dx + dy * dy + dz * dz
    b = ox * dx + oy * dy + oz * dz
    c = ox * ox + oy * oy + oz * oz - r * r
    disc = b * b - a * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
    return np.where((disc >= 0) & (t > _EPS), t, np.inf)


_T_FUNCS = {'box': _t_box, 'cyl': _t_cyl, 'sph': _t_sph}


def _shell_hit(o, d, room):
    lx, hc, lz = room
    hi = np.array(room)
    t_ax = np.empty_like(d)
    for k in range(3):
        dk = d[:, k]
        with np.errstate(divide='ignore'):
            t_ax[:, k] = np.where(dk > 0, (hi[k] - o[k]) / dk,
                                  np.where(dk < 0, -o[k] / dk, np.inf))
    ax = np.argmin(t_ax, axis=1)
    t = t_ax[np.arange(len(d)), ax]
    pos = d[np.arange(len(d)), ax] > 0
    sid = np.array([0, 2, 4])[ax] + pos
    return t, sid


def _cone_candidates(scene, apex, u, un, segment):
    """[n, n_obj] bool, a superset of the rays from ``apex`` along ``u`` [n, 3] (norms ``un``
    [n]) that meet an object's bounding sphere: those inside the cone from ``apex`` around the
    sphere (and, for ``segment`` rays that end at ``apex + u``, reaching past its near side)."""
    cen = np.array([ob.centre for ob in scene.objects]) - apex
    rad = np.array([ob.radius for ob in scene.objects])
    dist = np.sqrt(np.einsum('ij,ij->i', cen, cen))
    thr = np.sqrt(np.maximum(0.0, 1.0 - (rad / np.maximum(dist, 1e-9)) ** 2)) * dist
    m = (u @ cen.T) >= un[:, None] * thr[None]
    if segment:
        m &= un[:, None] >= (dist - rad)[None]
    m[:, dist <= rad] = True
    return m


def _cast_nearest(scene, o, d):
    """Nearest hit of rays (common origin ``o`` [3], dirs ``d`` [n, 3]) -> t, shell id, part."""
    t_shell, sid = _shell_hit(o, d, scene.room)
    t = t_shell.copy()
    who = np.full(len(d), -1, np.int64)
    if not scene.objects:
        return t, t_shell, sid, who
    cand = _cone_candidates(scene, o, d, np.sqrt(np.einsum('ij,ij->i', d, d)), False)
    pid = 0
    for j, ob in enumerate(scene.objects):
        idx = np.flatnonzero(cand[:, j])
        for part in ob.parts:
            if idx.size:
                tp = _T_FUNCS[part.kind](part.g, o, d[idx])
                better = tp < t[idx]
                if better.any():
                    sel = idx[better]
                    t[sel] = tp[better]
                    who[sel] = pid
            pid += 1
    return t, t_shell, sid, who


def _occluded(scene, o, target):
    """[n] bool: segment from ``o`` [n, 3] to the point ``target`` [3] hits an object."""
    occ = np.zeros(len(o), bool)
    if not scene.objects or not len(o):
        return occ
    u = o - target
    un = np.sqrt(np.einsum('ij,ij->i', u, u))
    cand = _cone_candidates(scene, target, u, un, True)
    d = -u
    for j, ob in enumerate(scene.objects):
        idx = np.flatnonzero(cand[:, j] & ~occ)
        for part in ob.parts:
            if not idx.size:
                break
            hit = _T_FUNCS[part.kind](part.g, o[idx], d[idx]) < 1.0
            occ[idx[hit]] = True
            idx = idx[~hit]
    return occ


def _part_normal_uv(part, p):
    """World normals [n, 3], texture uv and box face info of hit points ``p`` [n, 3] on a part."""
    n = np.zeros_like(p)
    if part.kind == 'box':
        cx, cy, cz, hx, hy, hz, c, s = part.g
        ox, oy, oz = p[:, 0] - cx, p[:, 1] - cy, p[:, 2] - cz
        lp = np.stack([c * ox - s * oz, oy, s * ox + c * oz], axis=1)
        h = np.array([hx, hy, hz])
        axis = np.argmin(np.abs(h - np.abs(lp)), axis=1)
        sign = np.sign(lp[np.arange(len(p)), axis])
        sign[sign == 0] = 1
        nl = np.zeros_like(p)
        nl[np.arange(len(p)), axis] = sign
        n[:, 0] = c * nl[:, 0] + s * nl[:, 2]
        n[:, 1] = nl[:, 1]
        n[:, 2] = -s * nl[:, 0] + c * nl[:, 2]
        q = lp + h
        u = np.where(axis == 0, q[:, 2], q[:, 0])
        v = np.where(axis == 1, q[:, 2], q[:, 1])
        return n, u, v, (axis, sign, lp)
    if part.kind == 'cyl':
        cx, cz, y0, y1, r = part.g
        ox, oz = p[:, 0] - cx, p[:, 2] - cz
        side_err = np.abs(np.hypot(ox, oz) - r)
        top_err, bot_err = np.abs(p[:, 1] - y1), np.abs(p[:, 1] - y0)
        cap = np.minimum(top_err, bot_err) < side_err
        n[:, 0] = np.where(cap, 0.0, ox / r)
        n[:, 2] = np.where(cap, 0.0, oz / r)
        n[:, 1] = np.where(cap, np.where(top_err < bot_err, 1.0, -1.0), 0.0)
        ang = np.arctan2(oz, ox)
        u = np.where(cap, ox, ang * r)
        v = np.where(cap, oz, p[:, 1])
        return n / np.linalg.norm(n, axis=1, keepdims=True), u, v, None
    cx, cy, cz, r = part.g
    q = p - np.array([cx, cy, cz])
    n = q / np.linalg.norm(q, axis=1, keepdims=True)
    u = np.arctan2(q[:, 2], q[:, 0]) * r
    v = np.arcsin(np.clip(n[:, 1], -1, 1)) * r
    return n, u, v, None


def _shell_albedo_label(scene, p, sid, decals=True):
    """Albedo [n, 3] and label [n] of shell points ``p`` [n, 3] on surfaces ``sid`` [n]."""
    alb = np.zeros((len(p), 3))
    lab = _SHELL_LABEL[sid]
    along = np.where((sid == 0) | (sid == 1), p[:, 2], p[:, 0])
    for k in range(6):
        m = sid == k
        if not m.any():
            continue
        if k in (2, 3):
            alb[m] = scene.shell_tex[k](p[m, 0], p[m, 2])
        else:
            alb[m] = scene.shell_tex[k](along[m], p[m, 1])
    if not decals:
        return alb, lab
    for dec in scene.wall_decals:
        m = (sid == dec.wall) & (along >= dec.s0) & (along <= dec.s1) & (p[:, 1] >= dec.y0) & (
            p[:, 1] <= dec.y1)
        if m.any():
            s = along[m] - dec.s0
            if dec.wall in (0, 5):   # keep u running left-to-right seen from inside the room
                s = (dec.s1 - dec.s0) - s
            alb[m] = dec.paint(s, p[m, 1] - dec.y0)
            lab[m] = dec.label
    for rug in scene.rugs:
        m = sid == 2
        if not m.any():
            continue
        idx = np.flatnonzero(m)
        dx, dz = p[idx, 0] - rug.cx, p[idx, 2] - rug.cz
        a, b = rug.c * dx - rug.s * dz, rug.s * dx + rug.c * dz
        if rug.ellipse:
            inside = (a / rug.hw) ** 2 + (b / rug.hd) ** 2 <= 1.0
        else:
            inside = (np.abs(a) <= rug.hw) & (np.abs(b) <= rug.hd)
        sel = idx[inside]
        if sel.size:
            alb[sel] = rug.paint(a[inside], b[inside])
            lab[sel] = RUG
    return alb, lab
