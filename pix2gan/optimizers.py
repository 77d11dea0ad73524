"""Adam with one fused kernel per variable, and the factory every recipe gets its Adam from.

:class:`Adam` is ``keras.optimizers.Adam`` (AdamW with ``weight_decay``: Keras applies the decay
before the update, as its AdamW does) whose update of each variable is TensorFlow's fused
``ResourceApplyAdam`` kernel: one pass over the variable and its two moments, where Keras's Adam
takes about a dozen elementwise passes. It keeps Keras Adam's class name (so the saved path
``optimizers/adam``), variables and their order (``iterations``, the learning rate, then a
momentum and a velocity per variable), so a backup written under either resumes under the other.
:func:`adam` returns it, or Keras's own Adam / AdamW under a ``tf.distribute`` strategy, whose
per-replica updates only Keras's optimizer tracks.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from .errors import Pix2GanError
from .layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class Adam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` (epsilon outside the square root, bias correction folded into the
    step size) whose update is one ``tf.raw_ops.ResourceApplyAdam`` per variable. ``weight_decay``
    makes it AdamW. No AMSGrad. Sparse (``IndexedSlices``) gradients are made dense first."""

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 weight_decay: float | None = None, amsgrad: bool = False, name: str = "adam", **kwargs):
        if amsgrad:
            raise Pix2GanError("pix2gan.optimizers.Adam: amsgrad=True is not supported; use keras.optimizers.Adam")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         weight_decay=weight_decay, name=name, **kwargs)

    def build(self, var_list):
        if self.built:
            return
        # the base Optimizer's build (iterations, learning rate); Adam's own would make the same
        # moments under private names this class cannot look up publicly
        keras.optimizers.Optimizer.build(self, var_list)
        self.momentums, self.velocities = self.add_optimizer_variables(var_list, ["momentum", "velocity"])
        # update_step receives the backend (tf.Variable) side of each variable
        self._slots = {var.value.ref(): (m, v) for var, m, v in zip(var_list, self.momentums, self.velocities)
                       if m is not None}

    def update_step(self, gradient, variable, learning_rate):
        momentum, velocity = self._slots[variable.ref()]
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.constant(self.beta_1, dtype), tf.constant(self.beta_2, dtype)
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=momentum.value.handle, v=velocity.value.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2, epsilon=tf.constant(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


def adam(learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
         weight_decay: float | None = None) -> keras.optimizers.Optimizer:
    """Adam (AdamW when ``weight_decay`` is set): :class:`Adam`, or under a ``tf.distribute``
    strategy Keras's ``Adam`` / ``AdamW``."""
    weight_decay = weight_decay or None
    if tf.distribute.has_strategy():
        if weight_decay:
            return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, beta_1=beta_1, beta_2=beta_2)
        return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)
    return Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, weight_decay=weight_decay)
