"""Latent-variable GAN trainer: G(z[, y]) -> image against D(image[, y]) -> logit.

One trainer for the unconditional and the class-conditional GANs; the adversarial loss
('bce', 'lsgan', 'hinge'), one-sided label smoothing and an optional L1 reconstruction term are
options, not copies of the trainer.
"""
from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from ..losses import discriminator_loss, generator_loss, l1_loss
from ..predict import predict_in_batches
from .base import GANTrainer


def is_conditional(model: keras.Model) -> bool:
    """True for a generator ``[z, label]`` or a discriminator ``[image, label]`` (two inputs)."""
    return len(model.inputs) == 2


def generator_input(generator: keras.Model, z, labels=None):
    """The generator's input: ``z`` alone, or ``[z, labels (batch, 1) int32]`` when conditional."""
    if not is_conditional(generator):
        return z
    if labels is None:
        raise ValueError(f"generator {generator.name} is class-conditional: pass labels")
    return [z, tf.reshape(tf.cast(labels, tf.int32), (-1, 1))]


class LatentGAN(GANTrainer):
    """Train ``generator(z[, y])`` against ``discriminator(x[, y])`` on ``(images, labels)`` batches.

    ``num_classes`` follows from the networks: when the generator takes two inputs the model is
    class-conditional, G gets the real batch's labels and D sees ``[image, label]``; otherwise
    labels are ignored. Losses (per :mod:`pix2gan.losses`, on logits):

    - D: ``discriminator_loss(D(x), D(G(z)), adversarial_loss, label_smoothing)``
    - G: ``generator_loss(D(G(z)))`` + ``reconstruction_weight * |G(z, y) - x|`` (0 by default;
      the C-LSGAN reference uses 0.05; it pulls every sample of a label toward that label's mean
      image and so costs variety).

    ``d_real`` / ``d_fake`` report the mean of D(x) and D(G(z)): probabilities (sigmoid of the
    logit) for 'bce', raw outputs for 'lsgan' and 'hinge'.

    ``ema_decay`` > 0 keeps ``ema_generator``, an exponential moving average of the generator's
    weights (Karras et al. 2018, Yazici et al. 2019): after every step each trainable weight
    becomes ``d * ema + (1 - d) * weight`` with ``d = min(ema_decay, (1 + t) / (10 + t))`` at step
    ``t`` (the warm-up of ``tf.train.ExponentialMovingAverage``), and the non-trainable state
    (BatchNorm moving statistics) is copied. :attr:`inference_generator` is then the EMA copy:
    sample, score and save that one; the raw generator keeps training. The copy is a plain
    ``keras.models.clone_model`` of the generator, so it saves and loads like it.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int | None = None,
                 reconstruction_weight: float = 0.0, value_range: Sequence[float] = (-1.0, 1.0),
                 seed: int | None = None, ema_decay: float = 0.0, **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.conditional = is_conditional(generator)
        if self.conditional != is_conditional(discriminator):
            raise ValueError(f"generator {generator.name} and discriminator {discriminator.name} disagree on "
                             "conditioning: both or neither must take a label input")
        self.reconstruction_weight = float(reconstruction_weight)
        self.value_range = tuple(float(v) for v in value_range)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.ema_decay = float(ema_decay)
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay {ema_decay} must be in [0, 1): 0 turns the moving average off, "
                             "0.999 is typical")
        self.ema_generator = None
        if self.ema_decay:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())
            self.ema_step = keras.Variable(0, dtype="int64", trainable=False, name="ema_step")  # saved with the weights

    @property
    def inference_generator(self) -> keras.Model:
        """The generator to sample, score and save: the EMA copy when ``ema_decay`` is set."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def update_ema(self) -> None:
        """One moving-average update of :attr:`ema_generator` (no-op without ``ema_decay``)."""
        if self.ema_generator is None:
            return
        t = tf.cast(self.ema_step, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        trainable = {id(v) for v in self.generator.trainable_variables}
        # (both models keep the same trainable flags, so .weights list them in the same order)
        for ema, var in zip(self.ema_generator.weights, self.generator.weights):
            if id(var) in trainable:
                ema.assign(decay * ema + (1.0 - decay) * tf.cast(var, ema.dtype))
            else:
                ema.assign(var)
        self.ema_step.assign_add(1)

    def discriminate(self, images, labels, training=False):
        """Discriminator logits for ``images`` (with their labels when conditional)."""
        if self.conditional:
            return self.discriminator([images, tf.reshape(tf.cast(labels, tf.int32), (-1, 1))], training=training)
        return self.discriminator(images, training=training)

    def _probability(self, logits):
        return tf.reduce_mean(tf.sigmoid(logits) if self.adversarial_loss == "bce" else logits)

    def train_step(self, data):
        images, labels = data if isinstance(data, (tuple, list)) else (data, None)
        batch = tf.shape(images)[0]
        z = keras.random.normal((batch, self.latent_dim), seed=self.seed_generator)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(generator_input(self.generator, z, labels), training=True)
            fake_logits = self.discriminate(fake, labels, training=True)
            real_logits = self.discriminate(images, labels, training=True)
            g_adv = generator_loss(fake_logits, self.adversarial_loss)
            g_total = g_adv
            if self.reconstruction_weight:
                g_total = g_total + self.reconstruction_weight * l1_loss(fake, images)
            d_loss = discriminator_loss(real_logits, fake_logits, self.adversarial_loss, self.label_smoothing)
        self.apply_gradients(self.d_optimizer, d_tape, d_loss, self.discriminator.trainable_variables)
        self.apply_gradients(self.g_optimizer, g_tape, g_total, self.generator.trainable_variables)
        self.update_ema()
        return self.track({"g_loss": g_total, "g_adv": g_adv, "d_loss": d_loss,
                           "d_real": self._probability(real_logits), "d_fake": self._probability(fake_logits)})

    def sample(self, n: int, labels=None, seed: int | None = 0, batch_size: int = 1000) -> np.ndarray:
        """``n`` images from :attr:`inference_generator` in inference mode (see :func:`sample_generator`)."""
        return sample_generator(self.inference_generator, n, labels, seed, batch_size)


def sample_noise(n: int, latent_dim: int, seed: int | None = 0) -> np.ndarray:
    """``n`` standard-normal latent vectors (float32), reproducible for a given ``seed``."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def sample_generator(generator: keras.Model, n: int, labels=None, seed: int | None = 0, batch_size: int = 1000,
                     z: np.ndarray | None = None) -> np.ndarray:
    """Run ``generator`` (``training=False``) on ``n`` noise vectors and return float32 images.

    A conditional generator needs ``labels``: one int (every sample), or ``n`` ints; an
    unconditional one refuses labels.
    """
    conditional = is_conditional(generator)
    if labels is not None and not conditional:
        raise ValueError(f"generator {generator.name} is unconditional: it takes no labels")
    if conditional:
        if labels is None:
            raise ValueError(f"generator {generator.name} is class-conditional: pass labels")
        labels = np.broadcast_to(np.asarray(labels, np.int32), (n,)).reshape(n, 1)
    z = sample_noise(n, generator.inputs[0].shape[-1], seed) if z is None else np.asarray(z, np.float32)
    if not n:
        return np.zeros((0,) + tuple(generator.output_shape[1:]), np.float32)
    return predict_in_batches(generator, [z, labels] if conditional else z, batch_size)
