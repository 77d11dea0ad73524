"""Plumbing every GAN trainer shares: two optimizers, loss choice, metric trackers."""
from __future__ import annotations

import keras
import tensorflow as tf

from ..losses import ADVERSARIAL_LOSSES


class GANTrainer(keras.Model):
    """Base class for GAN trainers driven by ``fit()``.

    Subclasses implement ``train_step`` with ``tf.GradientTape``; ``fit()`` traces it with
    ``tf.function`` (and XLA with ``compile(jit_compile=True)``), and Keras callbacks
    (TensorBoard, BackupAndRestore, progress bar) do the plumbing. Both optimizers are attributes,
    so ``save_weights`` (and so BackupAndRestore) stores their state with the networks'.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, adversarial_loss: str = "bce",
                 label_smoothing: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(f"unknown adversarial loss {adversarial_loss!r}: use one of {ADVERSARIAL_LOSSES}")
        self.generator = generator
        self.discriminator = discriminator
        self.adversarial_loss = adversarial_loss
        self.label_smoothing = float(label_smoothing)
        self._trackers: dict[str, keras.metrics.Mean] = {}
        # The networks arrive built; saying so lets BackupAndRestore load into them before fit().
        self.built = True

    def tracker(self, name: str) -> keras.metrics.Mean:
        """A running mean reported under ``name`` in the progress bar and TensorBoard."""
        if name not in self._trackers:
            self._trackers[name] = keras.metrics.Mean(name=name)
        return self._trackers[name]

    def track(self, values: dict) -> dict:
        """Update the trackers named by ``values`` and return their running means."""
        for name, value in values.items():
            self.tracker(name).update_state(value)
        return {name: self.tracker(name).result() for name in values}

    @property
    def metrics(self):
        return list(self._trackers.values())

    def compile(self, g_optimizer: keras.optimizers.Optimizer | None = None,
                d_optimizer: keras.optimizers.Optimizer | None = None, jit_compile: bool = False, **kwargs):
        """Attach the two optimizers (Adam 2e-4, beta1 0.5 by default) and build them now.

        Building before the first traced step matters: optimizer variables created inside a
        later ``tf.function`` call fail, and BackupAndRestore needs them to load into.
        """
        super().compile(jit_compile=jit_compile, **kwargs)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @staticmethod
    def apply_gradients(optimizer, tape: tf.GradientTape, loss, variables) -> None:
        """Differentiate ``loss`` with respect to ``variables`` and take one optimizer step."""
        grads = tape.gradient(loss, variables)
        optimizer.apply(grads, variables)

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)
