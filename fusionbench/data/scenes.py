"""Procedural RGB-D indoor scenes: fusionbench's embedded default dataset (no download needed).

Every sample is produced by **ray-casting an analytic 3-D scene** through a pinhole camera and
then passing the clean render through physically motivated **sensor models** (a Kinect-like
structured-light depth camera and a small-pixel colour camera). The generator was designed from
physics and sensor data sheets and then frozen; it is not tuned toward any fusion method. Any
change to its output must bump :data:`GENERATOR_VERSION` (it is part of the cache key).

Scene model
-----------
World frame: metres, ``y`` up; the room is the box ``[0, Lx] x [0, Hc] x [0, Lz]``.

* **Room shell**: floor, ceiling and four walls (planes), ``Lx, Lz ~ U(3.0, 6.5)``,
  ``Hc ~ U(2.4, 3.1)``. Walls share one paint (plain, plaster noise or striped wallpaper; one
  accent wall in 25 % of rooms); floor is wooden planks, tiles (plain or checker) or carpet;
  ceiling is plain/plaster paint or drop-ceiling tiles.
* **Camera**: pinhole, square pixels, fixed 60 deg horizontal field of view
  (``fx = fy = (W/2) / tan 30 deg``, principal point at the image centre), placed
  0.3-1.2 m from a random wall at height ``U(1.0, 1.6)`` m, looking into the room
  (yaw +-40 deg around the wall normal), pitched down ``U(3, 28)`` deg, rolled ``U(-3, 3)`` deg.
* **Furniture** (3-8 objects, placed in the camera's view without overlapping footprints),
  built from three analytic primitives: yaw-rotated boxes, vertical finite cylinders (with caps)
  and spheres:
  table (4-leg rectangular, coffee table, or round pedestal table), cabinet (box against a wall
  with door/drawer seams and handles painted on), chair (4-leg chair with backrest, or
  cylinder stool), sofa (base, back and two arms), lamp (floor lamp: base disc, pole and shade
  cylinders, or a column lamp), ball (sphere on the floor), pillar (camouflaged, see below).
  Materials are drawn from *shared* palettes so that classes overlap in colour where that is
  physical: woods (table, cabinet, chair, floor planks, door, picture frames), paints (wall,
  ceiling, cabinet, table, chair, door), fabrics (sofa, rug, carpet floor, chair seat, lamp
  shade), plastics/metals (chair, lamp, ball, table legs, clutter).
* **Colour-only objects** (exactly zero thickness, decals on the shell; depth and normals are
  those of the plane they lie on): picture (frame + abstract art, on a wall), whiteboard (white
  surface, aluminium frame, marker strokes), door (flush with the wall, trim, panels, handle),
  rug (rectangular or elliptical, on the floor, border + pattern).
* **Geometry-only objects**: the *pillar* class -- a structural column flush with a wall, a
  free-standing round column, or a low boxed-in duct against a wall. Its albedo is, per pixel,
  exactly the albedo of the room surface (shell + decals) that its ray would hit if the pillar
  were not there (a perfect view-dependent camouflage), so only geometry (depth, normals,
  shading, cast shadows) reveals it.
* **Clutter** (label 255 = ignore): 0-4 small boxes/cylinders (books, cups, bins) on table or
  cabinet tops or on the floor, in random colours -- the analogue of NYUDv2's unlabelled pixels.
  Nothing else is 255.
* **Lights**: 1-3 point lights 0.1-0.5 m below the ceiling plus ambient ``U(0.12, 0.30)``.
  Shading ``S = ambient + sum_l P_l max(0, n.l_l) vis_l / (d_l^2 + 0.75 m^2)`` with cast shadows
  (shadow rays against every object primitive; the convex room cannot occlude), clipped to
  ``[0, 1.5]``. No inter-reflections, no specularities (Lambertian).
* **Textures** (albedo, sRGB): plain (with faint low-frequency variation), value-noise
  (plaster, fabric, carpet), wood grain (optionally planks with seams), tiles/checker with
  grout, wallpaper stripes, segmented (beach ball); all functions of metric surface coordinates.

Sensor models
-------------
*Depth* (Kinect-v1-like structured light, IR projector 7.5 cm to the right of the camera):
clean depth is the camera-frame ``z``; axial noise ``sigma(z) = 1.2 mm + 1.9 mm (z - 0.4)^2``
(Nguyen et al. 2012); disparity quantisation ``1/z`` in steps of ``2.85e-3 / m`` (1 mm at
0.6 m, 7 cm at 5 m; Khoshelham & Elberink 2012). Holes (``depth == 0``) where: the point is
outside ``[0.5, 6.0]`` m; the point is not lit by the projector (projector shadow, found by
ray-casting towards the projector -- the classic hole band beside foreground objects);
grazing incidence (``|cos| < 0.10`` always, ramping to none at 0.25); at depth discontinuities
(second difference of disparity > 4 % of it; each such pixel dropped with p = 0.35); and 0-3 %
of the image in smooth random dropout blobs.

*RGB*: linear radiance ``= albedo_linear x shading x illuminant tint x vignetting``;
auto-exposure to a mean luminance ``U(0.15, 0.25)``; Gaussian optical PSF (sigma 0.5 px);
shot noise (full well ``150-800`` e-, Gaussian approximation of Poisson) and read noise
(``0.2-0.8 %``); clipping; gamma ``1/U(2.0, 2.4)``; 8-bit quantisation.

All labels, normals, albedo and shading are sampled at pixel centres (no anti-aliasing).

Classes
-------
====  ==========  ===========================================================
 id   name        what it is
====  ==========  ===========================================================
  0   wall        the four room walls (plane)
  1   floor       the floor plane (outside the rug)
  2   ceiling     the ceiling plane
  3   table       boxes (top + legs) or cylinders (round table)
  4   cabinet     box against a wall, seams and handles painted on
  5   chair       boxes (seat, legs, back) or cylinders (stool)
  6   sofa        boxes (base, back, arms), fabric
  7   lamp        vertical cylinders (floor lamp / column lamp)
  8   ball        sphere on the floor
  9   picture     flat on a wall -- colour only
 10   rug         flat on the floor -- colour only
 11   door        flat in a wall, reaches the floor -- colour only
 12   whiteboard  flat on a wall -- colour only
 13   pillar      column / duct box with the albedo of what is behind -- geometry only
 255  (ignore)    small clutter objects (books, cups, bins)
====  ==========  ===========================================================

What each modality can and cannot see
-------------------------------------
========  ========================================  =========================================
modality  can see                                   cannot see
========  ========================================  =========================================
rgb       colour edges (picture, rug, door,         the pillar, except through shading and
          whiteboard), materials, shading and       shadow differences; anything whose colour
          cast shadows (hence some geometry);       and shading match its surroundings
          noisy, exposure varies per image
depth     3-D geometry incl. the pillar (metric,    picture, rug, door, whiteboard (zero
          noisy, quantised)                         thickness); anything in a hole (range,
                                                    projector shadow, grazing, edges, blobs)
normal    clean orientation: objects, pillar        picture, rug, door, whiteboard; an object
          faces, wall vs floor vs ceiling           face parallel to the wall behind it
albedo    clean texture: every colour-only          the pillar (its albedo is what is behind
          object, furniture materials               it), shape, lighting
shading   clean Lambertian shading incl. cast       picture, rug, door, whiteboard; texture
          shadows: geometry and light layout
label     ground truth (255 = clutter)              --
========  ========================================  =========================================

The same table, one line per modality, is :data:`MODALITIES`.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import sys
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ['GENERATOR_VERSION', 'CLASSES', 'PALETTE', 'MODALITIES', 'IGNORE_INDEX', 'KEYS',
           'Scene', 'sample_scene', 'render_layout', 'render_scene', 'scene_seed',
           'generate_split', 'load_or_generate', 'cache_path']

GENERATOR_VERSION = 'scenes-1.0'

CLASSES: tuple[str, ...] = (
    'wall', 'floor', 'ceiling', 'table', 'cabinet', 'chair', 'sofa', 'lamp', 'ball',
    'picture', 'rug', 'door', 'whiteboard', 'pillar')

PALETTE: tuple[tuple[int, int, int], ...] = (
    (174, 199, 232),  # wall
    (152, 223, 138),  # floor
    (230, 230, 230),  # ceiling
    (255, 127, 14),   # table
    (140, 86, 75),    # cabinet
    (214, 39, 40),    # chair
    (148, 103, 189),  # sofa
    (255, 221, 0),    # lamp
    (23, 190, 207),   # ball
    (227, 119, 194),  # picture
    (188, 189, 34),   # rug
    (44, 160, 44),    # door
    (31, 119, 180),   # whiteboard
    (60, 60, 60),     # pillar
)

MODALITIES: dict[str, str] = {
    'rgb': 'noisy 8-bit colour: sees texture (picture, rug, door, whiteboard) and shading/shadows; '
           'cannot see the camouflaged pillar except through shading',
    'depth': 'noisy Kinect-like metric depth with holes (0): sees all 3-D geometry incl. the '
             'pillar; cannot see flat picture, rug, door, whiteboard',
    'normal': 'clean unit camera-frame surface normals: sees orientation/geometry incl. the '
              'pillar; cannot see flat picture, rug, door, whiteboard',
    'albedo': 'clean surface texture: sees every colour-only object and materials; cannot see the '
              'pillar (its albedo is what lies behind it) nor shape',
    'shading': 'clean Lambertian shading with cast shadows: sees geometry and lighting; cannot see '
               'texture nor flat objects',
}

IGNORE_INDEX = 255
KEYS = ('rgb', 'depth', 'normal', 'albedo', 'shading', 'label')

(WALL, FLOOR, CEILING, TABLE, CABINET, CHAIR, SOFA, LAMP, BALL, PICTURE, RUG, DOOR, WHITEBOARD,
 PILLAR) = range(len(CLASSES))

HFOV_DEG = 60.0
DEPTH_MIN, DEPTH_MAX = 0.5, 6.0
PROJECTOR_BASELINE = 0.075
_EPS = 1e-6
_SCENE_STREAM, _NOISE_STREAM = 0x5CE, 0x4015E
_LAT = 32  # value-noise lattice size
_LINEAR_LUT = (np.arange(256) / 255.0) ** 2.2   # sRGB-ish 8-bit albedo -> linear reflectance

# --------------------------------------------------------------------------------------------
# palettes (sRGB in [0, 1])
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# scene description
# --------------------------------------------------------------------------------------------
@dataclass
class _Part:
    kind: str                    # 'box' | 'cyl' | 'sph'
    g: tuple                     # box: (cx, cy, cz, hx, hy, hz, cos, sin);
    #                              cyl: (cx, cz, y0, y1, r); sph: (cx, cy, cz, r)
    tex: _Tex | None
    label: int
    camo: bool = False
    overlay: Callable | None = None   # (face_axis, face_sign, lp [n,3], colour [n,3]) -> colour

    def aabb(self):
        if self.kind == 'box':
            cx, cy, cz, hx, hy, hz, c, s = self.g
            ex, ez = abs(c) * hx + abs(s) * hz, abs(s) * hx + abs(c) * hz
            return np.array([cx - ex, cy - hy, cz - ez]), np.array([cx + ex, cy + hy, cz + ez])
        if self.kind == 'cyl':
            cx, cz, y0, y1, r = self.g
            return np.array([cx - r, y0, cz - r]), np.array([cx + r, y1, cz + r])
        cx, cy, cz, r = self.g
        return np.array([cx - r, cy - r, cz - r]), np.array([cx + r, cy + r, cz + r])


@dataclass
class _Object:
    label: int
    parts: list
    centre: np.ndarray = None
    radius: float = 0.0

    def finish(self):
        lo = np.min([p.aabb()[0] for p in self.parts], axis=0)
        hi = np.max([p.aabb()[1] for p in self.parts], axis=0)
        self.centre = (lo + hi) / 2
        self.radius = float(np.linalg.norm(hi - lo) / 2 + 1e-4)
        return self


@dataclass
class Scene:
    """Everything :func:`render_layout` needs; drawn by :func:`sample_scene` (resolution-free)."""

    seed: int
    room: tuple                      # (Lx, Hc, Lz)
    cam_pos: np.ndarray              # [3] world
    cam_rot: np.ndarray              # [3, 3] columns = camera x (right), y (down), z (forward)
    shell_tex: list                  # 6 textures: x=0, x=Lx, floor, ceiling, z=0, z=Lz
    objects: list = field(default_factory=list)
    wall_decals: list = field(default_factory=list)
    rugs: list = field(default_factory=list)
    lights: np.ndarray = None        # [L, 3]
    power: np.ndarray = None         # [L]
    ambient: float = 0.2
    sensor: dict = field(default_factory=dict)


# shell surface ids: 0: x=0, 1: x=Lx, 2: floor, 3: ceiling, 4: z=0, 5: z=Lz (normals inward)
_SHELL_NORMALS = np.array([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)],
                          float)
_SHELL_LABEL = np.array([WALL, WALL, FLOOR, CEILING, WALL, WALL], np.uint8)
_WALLS = (0, 1, 4, 5)


def _wall_frame(wall, room):
    """(origin xz, along-wall unit xz, inward normal xz, wall length) of a wall id."""
    lx, _, lz = room
    if wall == 0:
        return np.array([0.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0]), lz
    if wall == 1:
        return np.array([lx, 0.0]), np.array([0.0, 1.0]), np.array([-1.0, 0.0]), lz
    if wall == 4:
        return np.array([0.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), lx
    return np.array([0.0, lz]), np.array([1.0, 0.0]), np.array([0.0, -1.0]), lx


def _horizontal_wall_hit(room, x, z, ang):
    """Cast a horizontal ray from (x, z) with yaw ``ang``; -> (wall id, along coord, distance)."""
    lx, _, lz = room
    dx, dz = math.sin(ang), math.cos(ang)
    best = (None, 0.0, math.inf)
    for wall, t in ((1, (lx - x) / dx if dx > 1e-9 else math.inf),
                    (0, -x / dx if dx < -1e-9 else math.inf),
                    (5, (lz - z) / dz if dz > 1e-9 else math.inf),
                    (4, -z / dz if dz < -1e-9 else math.inf)):
        if t < best[2]:
            along = z + t * dz if wall in (0, 1) else x + t * dx
            best = (wall, along, t)
    return best


def _rot_y(yaw):
    return math.cos(yaw), math.sin(yaw)


class _Builder:
    """Places parts given in an object-local frame (origin on the floor, front = +z)."""

    def __init__(self, x, z, yaw, base=0.0):
        self.x, self.z, self.base = x, z, base
        self.c, self.s = _rot_y(yaw)
        self.parts = []

    def _w(self, lx, lz):
        return self.x + self.c * lx + self.s * lz, self.z - self.s * lx + self.c * lz

    def box(self, lc, half, tex, label, **kw):
        wx, wz = self._w(lc[0], lc[2])
        self.parts.append(_Part('box', (wx, self.base + lc[1], wz, half[0], half[1], half[2],
                                        self.c, self.s), tex, label, **kw))

    def cyl(self, lx, lz, y0, y1, r, tex, label, **kw):
        wx, wz = self._w(lx, lz)
        self.parts.append(_Part('cyl', (wx, wz, self.base + y0, self.base + y1, r), tex, label,
                                **kw))

    def sph(self, lx, ly, lz, r, tex, label, **kw):
        wx, wz = self._w(lx, lz)
        self.parts.append(_Part('sph', (wx, self.base + ly, wz, r), tex, label, **kw))


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
    b.box((0, h - tt / 2, 0), (w / 2, tt / 2, d / 2), top, TABLE)
    for sx in (-1, 1):
        for sz in (-1, 1):
            b.box((sx * (w / 2 - lw / 2 - inset), (h - tt) / 2, sz * (d / 2 - lw / 2 - inset)),
                  (lw / 2, (h - tt) / 2, lw / 2), legs, TABLE)
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
    b.box((0, sh - st / 2, 0), (w / 2, st / 2, d / 2), seat, CHAIR)
    for sx in (-1, 1):
        for sz in (-1, 1):
            b.box((sx * (w / 2 - lw / 2), (sh - st) / 2, sz * (d / 2 - lw / 2)),
                  (lw / 2, (sh - st) / 2, lw / 2), frame, CHAIR)
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


# --------------------------------------------------------------------------------------------
# flat decals
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# scene sampling
# --------------------------------------------------------------------------------------------
def _camera_rotation(yaw, pitch, roll):
    f = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch),
                  math.cos(yaw) * math.cos(pitch)])
    right = np.cross(f, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(f, right)
    cr, sr = math.cos(roll), math.sin(roll)
    return np.stack([cr * right + sr * down, -sr * right + cr * down, f], axis=1)


class _Floorplan:
    def __init__(self, room, cam_x, cam_z, cam_yaw):
        self.room = room
        self.cx, self.cz, self.yaw = cam_x, cam_z, cam_yaw
        self.circles = [(cam_x, cam_z, 0.8)]
        self.wall_spans = {w: [] for w in _WALLS}

    def free(self, x, z, r):
        lx, _, lz = self.room
        if x < r or z < r or x > lx - r or z > lz - r:
            return False
        return all((x - a) ** 2 + (z - b) ** 2 >= (r + c) ** 2 for a, b, c in self.circles)

    def in_view(self, rng, r, rmin=1.0, rmax=4.5):
        half = math.radians(HFOV_DEG) / 2 * 0.85
        for _ in range(25):
            ang = self.yaw + rng.uniform(-half, half)
            _, _, dist = _horizontal_wall_hit(self.room, self.cx, self.cz, ang)
            hi = min(rmax, dist - r - 0.05)
            if hi <= rmin:
                continue
            dd = rng.uniform(rmin, hi)
            x, z = self.cx + dd * math.sin(ang), self.cz + dd * math.cos(ang)
            if self.free(x, z, r):
                return x, z
        return None

    def against_wall(self, rng, w, d):
        """Footprint centre, yaw and wall of a w x d object with its back against a visible wall."""
        half = math.radians(HFOV_DEG) / 2
        for _ in range(25):
            ang = self.yaw + rng.uniform(-half, half)
            wall, along, _ = _horizontal_wall_hit(self.room, self.cx, self.cz, ang)
            origin, tang, normal, length = _wall_frame(wall, self.room)
            if length < w + 0.1:
                continue
            s = float(np.clip(along, w / 2 + 0.05, length - w / 2 - 0.05))
            p = origin + tang * s + normal * (d / 2)
            r = math.hypot(w, d) / 2
            if any(self.circle_hits(p[0], p[1], r, c) for c in self.circles):
                continue
            yaw = math.atan2(normal[0], normal[1])
            return p[0], p[1], yaw, wall, s
        return None

    @staticmethod
    def circle_hits(x, z, r, c):
        return (x - c[0]) ** 2 + (z - c[1]) ** 2 < (r + c[2]) ** 2

    def add(self, x, z, r, wall=None, s=None, w=None):
        self.circles.append((x, z, r))
        if wall is not None:
            self.wall_spans[wall].append((s - w / 2, s + w / 2))


def scene_seed(seed: int, index: int) -> int:
    """Seed of scene ``index`` of the split ``seed``: ``seed * 2**32 + index`` (injective)."""
    seed, index = int(seed), int(index)
    if seed < 0 or not 0 <= index < 2 ** 32:
        raise ValueError(f'scene_seed: need seed >= 0 and 0 <= index < 2**32, got {seed}, {index}')
    return (seed << 32) | index


def sample_scene(seed: int) -> Scene:
    """Draw a scene description (room, camera, objects, decals, lights, sensor) from ``seed``."""
    seed = int(seed)
    if seed < 0:
        raise ValueError(f'sample_scene: seed must be >= 0, got {seed}')
    rng = np.random.default_rng([seed, _SCENE_STREAM])
    lx, lz = rng.uniform(3.0, 6.5, 2)
    hc = rng.uniform(2.4, 3.1)
    room = (float(lx), float(hc), float(lz))

    # camera near a wall, looking into the room
    wall = _WALLS[int(rng.integers(4))]
    origin, tang, normal, length = _wall_frame(wall, room)
    p = origin + tang * rng.uniform(0.4, length - 0.4) + normal * rng.uniform(0.3, 1.2)
    cam_yaw = math.atan2(normal[0], normal[1]) + math.radians(rng.uniform(-40, 40))
    cam_pos = np.array([p[0], rng.uniform(1.0, 1.6), p[1]])
    cam_rot = _camera_rotation(cam_yaw, -math.radians(rng.uniform(3, 28)),
                               math.radians(rng.uniform(-3, 3)))
    plan = _Floorplan(room, p[0], p[1], cam_yaw)

    # shell textures
    wall_tex = _tex_paint(rng)
    shell = [wall_tex] * 6
    if rng.random() < 0.25:
        shell[_WALLS[int(rng.integers(4))]] = _tex_paint(rng)
    r = rng.random()
    if r < 0.45:
        shell[2] = _tex_wood(rng, plank=rng.uniform(0.1, 0.25))
    elif r < 0.75:
        c1 = _jitter(rng, _pick(rng, np.concatenate([_PAINTS, _WOODS[[0, 5]]])))
        c2 = _jitter(rng, _pick(rng, _PAINTS)) if rng.random() < 0.4 else c1 * rng.uniform(
            0.85, 1.0)
        shell[2] = _Tex(rng, 'tiles', c1, c2, c1 * rng.uniform(0.5, 0.8),
                        size=rng.uniform(0.2, 0.6), grout=rng.uniform(0.004, 0.012),
                        checker=rng.random() < 0.4)
    else:
        shell[2] = _tex_fabric(rng)
    if rng.random() < 0.25:
        c1 = _jitter(rng, _PAINTS[0], 0.02)
        shell[3] = _Tex(rng, 'tiles', c1, c1, c1 * 0.75, size=0.6, grout=0.015, checker=False)
    elif rng.random() < 0.4:
        shell[3] = wall_tex
    else:
        shell[3] = _tex_paint(rng, _PAINTS[int(rng.integers(3))], allow_pattern=False)

    objects: list[_Object] = []

    # furniture: 3-8 objects
    caps = {TABLE: 2, CABINET: 2, CHAIR: 4, SOFA: 1, LAMP: 2, BALL: 2, PILLAR: 1}
    weights = {TABLE: 1.0, CABINET: 1.0, CHAIR: 1.1, SOFA: 0.8, LAMP: 0.9, BALL: 0.8,
               PILLAR: 0.7}
    n_obj = int(rng.integers(3, 9))
    chosen = []
    for _ in range(n_obj):
        avail = [c for c in weights if chosen.count(c) < caps[c]]
        pw = np.array([weights[c] for c in avail])
        chosen.append(avail[int(rng.choice(len(avail), p=pw / pw.sum()))])
    order = {PILLAR: 0, SOFA: 1, CABINET: 2, TABLE: 3, LAMP: 4, CHAIR: 5, BALL: 6}
    chosen.sort(key=lambda c: order[c])
    tops = []     # (part, object) whose top can hold clutter
    for cls in chosen:
        ob = None
        if cls == PILLAR:
            kind = ['column', 'round', 'duct'][int(rng.choice(3, p=[0.45, 0.25, 0.30]))]
            if kind == 'round':
                rad = rng.uniform(0.15, 0.3)
                pos = plan.in_view(rng, rad, rmin=1.5)
                if pos:
                    ob = _camo_parts('round', rng, pos[0], pos[1], 0.0, (rad,), room)
                    plan.add(pos[0], pos[1], rad)
            else:
                if kind == 'column':
                    dims = (rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.5), hc)
                else:
                    dims = (rng.uniform(0.5, 1.2), rng.uniform(0.3, 0.6), rng.uniform(0.3, 1.0))
                pl = plan.against_wall(rng, dims[0], dims[1])
                if pl:
                    x, z, yaw, wall, s = pl
                    ob = _camo_parts('box', rng, x, z, yaw, dims, room)
                    plan.add(x, z, math.hypot(dims[0], dims[1]) / 2, wall, s, dims[0])
        elif cls in (CABINET, SOFA):
            if cls == CABINET:
                dims = (rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.6), rng.uniform(0.5, 2.0))
                build = _build_cabinet
            else:
                dims = (rng.uniform(1.4, 2.3), rng.uniform(0.8, 0.95), 0.9)
                build = _build_sofa
            if cls == SOFA and rng.random() < 0.35:
                rad = math.hypot(dims[0], dims[1]) / 2
                pos = plan.in_view(rng, rad, rmin=1.5)
                if pos:
                    # free-standing, front roughly towards the camera
                    yaw = math.atan2(plan.cx - pos[0], plan.cz - pos[1]) + rng.uniform(-1.0, 1.0)
                    ob = build(rng, pos[0], pos[1], yaw, dims)
                    plan.add(pos[0], pos[1], rad)
            else:
                pl = plan.against_wall(rng, dims[0], dims[1])
                if pl:
                    x, z, yaw, wall, s = pl
                    ob = build(rng, x, z, yaw, dims)
                    plan.add(x, z, math.hypot(dims[0], dims[1]) / 2, wall, s, dims[0])
            if ob and cls == CABINET and dims[2] < 1.3:
                tops.append((ob[0], dims[2]))
        else:
            if cls == TABLE:
                dims, build = _table_dims(rng), _build_table
                rad = math.hypot(dims[1], dims[2]) / 2
            elif cls == CHAIR:
                dims, build = _chair_dims(rng), _build_chair
                rad = math.hypot(dims[1], dims[2]) / 2
            elif cls == LAMP:
                dims, build = _lamp_dims(rng), _build_lamp
                rad = max(dims[1], 0.18)
            else:
                dims, build = (rng.uniform(0.1, 0.35),), _build_ball
                rad = dims[0]
            pos = plan.in_view(rng, rad)
            if pos:
                ob = build(rng, pos[0], pos[1], rng.uniform(-math.pi, math.pi), dims)
                plan.add(pos[0], pos[1], rad)
                if cls == TABLE:
                    tops.append((ob[0], dims[3]))
        if ob:
            objects.append(_Object(cls, ob).finish())

    # clutter (label 255)
    for _ in range(int(rng.integers(0, 5))):
        if tops and rng.random() < 0.7:
            part, h = tops[int(rng.integers(len(tops)))]
            if part.kind == 'box':
                cx, _, cz, hx, _, hz, c, s = part.g
                a, b = rng.uniform(-0.7, 0.7) * hx, rng.uniform(-0.7, 0.7) * hz
                x, z = cx + c * a + s * b, cz - s * a + c * b
            else:
                cx, cz, _, _, rr = part.g
                ang, rad = rng.uniform(0, 2 * math.pi), rr * 0.6 * math.sqrt(rng.random())
                x, z = cx + rad * math.cos(ang), cz + rad * math.sin(ang)
            parts, _ = _clutter_parts(rng, x, z, h, rng.uniform(-math.pi, math.pi))
        else:
            pos = plan.in_view(rng, 0.2)
            if pos is None:
                continue
            parts, rad = _clutter_parts(rng, pos[0], pos[1], 0.0, rng.uniform(-math.pi, math.pi))
            plan.add(pos[0], pos[1], rad)
        objects.append(_Object(IGNORE_INDEX, parts).finish())

    # wall decals: 1-3 of picture / whiteboard / door
    decals: list[_WallDecal] = []
    kinds = []
    for _ in range(int(rng.integers(1, 4))):
        kinds.append([PICTURE, WHITEBOARD, DOOR][int(rng.choice(3, p=[0.5, 0.25, 0.25]))])
    for kind in kinds:
        if kind in (DOOR, WHITEBOARD) and any(d.label == kind for d in decals):
            kind = PICTURE
        if kind == PICTURE:
            w = rng.uniform(0.3, 1.2)
            h = w * rng.uniform(0.6, 1.5)
            y0 = rng.uniform(1.2, 1.8) - h / 2
        elif kind == WHITEBOARD:
            w, h = rng.uniform(0.9, 2.0), rng.uniform(0.6, 1.2)
            y0 = rng.uniform(0.75, 1.0)
        else:
            w, h = rng.uniform(0.8, 0.95), min(rng.uniform(2.0, 2.1), hc - 0.1)
            y0 = 0.0
        y0 = max(0.0, min(y0, hc - h - 0.05))
        half = math.radians(HFOV_DEG) / 2
        for _ in range(20):
            ang = cam_yaw + rng.uniform(-half, half)
            wall, along, _ = _horizontal_wall_hit(room, plan.cx, plan.cz, ang)
            length = _wall_frame(wall, room)[3]
            if length < w + 0.2:
                continue
            s = float(np.clip(along, w / 2 + 0.1, length - w / 2 - 0.1))
            s0, s1 = s - w / 2, s + w / 2
            clash = any(d.wall == wall and d.s0 < s1 + 0.05 and s0 < d.s1 + 0.05
                        and d.y0 < y0 + h + 0.05 and y0 < d.y1 + 0.05 for d in decals)
            if kind == DOOR:
                clash |= any(a < s1 and s0 < b for a, b in plan.wall_spans[wall])
            if clash:
                continue
            if kind == PICTURE:
                paint = _picture_painter(rng, w, h)
            elif kind == WHITEBOARD:
                paint = _whiteboard_painter(rng, w, h)
            else:
                paint = _door_painter(rng, w, h, shell[wall].c1)
            decals.append(_WallDecal(kind, wall, s0, s1, y0, y0 + h, paint))
            break

    # rug
    rugs = []
    if rng.random() < 0.6:
        hw, hd = rng.uniform(0.6, 1.3), rng.uniform(0.4, 0.9)
        ellipse = rng.random() < 0.25
        for _ in range(20):
            half = math.radians(HFOV_DEG) / 2 * 0.8
            ang = cam_yaw + rng.uniform(-half, half)
            dist = rng.uniform(1.3, 3.5)
            x, z = plan.cx + dist * math.sin(ang), plan.cz + dist * math.cos(ang)
            yaw = rng.uniform(-math.pi, math.pi)
            c, s = _rot_y(yaw)
            ex, ez = abs(c) * hw + abs(s) * hd, abs(s) * hw + abs(c) * hd
            if ex + 0.05 < x < lx - ex - 0.05 and ez + 0.05 < z < lz - ez - 0.05:
                rugs.append(_Rug(x, z, c, s, hw, hd, ellipse, _rug_painter(rng, hw, hd, ellipse)))
                break

    # lights
    n_lights = int(rng.integers(1, 4))
    lights = []
    boxes = [p.aabb() for o in objects for p in o.parts]
    while len(lights) < n_lights:
        q = np.array([rng.uniform(0.3, lx - 0.3), hc - rng.uniform(0.1, 0.5),
                      rng.uniform(0.3, lz - 0.3)])
        if not any(np.all(q > lo - 0.05) and np.all(q < hi + 0.05) for lo, hi in boxes):
            lights.append(q)
    power = rng.uniform(4.0, 8.0) * rng.dirichlet(np.full(n_lights, 2.0))
    ambient = float(rng.uniform(0.12, 0.30))

    delta = rng.uniform(-0.08, 0.12)
    sensor = dict(
        full_well=float(np.exp(rng.uniform(math.log(150), math.log(800)))),
        read_noise=float(rng.uniform(0.002, 0.008)),
        gamma=float(rng.uniform(2.0, 2.4)),
        tint=np.array([1 + delta, 1.0, 1 - delta]),
        key=float(rng.uniform(0.15, 0.25)),
        vignette=float(rng.uniform(0.0, 0.3)),
        blob_frac=float(rng.uniform(0.0, 0.03)),
    )
    return Scene(seed, room, cam_pos, cam_rot, shell, objects, decals, rugs,
                 np.array(lights), power, ambient, sensor)


# --------------------------------------------------------------------------------------------
# ray casting (vectorised over rays; loops over the handful of primitives)
# --------------------------------------------------------------------------------------------
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


def _value_noise_image(rng, h, w, cells):
    lat = rng.random((_LAT, _LAT))
    yy, xx = np.meshgrid(np.arange(h) * cells / h, np.arange(w) * cells / w, indexing='ij')
    return _fbm(lat, xx.ravel(), yy.ravel()).reshape(h, w)


def _blur3(img, sigma=0.5):
    k = math.exp(-1.0 / (2 * sigma * sigma))
    w0, w1 = 1.0 / (1 + 2 * k), k / (1 + 2 * k)
    p = np.pad(img, ((1, 1), (0, 0), (0, 0)), mode='edge')
    img = w0 * p[1:-1] + w1 * (p[:-2] + p[2:])
    p = np.pad(img, ((0, 0), (1, 1), (0, 0)), mode='edge')
    return w0 * p[:, 1:-1] + w1 * (p[:, :-2] + p[:, 2:])


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

    # ---- RGB sensor
    sn = scene.sensor
    alb8 = np.round(np.clip(albedo, 0, 1) * 255).astype(np.uint8)
    lin = _LINEAR_LUT[alb8]
    r2 = ((dc[:, 0] ** 2 + dc[:, 1] ** 2) / (1 + (h / w) ** 2) * (2 * f / w) ** 2)
    rad = lin * (shading * (1.0 - sn['vignette'] * r2))[:, None] * sn['tint'][None]
    lum = rad @ np.array([0.2126, 0.7152, 0.0722])
    exposure = np.clip(sn['key'] / max(float(lum.mean()), 1e-4), 0.2, 8.0)
    x = _blur3((rad * exposure).reshape(h, w, 3))
    x = x + np.sqrt(np.maximum(x, 0) / sn['full_well']) * noise_rng.standard_normal(x.shape)
    x = x + sn['read_noise'] * noise_rng.standard_normal(x.shape)
    x = np.clip(x, 0.0, 1.0) ** (1.0 / sn['gamma'])
    rgb = np.round(x * 255).astype(np.uint8)

    # ---- depth sensor
    z = t.reshape(h, w)
    sigma = 0.0012 + 0.0019 * (z - 0.4) ** 2
    zn = np.maximum(z + sigma * noise_rng.standard_normal(z.shape), 0.05)
    q = 2.85e-3
    zq = 1.0 / (np.maximum(np.round(1.0 / zn / q), 1.0) * q)
    valid = (z >= DEPTH_MIN) & (z <= DEPTH_MAX) & projector_visible.reshape(h, w)
    dn = d / np.sqrt(np.einsum('ij,ij->i', d, d))[:, None]
    graz = np.abs(np.einsum('ij,ij->i', dn, normal)).reshape(h, w)
    p_drop = np.clip((0.25 - graz) / 0.15, 0.0, 1.0)
    valid &= noise_rng.random(z.shape) >= p_drop
    disp = 1.0 / z
    pd = np.pad(disp, 1, mode='edge')
    lap = np.maximum(np.abs(pd[1:-1, :-2] + pd[1:-1, 2:] - 2 * disp),
                     np.abs(pd[:-2, 1:-1] + pd[2:, 1:-1] - 2 * disp))
    edge = lap > 0.04 * disp
    valid &= ~(edge & (noise_rng.random(z.shape) < 0.35))
    if sn['blob_frac'] > 0:
        field_ = _value_noise_image(noise_rng, h, w, 6.0)
        valid &= field_ < np.quantile(field_, 1.0 - sn['blob_frac'])
    depth = np.where(valid, zq, 0.0).astype(np.float32)

    return {
        'rgb': rgb,
        'depth': depth,
        'normal': (normal @ rot).reshape(h, w, 3).astype(np.float32),
        'albedo': alb8.reshape(h, w, 3),
        'shading': shading.reshape(h, w).astype(np.float32),
        'label': label.reshape(h, w),
        'depth_clean': z.astype(np.float32),
        'projector_visible': projector_visible.reshape(h, w),
    }


def render_scene(seed: int, height: int = 64, width: int = 64) -> dict[str, np.ndarray]:
    """Render scene ``seed`` (deterministic) at ``height x width``.

    Returns ``{'rgb': uint8 [H, W, 3], 'depth': float32 [H, W] (metres, 0 = hole),
    'normal': float32 [H, W, 3] (unit, camera frame x right / y down / z forward, clean),
    'albedo': uint8 [H, W, 3] (clean sRGB texture), 'shading': float32 [H, W] (Lambertian incl.
    shadows, clean, in [0, 1.5]), 'label': uint8 [H, W] (class index or 255)}``.
    """
    out = render_layout(sample_scene(seed), height, width)
    return {k: out[k] for k in KEYS}


# --------------------------------------------------------------------------------------------
# splits and cache
# --------------------------------------------------------------------------------------------
def _empty_split(n, h, w):
    return {'rgb': np.zeros((n, h, w, 3), np.uint8), 'depth': np.zeros((n, h, w), np.float32),
            'normal': np.zeros((n, h, w, 3), np.float32),
            'albedo': np.zeros((n, h, w, 3), np.uint8),
            'shading': np.zeros((n, h, w), np.float32), 'label': np.zeros((n, h, w), np.uint8)}


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
