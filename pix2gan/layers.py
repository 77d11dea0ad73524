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
class ReflectionPadding2D(keras.layers.Layer):
    """Reflection padding of the two spatial axes of NHWC tensors (PyTorch's ``ReflectionPad2d``).

    ``padding`` is an int (every side) or ``((top, bottom), (left, right))``. The border row or
    column itself is not repeated: ``[a b c]`` padded by 1 is ``[b a b c b]``. Each padding must be
    smaller than the side it pads. Works on any spatial size, so generators built with it stay
    fully convolutional.
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(padding, int):
            padding = ((padding, padding), (padding, padding))
        self.padding = tuple(tuple(int(p) for p in side) for side in padding)
        if len(self.padding) != 2 or any(len(side) != 2 or min(side) < 0 for side in self.padding):
            raise ValueError(f"padding {padding!r} must be an int >= 0 or ((top, bottom), (left, right))")

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        h, w = input_shape[1], input_shape[2]
        return (input_shape[0], None if h is None else h + top + bottom,
                None if w is None else w + left + right, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update(padding=[list(side) for side in self.padding])
        return config
