"""Latent-variable GAN trainer: G(z[, y]) -> image against D(image[, y]) -> logit.

One trainer for the unconditional and the class-conditional GANs; the adversarial loss
('bce', 'lsgan', 'hinge'), one-sided label smoothing and an optional L1 reconstruction term are
options, not copies of the trainer.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from ..distribute import replica_slice, replicas
from ..errors import Pix2GanError
from ..inference import iter_layers
from ..losses import discriminator_loss, generator_loss, l1_loss
from ..predict import predict_in_batches
from .base import GANTrainer, check_weight


def is_conditional(model: keras.Model) -> bool:
    """True for a generator ``[z, label]`` or a discriminator ``[image, label]`` (two inputs)."""
    return len(model.inputs) == 2


def mixes_batch(model: keras.Model) -> bool:
    """True when ``model``'s output for one example depends on the rest of its batch in training
    (a BatchNormalization layer anywhere inside)."""
    return any(isinstance(layer, keras.layers.BatchNormalization) for layer in iter_layers(model))


def generator_input(generator: keras.Model, z, labels=None):
    """The generator's input: ``z`` alone, or ``[z, labels (batch, 1) int32]`` when conditional."""
    if not is_conditional(generator):
        return z
    if labels is None:
        raise Pix2GanError(f"generator {generator.name} is class-conditional: pass labels", argument="labels")
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
    weights, updated after every generator step (see :class:`~pix2gan.trainers.base.GANTrainer`):
    sample, score and save :attr:`inference_generator`; the raw generator keeps training.

    ``joint_discriminator`` (default: True unless D holds a BatchNorm) scores the real and the
    fake batch in one call of D on their concatenation, split after: the same logits as two calls
    for a D that treats each example alone, with half the calls (what small steps need). A
    BatchNorm D keeps two calls: on the joint batch it would normalise real and fake with the
    statistics of their mixture, so that in training a fake's logit would depend on the real
    examples beside it, and D could no longer tell them apart by batch statistics, which
    changes what it learns (the DCGAN recipe feeds it separate batches).
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int | None = None,
                 reconstruction_weight: float = 0.0, value_range: Sequence[float] = (-1.0, 1.0),
                 seed: int | None = None, ema_decay: float = 0.0, joint_discriminator: bool | None = None,
                 **kwargs):
        super().__init__(generator, discriminator, **kwargs)
        self.joint_discriminator = (not mixes_batch(discriminator) if joint_discriminator is None
                                    else bool(joint_discriminator))
        self.latent_dim = int(latent_dim or generator.inputs[0].shape[-1])
        self.conditional = is_conditional(generator)
        if self.conditional != is_conditional(discriminator):
            raise Pix2GanError(f"generator {generator.name} and discriminator {discriminator.name} disagree on "
                               "conditioning: both or neither must take a label input", argument="discriminator")
        self.reconstruction_weight = check_weight("reconstruction_weight", reconstruction_weight)
        self.value_range = tuple(float(v) for v in value_range)
        self.seed_generator = keras.random.SeedGenerator(seed)
        # Enabled after the seed generator so that an unseeded SeedGenerator and the clone's
        # initializers draw from Python's RNG in the order they always have: same seed, same run.
        self.enable_ema(ema_decay)

    def discriminate(self, images, labels, training=False):
        """Discriminator logits for ``images`` (with their labels when conditional)."""
        if self.conditional:
            return self.discriminator([images, tf.reshape(tf.cast(labels, tf.int32), (-1, 1))], training=training)
        return self.discriminator(images, training=training)

    def _probability(self, logits):
        return tf.reduce_mean(tf.sigmoid(logits) if self.adversarial_loss == "bce" else logits)

    def log_names(self) -> tuple[str, ...]:
        return ("g_loss", "g_adv", "d_loss", "d_real", "d_fake")

    def train_step(self, data):
        images, labels = data if isinstance(data, (tuple, list)) else (data, None)
        batch = tf.shape(images)[0]
        # drawn for the global batch and sliced: R replicas of a tf.distribute strategy get the
        # noise one device would draw, not R copies of the same vectors
        z = replica_slice(keras.random.normal((batch * replicas(), self.latent_dim), seed=self.seed_generator))
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self.generator(generator_input(self.generator, z, labels), training=True)
            if self.joint_discriminator:
                both = None if labels is None else tf.concat([labels, labels], 0)
                real_logits, fake_logits = tf.split(
                    self.discriminate(tf.concat([images, tf.cast(fake, images.dtype)], 0), both, training=True), 2)
            else:
                fake_logits = self.discriminate(fake, labels, training=True)
                real_logits = self.discriminate(images, labels, training=True)
            g_adv = generator_loss(fake_logits, self.adversarial_loss)
            g_total = g_adv
            if self.reconstruction_weight:
                g_total = g_total + self.reconstruction_weight * l1_loss(fake, images)
            d_loss = discriminator_loss(real_logits, fake_logits, self.adversarial_loss, self.label_smoothing)
        self.optimize("discriminator", d_tape, d_loss)
        self.optimize("generator", g_tape, g_total)
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
        raise Pix2GanError(f"generator {generator.name} is unconditional: it takes no labels", argument="labels")
    if conditional:
        if labels is None:
            raise Pix2GanError(f"generator {generator.name} is class-conditional: pass labels", argument="labels")
        labels = np.broadcast_to(np.asarray(labels, np.int32), (n,)).reshape(n, 1)
    z = sample_noise(n, generator.inputs[0].shape[-1], seed) if z is None else np.asarray(z, np.float32)
    if not n:
        return np.zeros((0,) + tuple(generator.output_shape[1:]), np.float32)
    return predict_in_batches(generator, [z, labels] if conditional else z, batch_size)
