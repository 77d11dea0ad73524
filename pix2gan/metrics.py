"""Image-quality metrics on batches (TensorFlow ops, usable inside a traced step)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf


def to_unit_range(images, value_range: Sequence[float] = (-1.0, 1.0)):
    """Map images from ``value_range`` to [0, 1] and clip."""
    lo, hi = float(value_range[0]), float(value_range[1])
    return tf.clip_by_value((tf.cast(images, tf.float32) - lo) / (hi - lo), 0.0, 1.0)


PSNR_CAP = 100.0  # dB; identical images (infinite PSNR) score this, so means stay finite


def image_metrics(prediction, target, value_range: Sequence[float] = (-1.0, 1.0)) -> dict:
    """Per-image L1, PSNR (dB, at most :data:`PSNR_CAP`) and SSIM, all computed on [0, 1] images;
    each of shape (batch,).

    L1 is the mean absolute error in [0, 1] units (half the value on the [-1, 1] scale).
    """
    p = to_unit_range(prediction, value_range)
    t = to_unit_range(target, value_range)
    return {
        "l1": tf.reduce_mean(tf.abs(p - t), axis=[1, 2, 3]),
        "psnr": tf.minimum(tf.image.psnr(p, t, max_val=1.0), PSNR_CAP),
        "ssim": tf.image.ssim(p, t, max_val=1.0),
    }


def spectral_angle(a, b, eps: float = 1e-12):
    """Per-image mean spectral angle (SAM) in degrees between images ``a`` and ``b`` (B, H, W, C).

    The angle of each pixel is ``arccos(<a, b> / (|a| |b|))`` between its C-band vectors,
    averaged over the pixels; a pixel where either vector is (near) zero has no direction and
    counts as angle 0. TensorFlow ops in float32; the angle is computed with Kahan's stable form
    ``2 atan2(| a|b| - b|a| |, | a|b| + b|a| |)``, equal to the arccos but exact near 0, so
    identical images give exactly 0 instead of float32 round-off of ~0.02 degrees.
    """
    a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    na = tf.norm(a, axis=-1, keepdims=True)
    nb = tf.norm(b, axis=-1, keepdims=True)
    u, v = a * nb, b * na
    angle = 2.0 * tf.atan2(tf.norm(u - v, axis=-1), tf.norm(u + v, axis=-1))
    angle = tf.where((na[..., 0] > eps) & (nb[..., 0] > eps), angle, 0.0)
    return tf.reduce_mean(angle, axis=[1, 2]) * (180.0 / np.pi)


# --- Frechet distance between feature sets (FID-style) -------------------------------------------

def feature_statistics(features) -> tuple:
    """Mean vector and covariance matrix (float64) of ``features`` shaped (n, d), n >= 2."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must be (n >= 2, d), got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between Gaussians N(mu1, sigma1) and N(mu2, sigma2):
    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

    ``tr((s1 s2)^(1/2))`` is computed as the sum of square roots of the eigenvalues of the
    symmetric ``s1^(1/2) s2 s1^(1/2)``, which has the same spectrum, so no complex
    ``sqrtm`` round-off arises; tests check it against ``scipy.linalg.sqrtm``.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: means {mu1.shape} / {mu2.shape}, covariances {s1.shape} / {s2.shape}")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ s2 @ root1
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_root)


def frechet_distance_of_features(features1, features2) -> float:
    """Frechet distance between the Gaussians fitted to two feature sets (n, d)."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))
