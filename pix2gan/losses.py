"""Adversarial and reconstruction losses, chosen by name so trainers are not copied per loss.

All adversarial losses take discriminator *logits*. Every loss computes in float32, whatever the
dtype of its inputs (bfloat16 or float16 logits under a mixed-precision policy).
"""
from __future__ import annotations

import tensorflow as tf

ADVERSARIAL_LOSSES = ("bce", "lsgan", "hinge")


def _check(kind: str) -> None:
    if kind not in ADVERSARIAL_LOSSES:
        raise ValueError(f"unknown adversarial loss {kind!r}: use one of {', '.join(ADVERSARIAL_LOSSES)}")


def _float32(x):
    return tf.cast(x, tf.float32)


def discriminator_loss(real_logits, fake_logits, kind: str = "bce", label_smoothing: float = 0.0):
    """Loss of the discriminator: real -> 1 (or ``1 - label_smoothing``), fake -> 0.

    'bce' is the original GAN loss, 'lsgan' the least-squares loss on the raw outputs, 'hinge'
    the hinge loss of SAGAN/BigGAN. One-sided label smoothing applies to 'bce' and 'lsgan'.
    """
    _check(kind)
    real_logits, fake_logits = _float32(real_logits), _float32(fake_logits)
    real_target = 1.0 - label_smoothing
    if kind == "bce":
        real = tf.nn.sigmoid_cross_entropy_with_logits(tf.fill(tf.shape(real_logits), real_target), real_logits)
        fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
        return tf.reduce_mean(real) + tf.reduce_mean(fake)
    if kind == "lsgan":
        return 0.5 * (tf.reduce_mean(tf.square(real_logits - real_target)) + tf.reduce_mean(tf.square(fake_logits)))
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))


def generator_loss(fake_logits, kind: str = "bce"):
    """Adversarial loss of the generator (non-saturating for 'bce')."""
    _check(kind)
    fake_logits = _float32(fake_logits)
    if kind == "bce":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))
    if kind == "lsgan":
        return 0.5 * tf.reduce_mean(tf.square(fake_logits - 1.0))
    return -tf.reduce_mean(fake_logits)


def l1_loss(prediction, target):
    """Mean absolute error."""
    return tf.reduce_mean(tf.abs(_float32(target) - _float32(prediction)))


def psnr_loss(prediction, target, max_value: float = 1.0, floor_db: float = 80.0):
    """Minus the mean per-image PSNR (dB) of ``prediction`` against ``target``.

    Minimising it is maximising the score image by image on a log scale, so a nearly perfect image
    (thin clouds) still weighs as much as a badly hurt one, unlike L1 or MSE averaged over pixels.
    The MSE is floored at the value that gives ``floor_db`` so identical images stay finite.
    """
    prediction, target = _float32(prediction), _float32(target)
    mse = tf.reduce_mean(tf.square(target - prediction), axis=tf.range(1, tf.rank(prediction)))
    mse = tf.maximum(mse / (max_value ** 2), 10.0 ** (-floor_db / 10.0))
    return tf.reduce_mean(10.0 * tf.math.log(mse) / tf.math.log(10.0))
