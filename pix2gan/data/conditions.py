"""Acquisition conditions: a seeded rendering of clear RGB tiles as another sensor would record
them in another season through haze, and the disjoint unpaired domains built from it.

:func:`render_conditions` maps a tile ``x`` (RGB in [0, 1]) to ``y`` in three steps:

1. Sensor response, per channel ``c``: ``s_c = gain_c * x_c ** gamma_c`` with
   ``gain = (0.80, 0.95, 1.15)`` and ``gamma = (1.30, 1.05, 0.80)`` (a redder-insensitive,
   blue-lifting sensor with a different transfer curve).
2. Season, a hue rotation about the grey axis by ``hue_degrees`` (default -25: colours move towards teal)
   applied as a 3x3 matrix, then clipped to [0, 1].
3. Haze, spatially smooth and different for every tile: ``y = s * (1 - t) + t * veil_colour`` with
   ``veil_colour = (0.78, 0.80, 0.86)`` and a transmittance loss ``t(p)`` in [0.05, 0.35] drawn from
   fractal Perlin noise whose position and feature size (24 to 96 px) come from ``(seed, index)``.

Steps 1 and 2 are a fixed pixel-wise map; the veil is not: it varies within and between tiles, so
no pixel-wise function recovers a tile exactly from its rendering (nor the rendering from the
tile). The result depends only on the tile, its index and the seed.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from ..errors import Pix2GanError
from .clouds import fbm

GAIN = (0.80, 0.95, 1.15)
GAMMA = (1.30, 1.05, 0.80)
HUE_DEGREES = -25.0
VEIL_COLOUR = (0.78, 0.80, 0.86)
VEIL_RANGE = (0.05, 0.35)
VEIL_SCALE = (24.0, 96.0)


def hue_matrix(degrees: float) -> np.ndarray:
    """The 3x3 matrix rotating RGB colours by ``degrees`` about the grey axis (greys stay grey)."""
    a = np.deg2rad(degrees)
    k = np.ones((3, 3)) / 3.0
    cross = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) / np.sqrt(3.0)
    return (np.cos(a) * np.eye(3) + (1 - np.cos(a)) * k + np.sin(a) * cross).astype(np.float32)


def veil_parameters(indices: Sequence[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per tile: the veil's noise-plane offset (N, 2) and feature size (N,), from ``(seed, index)``."""
    offsets, scales = [], []
    for index in indices:
        rng = np.random.default_rng([int(seed), int(index), 0x5EA5])
        offsets.append(rng.uniform(0.0, 900.0, 2))
        scales.append(np.exp(rng.uniform(np.log(VEIL_SCALE[0]), np.log(VEIL_SCALE[1]))))
    return np.asarray(offsets, np.float32).reshape(-1, 2), np.asarray(scales, np.float32)


def render_conditions(images, indices: Sequence[int], seed: int = 0, hue_degrees: float = HUE_DEGREES,
                      batch_size: int = 512) -> np.ndarray:
    """``images`` (N, H, W, 3), uint8 or floats in [0, 1], rendered under the other acquisition
    conditions (see the module doc) as float32 in [0, 1]. ``indices`` (one per image) and
    ``seed`` choose each tile's haze."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise Pix2GanError(f"render_conditions needs RGB tiles shaped (N, H, W, 3), got {images.shape}")
    indices = np.asarray(indices).reshape(-1)
    if len(indices) != len(images):
        raise Pix2GanError(f"render_conditions got {len(images)} tiles but {len(indices)} indices: give one "
                           "index per tile")
    unit = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)
    offsets, scales = veil_parameters(indices, seed)
    mix = tf.constant(hue_matrix(hue_degrees).T)
    gain, gamma = tf.constant(GAIN), tf.constant(GAMMA)
    out = np.empty(unit.shape, np.float32)
    h, w = unit.shape[1:3]
    for start in range(0, len(unit), batch_size):
        x = tf.constant(unit[start:start + batch_size])
        s = gain * tf.pow(tf.clip_by_value(x, 0.0, 1.0), gamma)
        s = tf.clip_by_value(tf.tensordot(s, mix, 1), 0.0, 1.0)
        noise = fbm(h, w, tf.constant(scales[start:start + batch_size]), tf.constant(offsets[start:start + batch_size]))
        t = VEIL_RANGE[0] + (VEIL_RANGE[1] - VEIL_RANGE[0]) * tf.clip_by_value(noise + 0.5, 0.0, 1.0)
        t = t[..., None]
        out[start:start + batch_size] = (s * (1.0 - t) + t * tf.constant(VEIL_COLOUR)).numpy()
    return out


def split_domains(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of domain A and domain B: a seeded permutation of ``range(count)`` cut in halves, so
    no tile is in both."""
    order = np.random.default_rng([int(seed), 0xD0]).permutation(int(count))
    half = int(count) // 2
    return np.sort(order[:half]), np.sort(order[half:])
