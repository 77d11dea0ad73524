"""Trainers for frame prediction: a pixel loss alone, or the pix2pix objective with an L1 or MSE term.

Frames travel stacked on the channel axis (see :mod:`pix2gan.networks.sequence`), so a window of
input frames is just a many-channel condition and :class:`~pix2gan.trainers.Pix2Pix` applies as it
is; :class:`SequencePix2Pix` only adds the choice of MSE for its reconstruction term.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from ..errors import Pix2GanError
from ..metrics import image_metrics
from .base import GANTrainer, check_weight
from .pix2pix import Pix2Pix

RECONSTRUCTION_LOSSES = ("l1", "mse")


def check_reconstruction(loss: str) -> str:
    if loss not in RECONSTRUCTION_LOSSES:
        raise Pix2GanError(f"loss={loss!r} is not a reconstruction loss: use one of {', '.join(RECONSTRUCTION_LOSSES)}",
                           argument="loss")
    return loss


def reconstruction_terms(prediction, target) -> dict:
    """Mean absolute (``l1``) and squared (``mse``) error of ``prediction`` against ``target``."""
    error = tf.cast(target, prediction.dtype) - prediction
    return {"l1": tf.reduce_mean(tf.abs(error)), "mse": tf.reduce_mean(tf.square(error))}


class Regression(GANTrainer):
    """Train one generator G(x) -> y on a pixel loss (``loss``: 'l1' or 'mse'), no discriminator.

    The step logs ``g_loss`` (the chosen loss) and both ``g_l1`` and ``g_mse``; ``test_step``
    reports ``l1``, ``psnr`` and ``ssim`` on [0, 1] images (``value_range`` maps them there) of
    :attr:`inference_generator` run with ``training=False``. ``ema_decay`` > 0 keeps a moving
    average of G's weights as in :class:`~pix2gan.trainers.base.GANTrainer`. Saved models:
    :attr:`inference_generator` alone; :attr:`discriminator` does not exist.
    """

    def __init__(self, generator: keras.Model, loss: str = "l1", value_range: Sequence[float] = (0.0, 1.0),
                 ema_decay: float = 0.0, **kwargs):
        super().__init__(generator, None, ema_decay=ema_decay, **kwargs)
        self.loss_kind = check_reconstruction(loss)
        self.value_range = tuple(float(v) for v in value_range)

    def generate(self, inputs, mode: str | None = None):
        """:attr:`inference_generator` in inference mode (``training=False``); ``mode`` is accepted
        for the callers that pass one and must be None or 'inference'."""
        if mode not in (None, "inference"):
            raise Pix2GanError(f"mode={mode!r}: a regression trainer runs its generator in 'inference' mode only",
                               argument="mode")
        return self.inference_generator(inputs, training=False)

    def log_names(self) -> tuple[str, ...]:
        return ("g_loss", "g_l1", "g_mse")

    def train_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            terms = reconstruction_terms(self.generator(inputs, training=True), targets)
            loss = terms[self.loss_kind]
        self.optimize("generator", tape, loss)
        self.update_ema()
        return self.track({"g_loss": loss, "g_l1": terms["l1"], "g_mse": terms["mse"]})

    def test_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self.track(image_metrics(self.generate(inputs), targets, self.value_range))


class SequencePix2Pix(Pix2Pix):
    """:class:`~pix2gan.trainers.Pix2Pix` whose reconstruction term is L1 or MSE (``loss``), weighted
    by ``recon_weight`` beside the adversarial term (weight 1). The discriminator is conditioned
    on the input frames and sees the target or predicted ones (pix2pix-style). With 'mse' the
    step also logs ``g_mse``; ``g_l1`` is always logged."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, loss: str = "l1",
                 recon_weight: float = 100.0, **kwargs):
        loss = check_reconstruction(loss)
        weight = check_weight("recon_weight", recon_weight)
        super().__init__(generator, discriminator, l1_weight=weight if loss == "l1" else 0.0, **kwargs)
        self.loss_kind = loss
        self.recon_weight = weight

    @property
    def extra_log_names(self) -> tuple[str, ...]:
        return ("g_mse",) if self.loss_kind == "mse" else ()

    def generator_pass(self, inputs, targets):
        fake = self.generator(inputs, training=True)
        if self.loss_kind == "l1":
            return fake, targets, 0.0, {}
        mse = reconstruction_terms(fake, targets)["mse"]
        return fake, targets, self.recon_weight * mse, {"g_mse": mse}
