"""Synthetic Perlin-noise clouds over clear images (the EuroSAT cloud-removal reference recipe).

The reference: for each image ``base_scale ~ U(5, 120)`` and ``alpha ~ U(0, 1)``; octave
``k = 1..12`` adds ``noise.pnoise2(i / s, j / s, octaves=1, repeatx=w, repeaty=h, base=0)`` at
``s = base_scale / k`` (``i`` the row, ``j`` the column) weighted by ``persistence ** k``
(0.5); the sum is min-max normalised to [0, 1], repeated to 3 channels and blended as
``image * (1 - alpha) + clouds * alpha``.

Two implementations:

- :func:`reference_clouds` calls ``noise.pnoise2`` per pixel (the reference; slow).
- :func:`perlin2` / :func:`perlin_clouds` are a vectorised TensorFlow port of the ``noise``
  package's C ``noise2`` (perlin.c): Ken Perlin's permutation table, ``GRAD3[hash & 15]``
  gradients, ``fmodf`` wrapping of the lattice cell by ``repeatx``/``repeaty`` (sign of the
  dividend, like C), ``& 255`` plus ``base``, quintic fade ``x*x*x*(x*(x*6-15)+10)`` and
  ``lerp(t, a, b) = a + t*(b-a)``, all in float32 with C's evaluation order, so values match
  ``pnoise2`` bit for bit (the tests allow 1e-6). Coordinates are formed in float64 and
  rounded to float32, as the C extension's ``"f"`` argument parsing does. Work that depends on
  one axis only is done per row and per column; per pixel there is one table lookup per corner
  and the blend, which ``xla=True`` compiles into one fused loop (about 200x the reference loop
  on 2 CPU cores; products are kept out of FMAs so it stays within about 1 ulp). It runs on
  whole batches, eagerly or inside ``tf.data``.

Besides the reference's grey veils, :func:`synthesize_clouds` draws clouds as they form an image
seen from orbit (``kind=`` on :func:`cloud_pairs_dataset`, ``clouds=`` on the cloud-removal
entries): thin cirrus and haze (a smooth, partly streaky transmittance with a bright bluish or
dusty path radiance), thick cumulus (opaque fractal cores, soft ragged edges, light grey to white
with bright tops), the shadows they cast (the same cloud field displaced by a sun vector,
darkening the ground multiplicatively), and a per-image mix of all of these with clear tiles.
Each comes with its mask: the share of the ground's signal lost at each pixel, exactly 0 where
the image is untouched.

Cloud pairs are made on the fly by :func:`cloud_pairs_dataset` (fresh clouds every epoch,
reproducible from a seed through stateless RNG keyed by (seed, batch index), optionally on
tiles resampled to other pixel sizes and with varied ground) or written to disk once by
:func:`write_cloud_pairs` (the reference's way).
"""
from __future__ import annotations

import math
import os
from typing import Sequence

import noise
import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from ..imaging import to_uint8, write_image
from .common import AUTOTUNE

OCTAVES = 12
PERSISTENCE = 0.5
LACUNARITY = 2.0  # named by the reference; its octave k uses scale base_scale / k
SCALE_RANGE = (5.0, 120.0)
ALPHA_RANGE = (0.0, 1.0)

