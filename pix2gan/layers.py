"""Custom Keras layers. Each is registered so saved models load in plain Keras."""
from __future__ import annotations

import keras
from keras import ops

PACKAGE = "pix2gan"


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinibatchDiscrimination(keras.layers.Layer):
    """Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training GANs").

    Each sample's features ``x`` (shape ``(batch, features)``) are projected by a learned tensor
    ``T`` to ``M = x @ T`` of shape ``(batch, num_kernels, kernel_dim)``. For every kernel the
    layer sums ``exp(-||M_i - M_j||_1)`` over the batch (``j`` includes ``i``), which tells the
    discriminator how close a sample is to the others: a collapsed generator shows up as large
    sums. With ``concat=True`` (the paper) the ``num_kernels`` statistics are appended to ``x``;
    with ``concat=False`` only the statistics are returned.
    """

    def __init__(self, num_kernels: int = 100, kernel_dim: int = 5, concat: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.num_kernels = int(num_kernels)
        self.kernel_dim = int(kernel_dim)
        self.concat = bool(concat)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"MinibatchDiscrimination expects (batch, features) input, got {input_shape}; "
                "flatten or pool the features first")
        self.kernel = self.add_weight(
            name="kernel", shape=(input_shape[-1], self.num_kernels * self.kernel_dim),
            initializer="glorot_uniform", trainable=True)

    def call(self, inputs):
        m = ops.matmul(inputs, self.kernel)
        m = ops.reshape(m, (-1, self.num_kernels, self.kernel_dim))
        # (batch, 1, k, d) - (1, batch, k, d) -> L1 over d -> (batch, batch, k)
        l1 = ops.sum(ops.abs(ops.expand_dims(m, 1) - ops.expand_dims(m, 0)), axis=-1)
        stats = ops.sum(ops.exp(-l1), axis=1)
        return ops.concatenate([inputs, stats], axis=-1) if self.concat else stats

    def compute_output_shape(self, input_shape):
        width = self.num_kernels + (input_shape[-1] if self.concat else 0)
        return (input_shape[0], width)

    def get_config(self):
        config = super().get_config()
        config.update(num_kernels=self.num_kernels, kernel_dim=self.kernel_dim, concat=self.concat)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class CloudInversion(keras.layers.Layer):
    """Undo a grey cloud blend ``x = (1 - a) y + a c`` given a per-image optical depth and a cloud map.

    Inputs ``[image (B, H, W, C), depth (B, 1), cloud (B, H, W, 1)]``. The opacity is
    ``a = 1 - exp(-depth)`` (depth capped at ``max_depth``) and the output
    ``clip(x + (exp(depth) - 1) * (x - c), 0, 1)``, which is ``(x - a c) / (1 - a)`` with the cloud
    repeated over the channels. At depth 0 the output is the input whatever the cloud map says,
    so a network that sees no cloud leaves the image alone, and a linear depth predictor starting
    at zero starts as the identity and reaches opaque clouds in a few units (depth 4: a = 0.98).
    """

    def __init__(self, max_depth: float = 4.0, **kwargs):
        super().__init__(**kwargs)
        if not max_depth > 0:
            raise ValueError(f"max_depth={max_depth} must be positive")
        self.max_depth = float(max_depth)

    def call(self, inputs):
        image, depth, cloud = inputs
        gain = ops.exp(ops.minimum(ops.cast(depth, image.dtype), self.max_depth)) - 1.0
        gain = ops.reshape(gain, (-1, 1, 1, 1))
        return ops.clip(image + gain * (image - ops.cast(cloud, image.dtype)), 0.0, 1.0)

    def compute_output_shape(self, input_shapes):
        return tuple(input_shapes[0])

    def get_config(self):
        return {**super().get_config(), "max_depth": self.max_depth}
