"""Unpaired image-to-image translation: the CycleGAN objective (Zhu et al. 2017), its image history
pool and its linear learning-rate decay."""
from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from ..distribute import gather_batch, replica_slice
from ..errors import Pix2GanError
from ..layers import PACKAGE
from ..losses import discriminator_loss, generator_loss, l1_loss
from ..metrics import image_metrics
from ..optimizers import adam
from .base import GANTrainer, check_weight

NETWORKS = ("generator_ab", "generator_ba", "discriminator_a", "discriminator_b")


@keras.saving.register_keras_serializable(package=PACKAGE)
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial_learning_rate`` until step ``decay_start`` (default: half of ``total_steps``),
    then linearly down to 0 at ``total_steps`` (and 0 after it): the CycleGAN reference's schedule,
    counted in optimizer steps rather than epochs.

    The step is the optimizer's ``iterations``, which every backup saves, so a resumed run
    continues the schedule where it stopped.
    """

    def __init__(self, initial_learning_rate: float, total_steps: int, decay_start: int | None = None):
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.decay_start = self.total_steps // 2 if decay_start is None else int(decay_start)
        if self.total_steps < 1 or not 0 <= self.decay_start <= self.total_steps:
            raise Pix2GanError(f"LinearDecay needs total_steps >= 1 and 0 <= decay_start <= total_steps, got "
                               f"total_steps={total_steps}, decay_start={decay_start}", argument="total_steps")

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        span = float(max(1, self.total_steps - self.decay_start))
        done = tf.clip_by_value((step - float(self.decay_start)) / span, 0.0, 1.0)
        return self.initial_learning_rate * (1.0 - done)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "total_steps": self.total_steps,
                "decay_start": self.decay_start}


def cyclegan_optimizer(learning_rate: float = 2e-4, total_steps: int | None = None,
                       decay_start: int | None = None) -> keras.optimizers.Optimizer:
    """Adam(lr, beta_1=0.5, beta_2=0.999) as in the reference; with ``total_steps`` the rate is
    constant for the first half and decays linearly to 0 over the second (:class:`LinearDecay`)."""
    rate = learning_rate if total_steps is None else LinearDecay(learning_rate, total_steps, decay_start)
    return adam(rate, beta_1=0.5, beta_2=0.999)


@keras.saving.register_keras_serializable(package=PACKAGE)
class HistoryPool(keras.layers.Layer):
    """The image buffer of Shrivastava et al. (2017) that CycleGAN feeds its discriminators from.

    :meth:`query` takes a batch of generated images and returns one of the same shape: while the
    pool holds fewer than ``size`` images, each image is stored and returned as is; once full, each
    image is, with probability 0.5, swapped for a random stored image (which it replaces in the
    pool), and otherwise returned as is. ``size=0`` returns the batch unchanged.

    The buffer and its fill count are non-trainable weights of this layer, so every backup's
    weights file holds them; the random state is a ``keras.random.SeedGenerator``, which backups
    restore with the rest of the run's random state (:func:`pix2gan.saving.capture_state`). A
    resumed run so continues with the same pool and the same draws. Images must have ``image_shape``.
    Under a ``tf.distribute`` strategy :class:`CycleGAN` queries it with the global batch on every
    replica, so every replica's copy holds the same images.
    """

    def __init__(self, size: int = 50, image_shape: Sequence[int] = (256, 256, 3), seed: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        if self.size < 0:
            raise Pix2GanError(f"pool_size={size} must be >= 0 (the reference keeps 50 images; 0 turns the pool "
                               "off)", argument="pool_size")
        self.image_shape = tuple(int(v) for v in image_shape)
        self.images = self.add_weight(shape=(max(1, self.size), *self.image_shape), initializer="zeros",
                                      trainable=False, name="images")
        self.count = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False, name="count")
        self.seed_generator = keras.random.SeedGenerator(seed, name="pool_seed")
        self.built = True

    def query(self, images):
        if not self.size:
            return images
        images = tf.cast(images, self.images.dtype)
        n = tf.shape(images)[0]

        def body(i, out):
            image = images[i]
            full = self.count >= self.size
            swap = tf.logical_and(full, keras.random.uniform((), seed=self.seed_generator) < 0.5)
            slot = tf.where(full, keras.random.randint((), 0, self.size, seed=self.seed_generator, dtype="int32"),
                            tf.minimum(self.count, self.size - 1))
            stored = tf.gather(self.images, slot)
            keep = tf.logical_or(tf.logical_not(full), swap)
            self.images.assign(tf.tensor_scatter_nd_update(self.images, slot[None, None],
                                                           tf.where(keep, image, stored)[None]))
            self.count.assign(tf.minimum(self.count + 1, self.size))
            return i + 1, out.write(i, tf.where(swap, stored, image))

        _, out = tf.while_loop(lambda i, _: i < n, body,
                               (tf.constant(0), tf.TensorArray(images.dtype, size=n, element_shape=self.image_shape)))
        return out.stack()

    def call(self, images):
        return self.query(images)

    def get_config(self):
        config = super().get_config()
        config.update(size=self.size, image_shape=list(self.image_shape))
        return config


class CycleGAN(GANTrainer):
    """CycleGAN: ``generator_ab`` G: A -> B and ``generator_ba`` F: B -> A trained on unpaired
    batches ``(a, b)`` against ``discriminator_a`` (real A vs F(b)) and ``discriminator_b``
    (real B vs G(a)), each network with its own optimizer.

    Generator loss (one backward pass, each generator stepped by its own optimizer):
    ``adv(D_B(G(a))) + adv(D_A(F(b))) + cycle_weight * (|F(G(a)) - a| + |G(F(b)) - b|)
    + identity_weight * (|G(b) - b| + |F(a) - a|)``; discriminator loss: ``adversarial_loss``
    (``'lsgan'``, the reference; ``'bce'`` or ``'hinge'``) of real images against generated ones
    drawn from a :class:`HistoryPool` of ``pool_size`` images per direction (``image_shape``,
    the training crop). Each discriminator sees its real, pooled and freshly generated images in
    one call: instance normalisation is per image, so this equals three calls.

    ``test_step`` takes ``(a, b)`` and reports the cycle errors; given ``(a, b, true_ab, true_ba)``
    (the true B rendering of ``a`` and A rendering of ``b``) it also reports PSNR / SSIM of G(a)
    and F(b) against them. :attr:`generator` and :attr:`inference_generator` are G.
    """

    def __init__(self, generator_ab: keras.Model, generator_ba: keras.Model, discriminator_a: keras.Model,
                 discriminator_b: keras.Model, adversarial_loss: str = "lsgan", cycle_weight: float = 10.0,
                 identity_weight: float = 5.0, pool_size: int = 50, image_shape: Sequence[int] | None = None,
                 value_range: Sequence[float] = (-1.0, 1.0), seed: int | None = None, **kwargs):
        networks = dict(zip(NETWORKS, (generator_ab, generator_ba, discriminator_a, discriminator_b)))
        super().__init__(adversarial_loss=adversarial_loss, networks=networks, **kwargs)
        self._ema_network = "generator_ab"
        self.cycle_weight = check_weight("cycle_weight", cycle_weight)
        self.identity_weight = check_weight("identity_weight", identity_weight)
        self.value_range = tuple(float(v) for v in value_range)
        if image_shape is None:
            image_shape = tuple(generator_ab.inputs[0].shape[1:])
        if any(v is None for v in image_shape):
            raise Pix2GanError(f"image_shape {tuple(image_shape)} has an unknown side: give the training crop's "
                               "(height, width, channels) for the history pool", argument="image_shape")
        self.pool_a = HistoryPool(pool_size, image_shape, seed=seed, name="pool_a")
        self.pool_b = HistoryPool(pool_size, image_shape, seed=None if seed is None else seed + 1, name="pool_b")

    @property
    def generator(self) -> keras.Model:
        return self.network("generator_ab")

    @property
    def discriminator(self) -> keras.Model:
        return self.network("discriminator_b")

    def translate(self, images, direction: str = "ab", training: bool = False):
        """G(images) for ``direction='ab'``, F(images) for ``'ba'``."""
        return self.network(f"generator_{direction}")(images, training=training)

    def _judge(self, name: str, fresh, pooled, real):
        """One discriminator call on [fresh fakes; pooled fakes; real images] -> three logit maps."""
        n = tf.shape(real)[0]
        logits = self.network(name)(tf.concat([fresh, tf.cast(pooled, fresh.dtype), tf.cast(real, fresh.dtype)], 0),
                                    training=True)
        return logits[:n], logits[n:2 * n], logits[2 * n:]

    def log_names(self) -> tuple[str, ...]:
        return ("g_loss", "adv_ab", "adv_ba", "cycle_a", "cycle_b",
                *(("idt_a", "idt_b") if self.identity_weight else ()), "d_a", "d_b")

    def train_step(self, data):
        real_a, real_b = data[0], data[1]
        g_ab, g_ba = self.network("generator_ab"), self.network("generator_ba")
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake_b = g_ab(real_a, training=True)
            fake_a = g_ba(real_b, training=True)
            rec_a = g_ba(fake_b, training=True)
            rec_b = g_ab(fake_a, training=True)
            # every replica queries the pools with the global batch (same draws, same pool state)
            # and keeps its own rows: R replicas pool exactly as one device does
            pooled_b = replica_slice(self.pool_b.query(gather_batch(tf.stop_gradient(fake_b))))
            pooled_a = replica_slice(self.pool_a.query(gather_batch(tf.stop_gradient(fake_a))))
            fresh_b, old_b, real_b_logits = self._judge("discriminator_b", fake_b, pooled_b, real_b)
            fresh_a, old_a, real_a_logits = self._judge("discriminator_a", fake_a, pooled_a, real_a)
            adv_ab = generator_loss(fresh_b, self.adversarial_loss)
            adv_ba = generator_loss(fresh_a, self.adversarial_loss)
            cycle_a, cycle_b = l1_loss(rec_a, real_a), l1_loss(rec_b, real_b)
            g_total = adv_ab + adv_ba + self.cycle_weight * (cycle_a + cycle_b)
            logs = {}
            if self.identity_weight:
                idt_b = l1_loss(g_ab(real_b, training=True), real_b)
                idt_a = l1_loss(g_ba(real_a, training=True), real_a)
                g_total += self.identity_weight * (idt_a + idt_b)
                logs = {"idt_a": idt_a, "idt_b": idt_b}
            d_a = discriminator_loss(real_a_logits, old_a, self.adversarial_loss, self.label_smoothing)
            d_b = discriminator_loss(real_b_logits, old_b, self.adversarial_loss, self.label_smoothing)
            d_total = d_a + d_b
        self.optimize(("generator_ab", "generator_ba"), g_tape, g_total)
        self.optimize(("discriminator_a", "discriminator_b"), d_tape, d_total)
        return self.track({"g_loss": g_total, "adv_ab": adv_ab, "adv_ba": adv_ba, "cycle_a": cycle_a,
                           "cycle_b": cycle_b, **logs, "d_a": d_a, "d_b": d_b})

    def test_step(self, data):
        real_a, real_b = data[0], data[1]
        fake_b, fake_a = self.translate(real_a, "ab"), self.translate(real_b, "ba")
        scores = {"cycle_a": l1_loss(self.translate(fake_b, "ba"), real_a),
                  "cycle_b": l1_loss(self.translate(fake_a, "ab"), real_b)}
        if len(data) == 4:
            scores.update({f"ab_{k}": v for k, v in image_metrics(fake_b, data[2], self.value_range).items()})
            scores.update({f"ba_{k}": v for k, v in image_metrics(fake_a, data[3], self.value_range).items()})
        return self.track(scores)

    def call(self, inputs, training=False):
        return self.translate(inputs, "ab", training=training)
