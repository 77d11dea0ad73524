"""Paired image-to-image GAN trainer: the pix2pix objective (adversarial + lambda * L1)."""
from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf

from ..composite import build_adversarial_model
from ..losses import discriminator_loss, generator_loss, l1_loss, psnr_loss
from ..metrics import image_metrics
from .base import GANTrainer

EVAL_MODES = ("paper", "inference")


def batchnorm_statistics(model: keras.Model) -> list:
    """The moving mean/variance variables of every BatchNormalization layer in ``model``."""
    return [v for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)
            for v in (layer.moving_mean, layer.moving_variance)]


def run_generator(generator: keras.Model, inputs, mode: str = "paper", statistics: list | None = None):
    """Run ``generator`` in evaluation ``mode``.

    'paper': dropout on and batch statistics (``training=True``), as in the pix2pix paper, with
    the BatchNorm moving averages put back afterwards so evaluation never changes the weights.
    'inference': plain ``training=False``.
    """
    if mode not in EVAL_MODES:
        raise ValueError(f"unknown eval mode {mode!r}: use one of {EVAL_MODES}")
    if mode == "inference":
        return generator(inputs, training=False)
    statistics = batchnorm_statistics(generator) if statistics is None else statistics
    saved = [tf.identity(v.value) for v in statistics]
    outputs = generator(inputs, training=True)
    # Auto control dependencies run these after the generator's own moving-average updates.
    for variable, value in zip(statistics, saved):
        variable.assign(value)
    return outputs


class Pix2Pix(GANTrainer):
    """Train a generator G(x) -> y against a discriminator on paired data ``(x, y)``.

    Generator loss: ``adversarial(D(x, G(x))) + l1_weight * |G(x) - y|`` (lambda = 100), plus
    ``psnr_weight * -PSNR(G(x), y)`` (mean per-image PSNR in dB, see :func:`~pix2gan.losses.psnr_loss`)
    when ``psnr_weight`` is set;
    discriminator loss: ``adversarial(D(x, y) -> real, D(x, G(x)) -> fake)``. An unconditional
    discriminator (one input) sees images alone, which is how the cloud-removal reference works.

    ``value_range`` is the range of images (``(-1, 1)`` for tanh generators, ``(0, 1)`` for
    sigmoid ones); metrics are computed after mapping to [0, 1].

    ``eval_mode`` sets how the generator runs at validation and test time:

    - ``'paper'`` (default): as in the pix2pix paper, dropout stays on and BatchNorm uses the
      statistics of the test batch (``training=True``). The BatchNorm moving averages are put
      back after each evaluation call, so evaluating never changes the weights.
    - ``'inference'``: plain Keras inference (``training=False``): no dropout, moving averages.
      This is what ``keras.models.load_model(...)(x)`` does with a saved generator.

    ``test_step`` reports ``l1``, ``psnr`` and ``ssim`` on [0, 1] images.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, l1_weight: float = 100.0,
                 value_range: Sequence[float] = (-1.0, 1.0), eval_mode: str = "paper", psnr_weight: float = 0.0,
                 **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        if eval_mode not in EVAL_MODES:
            raise ValueError(f"unknown eval_mode {eval_mode!r}: use one of {EVAL_MODES}")
        self.l1_weight = float(l1_weight)
        self.psnr_weight = float(psnr_weight)
        self.value_range = tuple(float(v) for v in value_range)
        self.eval_mode = eval_mode
        self.adversarial = build_adversarial_model(generator, discriminator)
        self._conditional = len(discriminator.inputs) == 2
        self._bn_statistics = batchnorm_statistics(generator)

    def discriminate(self, inputs, images, training=False):
        """Discriminator logits for ``images`` (conditioned on ``inputs`` where D takes two inputs)."""
        if self._conditional:
            return self.discriminator([inputs, images], training=training)
        return self.discriminator(images, training=training)

    def generate(self, inputs, mode: str | None = None):
        """Run the generator in evaluation ``mode`` ('paper' or 'inference', see the class doc)."""
        return run_generator(self.generator, inputs, mode or self.eval_mode, self._bn_statistics)

    def train_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake, fake_logits = self.adversarial(inputs, training=True)
            real_logits = self.discriminate(inputs, targets, training=True)
            g_adv = generator_loss(fake_logits, self.adversarial_loss)
            g_l1 = l1_loss(fake, targets)
            g_total = g_adv + self.l1_weight * g_l1
            if self.psnr_weight:
                g_psnr = psnr_loss(fake, targets, self.value_range[1] - self.value_range[0])
                g_total += self.psnr_weight * g_psnr
            d_loss = discriminator_loss(real_logits, fake_logits, self.adversarial_loss, self.label_smoothing)
        self.apply_gradients(self.g_optimizer, g_tape, g_total, self.generator.trainable_variables)
        self.apply_gradients(self.d_optimizer, d_tape, d_loss, self.discriminator.trainable_variables)
        logs = {
            "g_loss": g_total, "g_adv": g_adv, "g_l1": g_l1, "d_loss": d_loss,
            "d_real": tf.reduce_mean(tf.sigmoid(real_logits)), "d_fake": tf.reduce_mean(tf.sigmoid(fake_logits)),
        }
        if self.psnr_weight:
            logs["g_psnr"] = -g_psnr
        return self.track(logs)

    def test_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        scores = image_metrics(self.generate(inputs), targets, self.value_range)
        return self.track(scores)
