"""Materials: shared colour palettes and procedural textures (albedo as a function of metric
surface coordinates)."""
from __future__ import annotations

import numpy as np

from fusionbench.data.scenes.constants import _LAT

_WOODS = np.array([(0.76, 0.60, 0.42), (0.85, 0.70, 0.50), (0.55, 0.30, 0.18),
                   (0.40, 0.26, 0.16), (0.25, 0.16, 0.10), (0.66, 0.60, 0.52),
                   (0.70, 0.48, 0.30)])
_PAINTS = np.array([(0.93, 0.93, 0.91), (0.92, 0.89, 0.82), (0.86, 0.80, 0.68),
                    (0.78, 0.78, 0.77), (0.60, 0.61, 0.62), (0.72, 0.80, 0.86),
                    (0.75, 0.83, 0.72), (0.93, 0.88, 0.66), (0.78, 0.50, 0.38),
                    (0.30, 0.36, 0.42), (0.60, 0.66, 0.55), (0.90, 0.75, 0.75)])
_FABRICS = np.array([(0.50, 0.50, 0.50), (0.25, 0.25, 0.27), (0.15, 0.20, 0.35),
                     (0.60, 0.15, 0.15), (0.80, 0.60, 0.20), (0.25, 0.40, 0.30),
                     (0.80, 0.72, 0.60), (0.40, 0.25, 0.15), (0.15, 0.45, 0.45),
                     (0.90, 0.86, 0.78), (0.55, 0.45, 0.60)])
_PLASTICS = np.array([(0.08, 0.08, 0.08), (0.70, 0.70, 0.72), (0.92, 0.92, 0.92),
                      (0.70, 0.55, 0.30), (0.80, 0.10, 0.10), (0.10, 0.30, 0.80),
                      (0.95, 0.80, 0.10), (0.20, 0.70, 0.20), (0.95, 0.50, 0.10)])


def _pick(rng, palette):
    return palette[rng.integers(len(palette))]


def _jitter(rng, c, s=0.06):
    c = np.asarray(c, float) * rng.uniform(0.85, 1.12) * (1.0 + rng.uniform(-s, s, 3))
    return np.clip(c, 0.02, 0.98)


def _hsv_colour(rng, sat=(0.35, 0.9), val=(0.3, 0.95)):
    h, s, v = rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val)
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# procedural textures: callables (u [n], v [n]) metres -> colour [n, 3] sRGB in [0, 1]
# --------------------------------------------------------------------------------------------
def _value_noise(lat, u, v):
    fu, fv = np.floor(u), np.floor(v)
    a, b = u - fu, v - fv
    a = a * a * (3.0 - 2.0 * a)
    b = b * b * (3.0 - 2.0 * b)
    iu = fu.astype(np.int64) % _LAT
    iv = fv.astype(np.int64) % _LAT
    ju, jv = (iu + 1) % _LAT, (iv + 1) % _LAT
    top = lat[iu, iv] * (1 - a) + lat[ju, iv] * a
    bot = lat[iu, jv] * (1 - a) + lat[ju, jv] * a
    return top * (1 - b) + bot * b


def _fbm(lat, u, v):
    return 0.65 * _value_noise(lat, u, v) + 0.35 * _value_noise(lat, 2.03 * u + 7.1, 2.03 * v + 3.3)


def _mix(c1, c2, w):
    w = w[:, None]
    return c1 * (1.0 - w) + c2 * w


