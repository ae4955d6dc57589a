"""Constants of the scene generator: classes, palette, modalities, camera and sensor constants."""
from __future__ import annotations

import numpy as np

# 1.1: adds the derived domains 'reshading' and 'edge_texture' (every 1.0 output unchanged, but a
# 1.0 cache file lacks the two keys, so the cache name must change).
GENERATOR_VERSION = 'scenes-1.1'

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
    'reshading': 'clean Lambertian shading from a light at the camera (Taskonomy re-shading): sees '
                 'surface orientation incl. the pillar; cannot see texture, flat objects, the '
                 "scene's lights nor cast shadows",
    'edge_texture': 'Canny-style 2-D edges of the clean render (Taskonomy 2D edges): sees texture, '
                    'decal, object and shadow boundaries; cannot see colour, flat regions nor '
                    'smooth shading',
}

IGNORE_INDEX = 255
KEYS = ('rgb', 'depth', 'normal', 'albedo', 'shading', 'label', 'reshading', 'edge_texture')

(WALL, FLOOR, CEILING, TABLE, CABINET, CHAIR, SOFA, LAMP, BALL, PICTURE, RUG, DOOR, WHITEBOARD,
 PILLAR) = range(len(CLASSES))

HFOV_DEG = 60.0
DEPTH_MIN, DEPTH_MAX = 0.5, 6.0
PROJECTOR_BASELINE = 0.075
_EPS = 1e-6
_SCENE_STREAM, _NOISE_STREAM = 0x5CE, 0x4015E
_LAT = 32  # value-noise lattice size
_LINEAR_LUT = (np.arange(256) / 255.0) ** 2.2   # sRGB-ish 8-bit albedo -> linear reflectance