# Ken Perlin's permutation table, as in the noise package's _noise.h (PERM holds it twice).
PERM = np.array([
    151, 160, 137, 91, 90, 15, 131, 13, 201, 95, 96, 53, 194, 233, 7, 225, 140, 36, 103, 30, 69, 142, 8, 99, 37,
    240, 21, 10, 23, 190, 6, 148, 247, 120, 234, 75, 0, 26, 197, 62, 94, 252, 219, 203, 117, 35, 11, 32, 57, 177,
    33, 88, 237, 149, 56, 87, 174, 20, 125, 136, 171, 168, 68, 175, 74, 165, 71, 134, 139, 48, 27, 166, 77, 146,
    158, 231, 83, 111, 229, 122, 60, 211, 133, 230, 220, 105, 92, 41, 55, 46, 245, 40, 244, 102, 143, 54, 65, 25,
    63, 161, 1, 216, 80, 73, 209, 76, 132, 187, 208, 89, 18, 169, 200, 196, 135, 130, 116, 188, 159, 86, 164, 100,
    109, 198, 173, 186, 3, 64, 52, 217, 226, 250, 124, 123, 5, 202, 38, 147, 118, 126, 255, 82, 85, 212, 207, 206,
    59, 227, 47, 16, 58, 17, 182, 189, 28, 42, 223, 183, 170, 213, 119, 248, 152, 2, 44, 154, 163, 70, 221, 153,
    101, 155, 167, 43, 172, 9, 129, 22, 39, 253, 19, 98, 108, 110, 79, 113, 224, 232, 178, 185, 112, 104, 218, 246,
    97, 228, 251, 34, 242, 193, 238, 210, 144, 12, 191, 179, 162, 241, 81, 51, 145, 235, 249, 14, 239, 107, 49,
    192, 214, 31, 181, 199, 106, 157, 184, 84, 204, 176, 115, 121, 50, 45, 127, 4, 150, 254, 138, 236, 205, 93,
    222, 114, 67, 29, 24, 72, 243, 141, 128, 195, 78, 66, 215, 61, 156, 180], np.int32)
# The first two columns of the noise package's GRAD3 (the 2D gradient of hash & 15).
GRAD2 = np.array([[1, 1], [-1, 1], [1, -1], [-1, -1], [1, 0], [-1, 0], [1, 0], [-1, 0],
                  [0, 1], [0, -1], [0, 1], [0, -1], [1, 0], [-1, 0], [0, -1], [0, 1]], np.float32)


# Corner gradient of lattice hash ``t = PERM[i] + j`` is GRAD2[PERM[PERM[t]] & 15]: one (512, 2)
# table folds the last two lookups, so each corner costs one gather instead of three.
_CORNER_GRADIENT = GRAD2[np.concatenate([PERM, PERM])[np.concatenate([PERM, PERM])] & 15]


def _product(a, b):
    """``a * b`` rounded once to float32, computed in a form that XLA/LLVM cannot contract into a
    fused multiply-add with a following addition (the product of two float32 numbers is exact in
    float64, so the cast back rounds exactly as a float32 multiply does)."""
    return tf.cast(tf.cast(a, tf.float64) * tf.cast(b, tf.float64), tf.float32)


def _blend_corners(a, b, x, fx, j, jj, y, fy, product):
    """The per-point half of ``noise2``: the four corner gradients dotted with the offsets and the
    bilinear blend by the fade weights (``lerp(t, lo, hi) = lo + t*(hi - lo)``, C's order)."""
    table = tf.constant(_CORNER_GRADIENT)

    def grad(corner, gx, gy):  # GRAD2 entries are 0 or +-1, so these products are exact
        g = tf.gather(table, corner)
        return gx * g[..., 0] + gy * g[..., 1]

    def lerp(t, lo, hi):
        return lo + product(t, hi - lo)

    x1, y1 = x - 1.0, y - 1.0
    return lerp(fy, lerp(fx, grad(a + j, x, y), grad(b + j, x1, y)),
                lerp(fx, grad(a + jj, x, y1), grad(b + jj, x1, y1)))


_blend_corners_xla = tf.function(
    lambda a, b, x, fx, j, jj, y, fy: _blend_corners(a, b, x, fx, j, jj, y, fy, _product), jit_compile=True)


