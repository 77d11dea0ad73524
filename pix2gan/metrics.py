"""Image-quality metrics on batches (TensorFlow ops, usable inside a traced step)."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def to_unit_range(images, value_range: Sequence[float] = (-1.0, 1.0)):
    """Map images from ``value_range`` to [0, 1] and clip."""
    lo, hi = float(value_range[0]), float(value_range[1])
    return tf.clip_by_value((tf.cast(images, tf.float32) - lo) / (hi - lo), 0.0, 1.0)


def image_metrics(prediction, target, value_range: Sequence[float] = (-1.0, 1.0)) -> dict:
    """Per-image L1, PSNR (dB) and SSIM, all computed on [0, 1] images; each of shape (batch,).

    L1 is the mean absolute error in [0, 1] units (half the value on the [-1, 1] scale).
    """
    p = to_unit_range(prediction, value_range)
    t = to_unit_range(target, value_range)
    return {
        "l1": tf.reduce_mean(tf.abs(p - t), axis=[1, 2, 3]),
        "psnr": tf.image.psnr(p, t, max_val=1.0),
        "ssim": tf.image.ssim(p, t, max_val=1.0),
    }
