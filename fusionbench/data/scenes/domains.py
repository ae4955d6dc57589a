"""Taskonomy-style derived domains: ``reshading`` and ``edge_texture``.

Both are computed from quantities the renderer already has (surface normals, ray directions,
clean albedo and shading) and draw **no** random numbers, so adding them leaves every other
output of the generator bit-identical.

``reshading`` -- shading under a canonical light (Taskonomy, Zamir et al. CVPR 2018, supp.:
"re-shading" renders the scene with a single point light at the camera origin). A point light
at the camera centre lights every visible point and casts no visible shadow, so the image is
the Lambertian term ``max(0, n . v)`` with ``v`` the unit vector from the surface point to the
camera. We leave out the ``1/d^2`` fall-off (our choice: with it, reshading would largely be a
transformed depth map; without it the domain carries orientation only, as Taskonomy's images
look). Float32 ``[H, W]`` in ``[0, 1]``. Unlike ``shading`` it does not depend on the scene's
lights: no cast shadows, no light layout, no ambient term, no texture.

``edge_texture`` -- 2-D texture edges (Taskonomy's "2D edges": a Canny edge detector without
non-maximum suppression or hysteresis, applied to the RGB image). We apply it to the *clean*
render (sRGB-encoded ``albedo_linear x shading``, gamma 2.2, no sensor noise, tint, exposure or
vignetting -- Taskonomy's RGB is itself a clean render): Gaussian smoothing (sigma 1 px), Sobel
gradients of the luminance, gradient magnitude, clipped to ``[0, 1]``. Float32 ``[H, W]``.
It sees the boundaries of texture, decals, objects (through albedo or shading changes) and
cast shadows; it cannot see flat colours or smooth shading, and it keeps no colour.

How far each is from RGB: R^2 of a per-pixel linear least-squares fit of the RGB image (per
channel, with a bias, pooled over channels and pixels) from the domain's per-pixel values, 40
scenes at 64 x 64, ``generate_split(40, 64, 64, seed=0)``, computed by :func:`rgb_predictability`
(1 = RGB is an affine function of the domain at each pixel; 0 = no linear information):

========================  ======  ===============================================================
domain(s)                 R^2     note
========================  ======  ===============================================================
albedo                    0.621   colour is most of RGB
albedo x shading (lin.)   0.598   the clean image; the rest is exposure, gamma, tint, noise
shading                   0.145
normal                    0.046
depth                     0.031
reshading                 0.020   orientation only
edge_texture              0.010   boundaries only: no colour, no brightness
reshading + edge_texture  0.033   the Shade+Texture input pair of Table 4
========================  ======  ===============================================================

So "reshading + edge_texture -> RGB" and "depth + normal -> RGB" are far from closed form: the
network has to infer colour and brightness from shape and boundaries (as on Taskonomy).
"""
from __future__ import annotations

import numpy as np

from fusionbench.data.scenes.constants import _LINEAR_LUT

EDGE_SIGMA_PX = 1.0
_LUMA = np.array([0.2126, 0.7152, 0.0722])


def reshading(normal: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Lambertian shading from a point light at the camera centre, no fall-off.

    Args:
        normal: world-frame unit normals ``[n, 3]``.
        d: world-frame ray directions ``[n, 3]`` (any length; from the camera to the point).

    Returns:
        float32 ``[n]`` in ``[0, 1]``: ``max(0, -n . d / |d|)``.
    """
    dn = d / np.sqrt(np.einsum('ij,ij->i', d, d))[:, None]
    return np.clip(-np.einsum('ij,ij->i', normal, dn), 0.0, 1.0).astype(np.float32)


def _gauss_kernel(sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-x * x / (2 * sigma * sigma))
    return k / k.sum()


def _conv_sep(img: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """Separable 2-D correlation with edge padding: ``ky`` along rows (y), ``kx`` along x."""
    rx, ry = len(kx) // 2, len(ky) // 2
    p = np.pad(img, ((0, 0), (rx, rx)), mode='edge')
    out = sum(kx[i] * p[:, i:i + img.shape[1]] for i in range(len(kx)))
    p = np.pad(out, ((ry, ry), (0, 0)), mode='edge')
    return sum(ky[i] * p[i:i + img.shape[0]] for i in range(len(ky)))


def edge_texture(albedo8: np.ndarray, shading: np.ndarray, h: int, w: int,
                 sigma: float = EDGE_SIGMA_PX) -> np.ndarray:
    """Canny-without-NMS edges of the clean render.

    Args:
        albedo8: uint8 sRGB albedo ``[n, 3]`` (``n = h * w``).
        shading: clean shading ``[n]`` (the renderer's, in ``[0, 1.5]``).
        h, w: image size.
        sigma: Gaussian smoothing in pixels before the Sobel operator.

    Returns:
        float32 ``[H, W]`` in ``[0, 1]``: Sobel gradient magnitude of the smoothed luminance
        (luminance in ``[0, 1]``; the Sobel kernels are normalised to unit gain, so a step of
        height ``a`` peaks near ``a / 2``), times 2, clipped.
    """
    lin = _LINEAR_LUT[albedo8] * np.asarray(shading, np.float64)[:, None]
    lum = np.clip(lin @ _LUMA, 0.0, 1.0) ** (1 / 2.2)
    img = _conv_sep(lum.reshape(h, w), _gauss_kernel(sigma), _gauss_kernel(sigma))
    smooth, diff = np.array([1.0, 2.0, 1.0]) / 4, np.array([-1.0, 0.0, 1.0]) / 2
    gx = _conv_sep(img, diff, smooth)
    gy = _conv_sep(img, smooth, diff)
    return np.clip(2 * np.hypot(gx, gy), 0.0, 1.0).astype(np.float32)


def rgb_predictability(rgb: np.ndarray, domain: np.ndarray) -> float:
    """R^2 of a per-pixel linear regression of RGB from a domain (how far it is from RGB).

    Args:
        rgb: uint8 ``[K, H, W, 3]``.
        domain: ``[K, H, W]`` or ``[K, H, W, C]`` (any numeric dtype).

    Returns:
        Pooled R^2 in ``[0, 1]`` of the least-squares fit ``rgb_c ~ a_c . domain + b_c`` over all
        pixels of all images (1 = RGB is an affine function of the domain per pixel).
    """
    y = rgb.reshape(-1, 3).astype(np.float64) / 255.0
    x = np.asarray(domain, np.float64).reshape(len(y), -1)
    x = np.concatenate([x, np.ones((len(y), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    resid = ((y - x @ coef) ** 2).sum()
    total = ((y - y.mean(axis=0)) ** 2).sum()
    return float(1.0 - resid / total)
