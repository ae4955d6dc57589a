"""Scene sampling: room, camera, floor plan, furniture placement, decals, lights and sensor
parameters, all drawn from one seeded stream."""
from __future__ import annotations

import math

import numpy as np

from fusionbench.data.scenes.constants import (
    BALL, CABINET, CHAIR, DOOR, HFOV_DEG, IGNORE_INDEX, LAMP, PICTURE, PILLAR, SOFA, TABLE,
    WHITEBOARD, _SCENE_STREAM)
from fusionbench.data.scenes.materials import (
    _PAINTS, _Tex, _WOODS, _jitter, _pick, _tex_fabric, _tex_paint, _tex_wood)
from fusionbench.data.scenes.geometry import (
    Scene, _Object, _WALLS, _horizontal_wall_hit, _rot_y, _wall_frame)
from fusionbench.data.scenes.furniture import (
    _build_ball, _build_cabinet, _build_chair, _build_lamp, _build_sofa, _build_table, _camo_parts,
    _chair_dims, _clutter_parts, _lamp_dims, _table_dims)
from fusionbench.data.scenes.decals import (
    _Rug, _WallDecal, _door_painter, _picture_painter, _rug_painter, _whiteboard_painter)

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
