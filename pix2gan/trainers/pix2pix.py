"""Paired image-to-image GAN trainer: the pix2pix objective (adversarial + lambda * L1)."""
from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from ..composite import build_adversarial_model
from ..inference import EVAL_MODES, batchnorm_statistics, check_eval_mode, run_generator
from ..losses import discriminator_loss, generator_loss, l1_loss, psnr_loss
from ..metrics import image_metrics
from .base import GANTrainer, check_weight

# EVAL_MODES and the helpers live in pix2gan.inference; they stay importable from here for the zoo.
__all__ = ["EVAL_MODES", "Pix2Pix", "batchnorm_statistics", "run_generator"]


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

    ``test_step`` reports ``l1``, ``psnr`` and ``ssim`` on [0, 1] images of
    :attr:`inference_generator`.

    ``ema_decay`` > 0 keeps ``ema_generator``, an exponential moving average of the generator's
    weights updated after every step (see :class:`~pix2gan.trainers.base.GANTrainer`); it is then
    the :attr:`inference_generator` that evaluation runs and that should be saved. 0 (default): off.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, l1_weight: float = 100.0,
                 value_range: Sequence[float] = (-1.0, 1.0), eval_mode: str = "paper", psnr_weight: float = 0.0,
                 ema_decay: float = 0.0, **kwargs):
        super().__init__(generator, discriminator, ema_decay=ema_decay, **kwargs)
        check_eval_mode(eval_mode)
        self.l1_weight = check_weight("l1_weight", l1_weight)
        self.psnr_weight = check_weight("psnr_weight", psnr_weight)
        self.value_range = tuple(float(v) for v in value_range)
        self.eval_mode = eval_mode
        self.adversarial = build_adversarial_model(generator, discriminator)
        self._conditional = len(discriminator.inputs) == 2
        self._bn_statistics = batchnorm_statistics(self.inference_generator)

    def discriminate(self, inputs, images, training=False):
        """Discriminator logits for ``images`` (conditioned on ``inputs`` where D takes two inputs)."""
        if self._conditional:
            return self.discriminator([inputs, images], training=training)
        return self.discriminator(images, training=training)

    def generate(self, inputs, mode: str | None = None):
        """Run :attr:`inference_generator` in evaluation ``mode`` ('paper' or 'inference', see the class doc)."""
        return run_generator(self.inference_generator, inputs, mode or self.eval_mode, self._bn_statistics)

    def generator_pass(self, inputs, targets):
        """The generator's half of a training step: ``(fake, target images, extra generator loss,
        extra logs)``. Subclasses with more outputs or targets (a cloud map, a mask) override it."""
        return self.generator(inputs, training=True), targets, 0.0, {}

    # what generator_pass adds to the logs (a subclass's extra terms)
    extra_log_names: tuple[str, ...] = ()

    def log_names(self) -> tuple[str, ...]:
        return ("g_loss", "g_adv", "g_l1", *self.extra_log_names, "d_loss", "d_real", "d_fake",
                *(("g_psnr",) if self.psnr_weight else ()))

    def train_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake, targets, g_extra, extra_logs = self.generator_pass(inputs, targets)
            fake_logits = self.discriminate(inputs, fake, training=True)
            real_logits = self.discriminate(inputs, targets, training=True)
            g_adv = generator_loss(fake_logits, self.adversarial_loss)
            g_l1 = l1_loss(fake, targets)
            g_total = g_adv + self.l1_weight * g_l1 + g_extra
            if self.psnr_weight:
                g_psnr = psnr_loss(fake, targets, self.value_range[1] - self.value_range[0])
                g_total += self.psnr_weight * g_psnr
            d_loss = discriminator_loss(real_logits, fake_logits, self.adversarial_loss, self.label_smoothing)
        self.optimize("generator", g_tape, g_total)
        self.optimize("discriminator", d_tape, d_loss)
        self.update_ema()
        logs = {
            "g_loss": g_total, "g_adv": g_adv, "g_l1": g_l1, **extra_logs, "d_loss": d_loss,
            "d_real": tf.reduce_mean(tf.sigmoid(tf.cast(real_logits, tf.float32))),
            "d_fake": tf.reduce_mean(tf.sigmoid(tf.cast(fake_logits, tf.float32))),
        }
        if self.psnr_weight:
            logs["g_psnr"] = -g_psnr
        return self.track(logs)

    def test_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        scores = image_metrics(self.generate(inputs), targets, self.value_range)
        return self.track(scores)