def perlin2(x, y, repeatx: float = 1024.0, repeaty: float = 1024.0, base: int = 0, xla: bool = False) -> tf.Tensor:
    """``noise.pnoise2(x, y, octaves=1, repeatx=repeatx, repeaty=repeaty, base=base)``, elementwise.

    ``x`` and ``y`` are arrays or tensors that broadcast together (rounded to float32, as the C
    extension does); returns float32. Everything that depends on one coordinate only (lattice
    cell, wrap, first hash, fade) is computed before broadcasting, so a grid is cheap:
    ``perlin2(rows[:, None], cols[None, :])``. ``xla=True`` compiles the per-point part with XLA
    (several times faster on CPU, also inside ``tf.data``; products are kept from fusing into FMAs,
    so values stay within about 1 float32 ulp of ``pnoise2``). Only ``base=0`` (the reference's)
    is supported: with a positive base the C code can index past its 512-entry table.
    """
    if base != 0:
        raise Pix2GanError(f"perlin2 base={base} is not supported: use base=0 (noise.pnoise2 reads past its "
                           "table for other bases)")
    perm = tf.constant(np.concatenate([PERM, PERM]))

    def axis(v, repeat):
        v = tf.cast(v, tf.float32)
        r = tf.constant(repeat, tf.float32)
        i = tf.cast(tf.floor(tf.truncatemod(v, r)), tf.int32)            # floorf(fmodf(v, r))
        ii = tf.cast(tf.truncatemod(tf.cast(i + 1, tf.float32), r), tf.int32)  # (int)fmodf(i + 1, r)
        v = v - tf.floor(v)
        fade = v * v * v * (v * (v * 6.0 - 15.0) + 10.0)
        return tf.bitwise.bitwise_and(i, 255), tf.bitwise.bitwise_and(ii, 255), v, fade

    i, ii, x, fx = axis(x, repeatx)
    j, jj, y, fy = axis(y, repeaty)
    a, b = tf.gather(perm, i), tf.gather(perm, ii)
    if xla:
        return _blend_corners_xla(a, b, x, fx, j, jj, y, fy)
    return _blend_corners(a, b, x, fx, j, jj, y, fy, tf.multiply)


def _normalise(noise_map, axes):
    lo = tf.reduce_min(noise_map, axis=axes, keepdims=True)
    hi = tf.reduce_max(noise_map, axis=axes, keepdims=True)
    return (noise_map - lo) / tf.maximum(hi - lo, 1e-12)


def perlin_clouds(base_scale, height: int, width: int, octaves: int = OCTAVES,
                  persistence: float = PERSISTENCE, xla: bool = False) -> tf.Tensor:
    """Cloud maps in [0, 1], shape ``(batch, height, width)`` float32, one per ``base_scale`` entry.

    Same maths as :func:`reference_clouds`, for a whole batch at once (octaves summed in
    float32: within 1e-6 of the reference's float64 sum). ``xla``: see :func:`perlin2`.
    """
    if not tf.is_tensor(base_scale):
        base_scale = np.asarray(base_scale, np.float64)  # not via float32, which would round the scales
    base_scale = tf.reshape(tf.cast(base_scale, tf.float64), (-1, 1, 1, 1))
    k = tf.reshape(tf.range(1, octaves + 1, dtype=tf.float64), (1, -1, 1, 1))
    scale = base_scale / k                                           # (B, K, 1, 1)
    rows = tf.reshape(tf.range(height, dtype=tf.float64), (1, 1, -1, 1))
    cols = tf.reshape(tf.range(width, dtype=tf.float64), (1, 1, 1, -1))
    noise_values = perlin2(rows / scale, cols / scale, float(width), float(height), xla=xla)
    weights = tf.reshape(tf.constant([persistence ** k for k in range(1, octaves + 1)], tf.float32), (1, -1, 1, 1))
    return _normalise(tf.reduce_sum(noise_values * weights, axis=1), [1, 2])


def reference_clouds(height: int, width: int, base_scale: float, octaves: int = OCTAVES,
                     persistence: float = PERSISTENCE) -> np.ndarray:
    """The reference cloud map: a per-pixel ``noise.pnoise2`` loop, min-max normalised (float64)."""
    out = np.zeros((height, width))
    for i in range(height):
        for j in range(width):
            value = 0.0
            for k in range(1, octaves + 1):
                s = base_scale / k
                value += persistence ** k * noise.pnoise2(i / s, j / s, octaves=1, repeatx=width, repeaty=height, base=0)
            out[i, j] = value
    lo, hi = out.min(), out.max()
    return (out - lo) / max(hi - lo, 1e-12)


