"""Scene description: analytic primitives (boxes, cylinders, spheres), objects, the room shell
and the object-local builder."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from fusionbench.data.scenes.constants import CEILING, FLOOR, WALL
from fusionbench.data.scenes.materials import _Tex

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
