"""Sensor models: a small-pixel colour camera and a Kinect-v1-like structured-light depth camera.

Both draw from the scene's noise stream (RGB first, then depth), so their order is part of the
generator's output (see :data:`~.constants.GENERATOR_VERSION`). The models and their sources are
described in the package docstring (:mod:`fusionbench.data.scenes`).
"""
from __future__ import annotations

import math

import numpy as np

from fusionbench.data.scenes.constants import DEPTH_MAX, DEPTH_MIN, _LAT, _LINEAR_LUT
from fusionbench.data.scenes.materials import _fbm

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



def rgb_camera(albedo, shading, dc, h, w, f, sn, noise_rng):
    """Clean albedo ``[n, 3]`` (sRGB in [0, 1]) and shading ``[n]`` -> ``(albedo uint8 [n, 3],
    rgb uint8 [H, W, 3])``: vignetting, illuminant tint, auto-exposure, optical PSF, shot and
    read noise, gamma, 8 bits. ``dc`` are the camera-frame ray directions ``[n, 3]``, ``f`` the
    focal length in pixels, ``sn`` the scene's sensor parameters."""
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

    return alb8, rgb


def depth_sensor(t, d, normal, projector_visible, h, w, sn, noise_rng):
    """Clean camera-frame z ``t`` ``[n]`` (metres) -> noisy, quantised depth ``float32 [H, W]``
    with holes (0): range, projector shadow, grazing incidence, depth edges, dropout blobs.
    ``d`` are the world-frame ray directions ``[n, 3]``, ``normal`` the world normals ``[n, 3]``,
    ``projector_visible`` bool ``[n]``."""
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

    return depth