class _Tex:
    """A procedural texture; ``kind`` selects the formula, parameters are drawn at creation."""

    def __init__(self, rng, kind, c1, c2=None, c3=None, **p):
        self.kind = kind
        self.c1 = np.asarray(c1, float)
        self.c2 = self.c1 * 0.7 if c2 is None else np.asarray(c2, float)
        self.c3 = self.c2 if c3 is None else np.asarray(c3, float)
        self.lat = rng.random((_LAT, _LAT))
        self.off = rng.uniform(0, 50, 2)
        self.p = p

    def __call__(self, u, v):
        u = u + self.off[0]
        v = v + self.off[1]
        p, lat, k = self.p, self.lat, self.kind
        if k == 'plain':
            n = _value_noise(lat, u / 0.7, v / 0.7)
            return self.c1[None] * (1.0 + p.get('amp', 0.04) * (n - 0.5))[:, None]
        if k == 'noise':
            s = p['scale']
            return _mix(self.c1, self.c2, _fbm(lat, u / s, v / s))
        if k == 'stripes':
            per = p['period']
            m = (np.mod(u / per, 1.0) < p['duty']).astype(float)
            n = _value_noise(lat, u / 0.5, v / 0.5)
            return _mix(self.c1, self.c2, m) * (1.0 + 0.04 * (n - 0.5))[:, None]
        if k == 'wood':
            n = _fbm(lat, u / 0.4, v / 0.15)
            ring = np.mod(v * p['freq'] + 3.0 * n + 0.3 * np.sin(u * 2.1), 1.0)
            col = _mix(self.c1, self.c2, 0.55 * ring ** 2 + 0.45 * n)
            pw = p.get('plank', 0.0)
            if pw > 0:
                sv = v / pw
                iv = np.floor(sv)
                tone = lat[iv.astype(np.int64) % _LAT, 5] - 0.5
                col = col * (1.0 + 0.25 * tone)[:, None]
                seam = (sv - iv) < (0.004 / pw)
                col[seam] *= 0.45
            return col
        if k == 'tiles':
            s = p['size']
            su, sv = u / s, v / s
            iu, iv = np.floor(su), np.floor(sv)
            ii, jj = iu.astype(np.int64), iv.astype(np.int64)
            g = p['grout'] / s
            grout = ((su - iu) < g) | ((sv - iv) < g)
            chk = ((ii + jj) % 2 == 1) if p['checker'] else np.zeros(u.shape, bool)
            base = np.where(chk[:, None], self.c2[None], self.c1[None])
            base = base * (1.0 + 0.12 * (lat[ii % _LAT, jj % _LAT] - 0.5))[:, None]
            base[grout] = self.c3
            return base
        if k == 'segments':
            seg = np.floor(u / p['width']).astype(np.int64) % 2
            return np.where(seg[:, None] == 1, self.c2[None], self.c1[None])
        raise ValueError(k)


def _tex_wood(rng, base=None, plank=0.0):
    c1 = _jitter(rng, _pick(rng, _WOODS) if base is None else base)
    return _Tex(rng, 'wood', c1, c1 * rng.uniform(0.55, 0.78), freq=rng.uniform(8, 25),
                plank=plank)


def _tex_paint(rng, c=None, allow_pattern=True):
    c1 = _jitter(rng, _pick(rng, _PAINTS) if c is None else c, 0.03)
    r = rng.random() if allow_pattern else 0.0
    if r < 0.6:
        return _Tex(rng, 'plain', c1, amp=rng.uniform(0.02, 0.08))
    if r < 0.85:
        return _Tex(rng, 'noise', c1, c1 * rng.uniform(0.82, 0.95), scale=rng.uniform(0.03, 0.3))
    c2 = c1 * rng.uniform(0.75, 0.92) if rng.random() < 0.6 else _jitter(rng, _pick(rng, _PAINTS))
    return _Tex(rng, 'stripes', c1, c2, period=rng.uniform(0.05, 0.3), duty=rng.uniform(0.3, 0.7))


def _tex_fabric(rng):
    c1 = _jitter(rng, _pick(rng, _FABRICS))
    if rng.random() < 0.15:
        return _Tex(rng, 'plain', c1, amp=0.05)
    return _Tex(rng, 'noise', c1, c1 * rng.uniform(0.6, 0.9), scale=rng.uniform(0.01, 0.08))


def _tex_plastic(rng):
    return _Tex(rng, 'plain', _jitter(rng, _pick(rng, _PLASTICS)), amp=0.03)


def _tex_any_furniture(rng, p_wood, p_paint, p_plastic=0.0):
    r = rng.random() * (p_wood + p_paint + p_plastic)
    if r < p_wood:
        return _tex_wood(rng)
    if r < p_wood + p_paint:
        return _tex_paint(rng, allow_pattern=False)
    return _tex_plastic(rng)
