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
============  ========================================  =========================================
modality      can see                                   cannot see
============  ========================================  =========================================
rgb           colour edges (picture, rug, door,         the pillar, except through shading and
              whiteboard), materials, shading and       shadow differences; anything whose colour
              cast shadows (hence some geometry);       and shading match its surroundings
              noisy, exposure varies per image
depth         3-D geometry incl. the pillar (metric,    picture, rug, door, whiteboard (zero
              noisy, quantised)                         thickness); anything in a hole (range,
                                                        projector shadow, grazing, edges, blobs)
normal        clean orientation: objects, pillar        picture, rug, door, whiteboard; an object
              faces, wall vs floor vs ceiling           face parallel to the wall behind it
albedo        clean texture: every colour-only          the pillar (its albedo is what is behind
              object, furniture materials               it), shape, lighting
shading       clean Lambertian shading incl. cast       picture, rug, door, whiteboard; texture
              shadows: geometry and light layout
reshading     clean Lambertian shading from a light at  picture, rug, door, whiteboard; texture;
              the camera (Taskonomy re-shading):        the scene's lights and cast shadows
              surface orientation incl. the pillar
edge_texture  2-D edges of the clean render (Taskonomy  colour, flat regions, smooth shading
              "2D edges", Canny without NMS): texture,
              decal, object and shadow boundaries
label         ground truth (255 = clutter)              --
============  ========================================  =========================================

The same table, one line per modality, is :data:`MODALITIES`.

Modules
-------
``constants`` (classes, palette, modalities, camera and sensor constants), ``materials``
(palettes, procedural textures), ``geometry`` (primitives, objects, the room shell),
``furniture`` (object builders), ``decals`` (colour-only objects), ``layout`` (scene sampling
from a seed), ``raycast`` (hits, shadows, normals), ``sensors`` (RGB and depth camera models),
``domains`` (the derived Taskonomy-style domains ``reshading`` and ``edge_texture``: what they
are and how far each is from RGB), ``render`` (one scene to arrays), ``cache`` (splits and
their on-disk cache).
"""
from fusionbench.data.scenes.cache import cache_path, generate_split, load_or_generate
from fusionbench.data.scenes.constants import (
    BALL, CABINET, CEILING, CHAIR, CLASSES, DEPTH_MAX, DEPTH_MIN, DOOR, FLOOR, GENERATOR_VERSION,
    HFOV_DEG, IGNORE_INDEX, KEYS, LAMP, MODALITIES, PALETTE, PICTURE, PILLAR, PROJECTOR_BASELINE,
    RUG, SOFA, TABLE, WALL, WHITEBOARD)
from fusionbench.data.scenes.geometry import Scene
from fusionbench.data.scenes.layout import sample_scene, scene_seed
from fusionbench.data.scenes.render import render_layout, render_scene

__all__ = ['GENERATOR_VERSION', 'CLASSES', 'PALETTE', 'MODALITIES', 'IGNORE_INDEX', 'KEYS',
           'Scene', 'sample_scene', 'render_layout', 'render_scene', 'scene_seed',
           'generate_split', 'load_or_generate', 'cache_path', 'HFOV_DEG', 'DEPTH_MIN',
           'DEPTH_MAX', 'PROJECTOR_BASELINE', 'WALL', 'FLOOR', 'CEILING', 'TABLE', 'CABINET',
           'CHAIR', 'SOFA', 'LAMP', 'BALL', 'PICTURE', 'RUG', 'DOOR', 'WHITEBOARD', 'PILLAR']