def blend_clouds(images, clouds, alpha):
    """``images * (1 - alpha) + clouds * alpha``: images (B, H, W, C) in [0, 1], clouds (B, H, W)
    in [0, 1] (repeated over channels) or (B, H, W, C) (coloured), alpha (B,)."""
    images = tf.convert_to_tensor(images, tf.float32)
    alpha = tf.reshape(tf.cast(alpha, tf.float32), (-1, 1, 1, 1))
    clouds = tf.cast(clouds, tf.float32)
    if clouds.shape.rank == 3:
        clouds = clouds[..., None]
    return images * (1.0 - alpha) + clouds * alpha


CLOUD_KINDS = ("grey", "thin", "thick", "shadow", "mixed")
# per-image draw of the "mixed" kind: grey, thin, thick, thick + shadow, thin + thick + shadow, clear
MIXED_KINDS = ("grey", "thin", "thick", "shadow", "thin+shadow", "clear")
MIXED_WEIGHTS = (0.4, 0.1, 0.1, 0.25, 0.1, 0.05)  # grey-heavier measured better at 188 steps (bench/clouds.py)
NOISE_REPEAT = 65536.0   # lattice period far beyond any coordinate used, so fields never wrap
FBM_OCTAVES = 6
OFFSET_RANGE = 2048.0  # pixels; keeps noise coordinates small enough for float32 fractions


def check_cloud_kind(kind: str) -> None:
    """Refuse an unknown cloud kind with the list of known ones."""
    if kind not in CLOUD_KINDS:
        raise Pix2GanError(f"unknown cloud kind {kind!r}: use one of {', '.join(CLOUD_KINDS)}", argument="clouds")


def sample_cloud_params(batch: int, seed, scale_range: Sequence[float] = SCALE_RANGE,
                        alpha_range: Sequence[float] = ALPHA_RANGE) -> tuple[tf.Tensor, tf.Tensor]:
    """(base_scale, alpha), each (batch,), from the stateless RNG seed ``seed`` (two integers)."""
    u = tf.random.stateless_uniform((2, batch), seed=tf.cast(seed, tf.int64), dtype=tf.float64)
    scale = scale_range[0] + u[0] * (scale_range[1] - scale_range[0])
    alpha = alpha_range[0] + u[1] * (alpha_range[1] - alpha_range[0])
    return scale, tf.cast(alpha, tf.float32)


def _uniform(u, lo, hi):
    return lo + u * (hi - lo)


def _log_uniform(u, lo, hi):
    return tf.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))


