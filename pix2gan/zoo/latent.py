"""What the noise-to-image zoo entries share (the MNIST GANs, the EuroSAT scene DCGANs): the
:class:`LatentRecipe` base with the optimizer, loss, conditioning and moving-average settings and
the trainer they build (:class:`~pix2gan.trainers.LatentGAN`), a fixed-noise sample grid and the
training-throughput callback. Entries add their data, networks and judge.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np

from ..imaging import tile_batch, to_uint8
from ..losses import ADVERSARIAL_LOSSES
from ..optimizers import adam
from ..settings import setting
from ..trainers import LatentGAN
from ..trainers.latent import sample_generator, sample_noise
from .recipe import Recipe


class Throughput(keras.callbacks.Callback):
    """Training images per second per epoch (the first epoch, which traces the step, is dropped
    when there are more)."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size = batch_size
        self.rates: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps = batch + 1  # the batch index: with steps_per_execution > 1 this runs once per call

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self._steps * self.batch_size / (time.perf_counter() - self._start))

    @property
    def images_per_second(self) -> float:
        rates = self.rates[1:] or self.rates
        return float(np.median(rates)) if rates else float("nan")


def fixed_noise_grid(latent_dim: int, labels: np.ndarray | None, ncols: int, n: int = 100, seed: int = 1234):
    """``render(trainer) -> uint8 grid`` of ``n`` samples of the trainer's inference generator from
    fixed noise (the same every epoch), ``ncols`` to a row; ``labels`` (``n`` ints) for a
    conditional generator."""
    z = sample_noise(n, latent_dim, seed)

    def render(trainer):
        images = sample_generator(trainer.inference_generator, n, labels, z=z)
        return tile_batch(to_uint8(images), ncols)
    return render


def label_classes(generator: keras.Model) -> int | None:
    """How many labels a conditional generator's label embeddings take (None if it has none, or
    embeddings of different sizes)."""
    sizes = {layer.input_dim for layer in generator.layers if isinstance(layer, keras.layers.Embedding)}
    return sizes.pop() if len(sizes) == 1 else None


@dataclass(frozen=True)
class LatentRecipe(Recipe):
    """A GAN from noise ``z`` (and a class label when ``conditional``) to images, trained by
    :class:`~pix2gan.trainers.LatentGAN` with Adam (AdamW with ``weight_decay``). Defaults are
    the DCGAN paper's optimizer (Adam 2e-4, beta1 0.5) and loss (BCE). Subclasses give
    :meth:`build_networks` and the data, grid and scoring hooks."""
    latent_dim: int = setting(100, "size of the noise vector z", min=1)
    conditional: bool = setting(False, "class-conditional G and D", negative="--unconditional")
    loss: Literal[ADVERSARIAL_LOSSES] = setting("bce", "adversarial loss")
    lr: float = setting(2e-4, "learning rate of the generator's optimizer (and of the discriminator's unless "
                              "d_lr is given)", min=0.0)
    d_lr: float | None = setting(None, "learning rate of the discriminator's optimizer (default: lr; a larger one "
                                       "is the two time-scale update rule)", min=0.0)
    beta1: float = setting(0.5, "Adam beta1", min=0.0, below=1.0)
    beta2: float = setting(0.999, "Adam beta2", min=0.0, below=1.0)
    weight_decay: float = setting(0.0, "AdamW weight decay (0: plain Adam)", min=0.0)
    ema_decay: float = setting(0.0, "exponential moving average of G's weights, which is then what is sampled, "
                                    "scored and saved (0: off)", min=0.0, below=1.0)
    label_smoothing: float = setting(0.0, "one-sided label smoothing", min=0.0, below=1.0)

    def build_networks(self) -> tuple[keras.Model, keras.Model]:
        """The generator and discriminator."""
        raise NotImplementedError

    def trainer_options(self) -> dict:
        """Extra keyword arguments of :class:`~pix2gan.trainers.LatentGAN` (entries add theirs)."""
        return {}

    def make_optimizer(self, lr: float) -> keras.optimizers.Optimizer:
        """Adam at ``lr``, or AdamW when the recipe has weight decay."""
        return adam(lr, beta_1=self.beta1, beta_2=self.beta2, weight_decay=self.weight_decay)

    def build_trainer(self, total_steps: int, seed: int, jit_compile: bool) -> keras.Model:
        generator, discriminator = self.build_networks()
        trainer = LatentGAN(generator, discriminator, adversarial_loss=self.loss,
                            label_smoothing=self.label_smoothing, seed=seed, ema_decay=self.ema_decay,
                            **self.trainer_options())
        d_lr = self.lr if self.d_lr is None else self.d_lr
        trainer.compile(self.make_optimizer(self.lr), self.make_optimizer(d_lr), jit_compile=jit_compile)
        return trainer