def _smoothstep(lo, hi, x):
    t = tf.clip_by_value((x - lo) / tf.maximum(hi - lo, 1e-6), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def fbm(height: int, width: int, scale, offset, angle=None, stretch=None, octaves: int = FBM_OCTAVES) -> tf.Tensor:
    """Fractal Perlin noise (lacunarity 2, persistence 0.5), shape (B, H, W), roughly in [-0.5, 0.5].

    Per image: the feature size ``scale`` in pixels, the position ``offset`` (B, 2) of the tile's
    first pixel in the noise plane (row, column; in pixels), and optionally a rotation ``angle``
    (radians) and a ``stretch`` >= 1 along the rotated rows (streaks, as cirrus has). The field is
    a function of absolute position, so the same field read at ``offset + v`` is the same clouds
    moved by ``-v``: that is how shadows are cast.
    """
    b = tf.shape(scale)[0]
    rows = tf.reshape(tf.range(height, dtype=tf.float32), (1, -1, 1)) + tf.reshape(offset[:, 0], (-1, 1, 1))
    cols = tf.reshape(tf.range(width, dtype=tf.float32), (1, 1, -1)) + tf.reshape(offset[:, 1], (-1, 1, 1))
    if angle is not None:
        c, s = tf.reshape(tf.cos(angle), (-1, 1, 1)), tf.reshape(tf.sin(angle), (-1, 1, 1))
        rows, cols = rows * c - cols * s, rows * s + cols * c
        rows = rows / tf.reshape(stretch, (-1, 1, 1))
    rows = tf.broadcast_to(rows, (b, height, width))
    cols = tf.broadcast_to(cols, (b, height, width))
    total = tf.zeros((b, height, width))
    norm = 0.0
    for k in range(octaves):
        s = tf.reshape(scale, (-1, 1, 1)) / 2.0 ** k
        total += 0.5 ** k * perlin2(rows / s, cols / s, NOISE_REPEAT, NOISE_REPEAT, xla=True)
        norm += 0.5 ** k
    return total / norm


def _grey(clear, seed):
    """The reference: Perlin maps (scale U(5, 120)) blended with opacity ``alpha`` U(0, 1)."""
    scale, alpha = sample_cloud_params(tf.shape(clear)[0], seed)
    maps = perlin_clouds(scale, int(clear.shape[1]), int(clear.shape[2]), xla=True)
    cloudy = blend_clouds(clear, maps, alpha)
    return cloudy, tf.ones_like(maps) * tf.reshape(alpha, (-1, 1, 1))


def _thin(clear, u):
    """Cirrus and haze: a smooth, low-contrast, partly streaky transmittance ``T = 1 - o`` and a
    bright bluish-white (or dusty) path radiance ``L``: ``x = T y + (1 - T) L``."""
    h, w = int(clear.shape[1]), int(clear.shape[2])
    field = fbm(h, w, _log_uniform(u[0], 24.0, 400.0), OFFSET_RANGE * tf.stack([u[1], u[2]], -1),
                angle=_uniform(u[3], 0.0, math.pi), stretch=_uniform(u[4], 1.0, 4.0), octaves=4)
    threshold = tf.reshape(_uniform(u[5], -0.25, 0.1), (-1, 1, 1))
    thickness = tf.reshape(_uniform(u[6], 0.15, 0.75), (-1, 1, 1))
    opacity = thickness * _smoothstep(threshold - 0.15, threshold + 0.25, field)
    tint = tf.stack([_uniform(u[7], 0.86, 0.97), _uniform(u[7], 0.92, 0.99), tf.ones_like(u[7])], -1)
    tint = tf.where(tf.reshape(u[8] < 0.2, (-1, 1)), tint[:, ::-1], tint)  # a fifth dusty-yellow instead of blue
    radiance = tf.reshape(_uniform(u[9], 0.7, 1.0), (-1, 1)) * tint
    return opacity, tf.reshape(radiance, (-1, 1, 1, 3))


def _cumulus(clear, u, sun=None):
    """Thick cumulus and its shadow. Returns (opacity, radiance (B, H, W, C), shadow factor S).

    Density is fractal noise; the cloud is ``o = smoothstep(t, t + e, d)``: opaque cores, soft
    edges of width ``e`` made ragged by the noise's fine octaves. Radiance goes from light grey
    at the edges to white on the thick, sharply bright tops. The shadow is the same density read
    at a position displaced by the sun vector ``v`` (its length is cloud height x tan(solar zenith)
    / pixel size; drawn as 0.2-1.5 cloud sizes, at any azimuth): ``S = 1 - k o(p + v)`` with
    ``k`` U(0.35, 0.75), the direct sunlight lost (the diffuse sky light remains).
    """
    h, w = int(clear.shape[1]), int(clear.shape[2])
    scale = _log_uniform(u[10], 8.0, 256.0)
    offset = OFFSET_RANGE * tf.stack([u[11], u[12]], -1)
    density = fbm(h, w, scale, offset)
    threshold = tf.reshape(_uniform(u[13], -0.05, 0.2), (-1, 1, 1))
    edge = tf.reshape(_uniform(u[14], 0.02, 0.1), (-1, 1, 1))
    opacity = _smoothstep(threshold, threshold + edge, density)
    base = tf.reshape(_uniform(u[15], 0.72, 0.92), (-1, 1, 1))
    brightness = base + (1.0 - base) * _smoothstep(threshold + edge, threshold + 4.0 * edge, density)
    tint = 1.0 + 0.03 * (tf.stack([u[16], u[17], u[18]], -1) - 0.5)
    radiance = tf.clip_by_value(brightness[..., None] * tf.reshape(tint, (-1, 1, 1, 3)), 0.0, 1.0)
    if sun is None:
        azimuth = _uniform(u[19], 0.0, 2.0 * math.pi)
        length = _uniform(u[20], 0.2, 1.5) * scale
        sun = tf.stack([length * tf.sin(azimuth), length * tf.cos(azimuth)], -1)
    shadow_opacity = _smoothstep(threshold, threshold + edge, fbm(h, w, scale, offset + sun))
    darkness = tf.reshape(_uniform(u[21], 0.35, 0.75), (-1, 1, 1))
    return opacity, radiance, 1.0 - darkness * shadow_opacity


def synthesize_clouds(clear, seed, kind: str = "grey", sun=None) -> tuple[tf.Tensor, tf.Tensor]:
    """Cover clear [0, 1] images (B, H, W, C) with clouds of ``kind``; returns ``(cloudy, mask)``.

    The image model: ground ``y`` darkened by cloud shadow ``S``, seen through thick cloud of
    opacity ``o_c`` and radiance ``C`` and thin cloud of opacity ``o_t`` and path radiance ``L``:
    ``x = ((S y)(1 - o_c) + o_c C)(1 - o_t) + o_t L``. ``mask = 1 - S (1 - o_c)(1 - o_t)`` is the
    share of the ground's signal lost at each pixel (B, H, W): exactly 0 where ``x == y``.

    - ``grey``: the reference (module doc): ``x = (1 - a) y + a c``, mask ``a`` everywhere.
    - ``thin``: cirrus / haze only (see ``_thin``).
    - ``thick``: cumulus without shadows; ``shadow``: cumulus with their shadows (``_cumulus``).
    - ``mixed``: per image one of grey, thin, thick, shadow, thin + shadow-casting cumulus, or
      no cloud at all (weights :data:`MIXED_WEIGHTS`).

    Cloud sizes are drawn log-uniformly over a wide range (8-256 px cumulus, 24-400 px cirrus),
    so the same tile sees clouds as at many pixel sizes. ``seed`` is two integers (stateless: the
    same seed gives the same clouds); ``sun`` (B, 2), in pixels (rows, columns), fixes the shadow
    displacement (the shadow at ``p`` is cast by the cloud at ``p + sun``).
    """
    check_cloud_kind(kind)
    clear = tf.convert_to_tensor(clear, tf.float32)
    seed = tf.cast(seed, tf.int64)
    if kind == "grey":
        return _grey(clear, seed)
    u = tf.random.stateless_uniform((24, tf.shape(clear)[0]), seed=seed + tf.constant([0, 7919], tf.int64))
    zeros = tf.zeros_like(clear[..., 0])
    if kind == "mixed":
        pick = tf.searchsorted(tf.constant(np.cumsum(MIXED_WEIGHTS)[:-1], tf.float32), u[23], side="right")
        chosen = {name: tf.reshape(tf.equal(pick, i), (-1, 1, 1)) for i, name in enumerate(MIXED_KINDS)}
        use_thin = chosen["thin"] | chosen["thin+shadow"]
        use_cloud = chosen["thick"] | chosen["shadow"] | chosen["thin+shadow"]
        use_shadow = chosen["shadow"] | chosen["thin+shadow"]
    else:
        use_thin, use_cloud, use_shadow = (tf.constant(kind == "thin"), tf.constant(kind in ("thick", "shadow")),
                                           tf.constant(kind == "shadow"))
    thin_o, path = _thin(clear, u) if kind in ("thin", "mixed") else (zeros, tf.zeros((1, 1, 1, 1)))
    if kind in ("thick", "shadow", "mixed"):
        cloud_o, radiance, shade = _cumulus(clear, u, sun)
    else:
        cloud_o, radiance, shade = zeros, tf.zeros((1, 1, 1, 1)), tf.ones_like(zeros)
    thin_o = tf.where(use_thin, thin_o, 0.0)
    cloud_o = tf.where(use_cloud, cloud_o, 0.0)
    shade = tf.where(use_shadow, shade, 1.0)
    x = clear * shade[..., None]
    x = x * (1.0 - cloud_o[..., None]) + cloud_o[..., None] * radiance
    x = x * (1.0 - thin_o[..., None]) + thin_o[..., None] * path
    mask = 1.0 - shade * (1.0 - cloud_o) * (1.0 - thin_o)
    if kind == "mixed":
        grey, grey_mask = _grey(clear, seed)
        x = tf.where(chosen["grey"][..., None], grey, x)
        mask = tf.where(chosen["grey"], grey_mask, mask)
    return tf.clip_by_value(x, 0.0, 1.0), mask


def add_clouds(images, seed, kind: str = "grey") -> tuple[tf.Tensor, tf.Tensor]:
    """``(cloudy, alpha)``: :func:`synthesize_clouds` with ``alpha`` (B,) the mean of the mask
    (for the reference's grey clouds, exactly its blend opacity)."""
    cloudy, mask = synthesize_clouds(images, seed, kind)
    return cloudy, tf.reduce_mean(mask, axis=[1, 2])


def rescale_tiles(images, factors, seed=None) -> tf.Tensor:
    """Resample a batch of tiles (B, H, W, C) as if seen at ``factors`` (B,) times finer pixels.

    A factor above 1 enlarges a crop of side ``1 / factor`` (bilinear); below 1 the tile is
    shrunk together with three other tiles of the batch laid around it (a 2 x 2 mosaic), so the
    output always fills H x W with image. Crops sit at random positions when ``seed`` is given,
    else centred.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    b, h, w = tf.shape(images)[0], int(images.shape[1]), int(images.shape[2])
    mosaic = tf.concat([tf.concat([images, tf.roll(images, 1, 0)], 2),
                        tf.concat([tf.roll(images, 2, 0), tf.roll(images, 3, 0)], 2)], 1)
    side = 0.5 / tf.cast(factors, tf.float32)                      # box side in mosaic units
    room = tf.where(side <= 0.5, 0.5 - side, 1.0 - side)          # enlarge within the tile itself
    u = (tf.random.stateless_uniform((b, 2), seed=tf.cast(seed, tf.int64)) if seed is not None
         else tf.fill((b, 2), 0.5))
    u = u * room[:, None]
    boxes = tf.concat([u, u + side[:, None]], 1)
    return tf.image.crop_and_resize(mosaic, boxes, tf.range(b), (h, w))


def vary_ground(images, seed) -> tf.Tensor:
    """Ground of other brightness and colour: each image times U(0.75, 1.25) and each channel
    times U(0.92, 1.08) (other seasons, sensors and sun heights), clipped to [0, 1]."""
    u = tf.random.stateless_uniform((tf.shape(images)[0], 4), seed=tf.cast(seed, tf.int64) + 3)
    gain = _uniform(u[:, :1], 0.75, 1.25) * _uniform(u[:, 1:], 0.92, 1.08)
    return tf.clip_by_value(images * gain[:, None, None, :], 0.0, 1.0)


def cloud_pairs_dataset(images: tf.data.Dataset | np.ndarray, batch_size: int, training: bool, seed: int = 0,
                        with_alpha: bool = False, shuffle_buffer: int = 4096, labels: np.ndarray | None = None,
                        kind: str = "grey", with_mask: bool = False, scale_range: Sequence[float] = (1.0, 1.0),
                        ground: bool = False, scale: float = 1.0) -> tf.data.Dataset:
    """Batches of cloud-covered tiles and their clear originals, float32 in [0, 1].

    ``images`` are uint8 (N, H, W, 3) arrays or a dataset of such single images. Training
    shuffles (seeded), repeats, drops the last partial batch and draws new clouds for every
    batch of every epoch; otherwise the order and the clouds are fixed by ``seed``, so a test
    set scores the same in every run. ``kind`` is a :data:`CLOUD_KINDS` entry or ``"none"``
    (cloud-free tiles: the input is the target).

    Before the clouds, training tiles are resampled by a factor drawn log-uniformly from
    ``scale_range`` (pixel sizes other than the data set's; see :func:`rescale_tiles`) and, with
    ``ground``, varied in brightness and colour (:func:`vary_ground`); ``scale`` resamples every
    tile by one fixed factor (centred crops: evaluation at other pixel sizes).

    Elements: ``(cloudy, clear)``; with ``with_mask`` for training ``(cloudy, (clear, mask))``;
    with ``with_alpha`` ``(cloudy, clear, alpha[, label][, mask])`` where ``alpha`` is each
    tile's mean mask (:func:`add_clouds`) and ``label`` comes from ``labels``.
    """
    if kind != "none":
        check_cloud_kind(kind)
    lo, hi = (float(v) for v in scale_range)
    if not 0 < lo <= hi:
        raise Pix2GanError(f"scale_range={tuple(scale_range)} must be two positive factors, low first",
                           argument="scale_range")
    ds = images if isinstance(images, tf.data.Dataset) else tf.data.Dataset.from_tensor_slices(images)
    if labels is not None:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.from_tensor_slices(np.asarray(labels)))
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=training)

    @tf.autograph.experimental.do_not_convert  # plain Python branching only
    def make(index, batch):
        batch, extra = (batch, ()) if labels is None else (batch[0], (batch[1],))
        key = tf.stack([tf.cast(seed, tf.int64), index])
        clear = tf.cast(batch, tf.float32) / 255.0
        if training and (lo, hi) != (1.0, 1.0):
            u = tf.random.stateless_uniform((tf.shape(clear)[0],), seed=key + 11)
            clear = rescale_tiles(clear, _log_uniform(u, lo, hi), seed=key + 13)
        elif scale != 1.0:
            clear = rescale_tiles(clear, tf.fill((tf.shape(clear)[0],), float(scale)))
        if training and ground:
            clear = vary_ground(clear, key)
        if kind == "none":
            cloudy, mask = clear, tf.zeros_like(clear[..., 0])
        else:
            cloudy, mask = synthesize_clouds(clear, key, kind)
        if with_alpha:
            return (cloudy, clear, tf.reduce_mean(mask, axis=[1, 2])) + extra + ((mask,) if with_mask else ())
        return (cloudy, (clear, mask)) if with_mask else (cloudy, clear)

    return ds.enumerate().map(make, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)


def write_cloud_pairs(images: np.ndarray, out_dir: str, seed: int = 0, names: Sequence[str] | None = None,
                      extension: str = ".png", batch_size: int = 256) -> int:
    """Write the reference's on-disk layout once: ``out_dir/cloudy/<name>`` and ``out_dir/clear/<name>``.

    ``images`` are uint8 (N, H, W, 3). Clouds are seeded (same files for the same seed). Returns
    the number of pairs written.
    """
    if extension not in (".png", ".jpg"):
        raise Pix2GanError(f"extension {extension!r} is not supported for cloud pairs: use .png or .jpg")
    names = list(names) if names is not None else [f"{i:06d}" for i in range(len(images))]
    ds = cloud_pairs_dataset(np.asarray(images), batch_size, training=False, seed=seed)
    n = 0
    for cloudy, clear in ds:
        for c, t in zip(to_uint8(cloudy, (0, 1)), to_uint8(clear, (0, 1))):
            stem = os.path.splitext(os.path.basename(names[n]))[0] + extension
            write_image(os.path.join(out_dir, "cloudy", stem), c)
            write_image(os.path.join(out_dir, "clear", stem), t)
            n += 1
    return n
