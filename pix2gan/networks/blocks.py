"""Small building blocks shared by every builder (pix2pix tutorial style).

Each block takes a Keras tensor and returns one, so builders read as a list of blocks. Blocks
use standard Keras layers, plus the registered layers of :mod:`pix2gan.layers` (reflection
padding), so saved models load in plain Keras with at most that one module imported.
"""
from __future__ import annotations

import keras
from keras import layers

from ..distribute import sync_batchnorm
from ..layers import ReflectionPadding2D
from ..precision import keep_norms_float32

# The class tables of a class-conditional BatchNorm compute in float32 under any policy, like the
# norm they scale (pix2gan.precision.keep_norms_float32 sets the norm and the product and sum after it).
NORM_DTYPE = "float32"


def gan_init() -> keras.initializers.Initializer:
    """N(0, 0.02) weights, as in DCGAN and pix2pix."""
    return keras.initializers.RandomNormal(0.0, 0.02)


def network(inputs, outputs, name: str) -> keras.Model:
    """The functional model from ``inputs`` to ``outputs``, with its normalisation layers and the
    elementwise layers after them computing in float32 under a mixed policy
    (:func:`pix2gan.precision.keep_norms_float32`): every builder returns through it, and a network
    composed of these blocks should too."""
    return keep_norms_float32(keras.Model(inputs, outputs, name=name))


def norm_layer(kind: str | None, name: str | None = None) -> layers.Layer | None:
    """Return a normalisation layer: 'batch', 'instance' (GroupNorm with one group per channel) or None.
    Under a mixed policy it computes in float32 once its model is made by :func:`network`.

    BatchNorm built while a ``tf.distribute`` strategy with more than one replica is in scope is
    ``synchronized=True``: its statistics are those of the global batch, as on one device (each
    replica holds only a share of the batch). Instance norm is per image and needs nothing.
    """
    if kind in (None, "none"):
        return None
    if kind == "batch":
        # momentum 0.9 = PyTorch's 0.1: Keras's default 0.99 makes the moving averages lag so far
        # behind a GAN's short runs that training=False inference is much worse than it need be.
        return layers.BatchNormalization(momentum=0.9, synchronized=sync_batchnorm(), name=name)
    if kind == "instance":
        return layers.GroupNormalization(groups=-1, name=name)
    raise ValueError(f"unknown norm {kind!r}: use 'batch', 'instance' or 'none'")


def class_conditional_batchnorm(x, labels, num_classes: int, name: str):
    """BatchNorm whose scale and shift are chosen by the class label (de Vries et al. 2017; the
    generator of Miyato & Koyama 2018): the normalisation has no affine part of its own, and
    ``Embedding(num_classes, channels)`` tables, started at 1 (scale) and 0 (shift), give each
    class its own. ``labels`` is the ``(batch, 1)`` int32 label input; standard layers only. The
    class tables compute in float32 (:data:`NORM_DTYPE`); the norm, and the product and sum that
    apply them, do under a mixed policy through :func:`network`."""
    channels = x.shape[-1]
    x = layers.BatchNormalization(momentum=0.9, center=False, scale=False, synchronized=sync_batchnorm(),
                                  name=name)(x)
    shape = (1,) * (len(x.shape) - 2) + (channels,)  # broadcast over the spatial axes
    scale = layers.Embedding(num_classes, channels, embeddings_initializer="ones", dtype=NORM_DTYPE,
                             name=f"{name}_class_scale")(labels)
    shift = layers.Embedding(num_classes, channels, embeddings_initializer="zeros", dtype=NORM_DTYPE,
                             name=f"{name}_class_shift")(labels)
    scale = layers.Reshape(shape, dtype=NORM_DTYPE, name=f"{name}_class_scale_map")(scale)
    shift = layers.Reshape(shape, dtype=NORM_DTYPE, name=f"{name}_class_shift_map")(shift)
    scaled = layers.Multiply(name=f"{name}_class_scaled")([x, scale])
    return layers.Add(name=f"{name}_class_affine")([scaled, shift])


def _apply_norm(x, kind, name):
    layer = norm_layer(kind, None if name is None else name + "_norm")
    return x if layer is None else layer(x)


def downsample(x, filters: int, size: int = 4, norm: str | None = "batch", name: str | None = None):
    """Conv(stride 2) -> norm -> LeakyReLU(0.2): halves the spatial size."""
    x = layers.Conv2D(filters, size, strides=2, padding="same", kernel_initializer=gan_init(),
                      use_bias=norm in (None, "none"), name=None if name is None else name + "_conv")(x)
    x = _apply_norm(x, norm, name)
    return layers.LeakyReLU(0.2, name=None if name is None else name + "_act")(x)


def upsample(x, filters: int, size: int = 4, norm: str | None = "batch", dropout: float = 0.0,
             mode: str = "transpose", name: str | None = None):
    """Double the spatial size -> norm -> dropout -> ReLU.

    ``mode='transpose'`` uses a stride-2 Conv2DTranspose (the paper); ``mode='resize'`` uses
    nearest UpSampling2D followed by a Conv2D, which avoids checkerboard artefacts.
    """
    n = (lambda s: None) if name is None else (lambda s: f"{name}_{s}")
    if mode == "transpose":
        x = layers.Conv2DTranspose(filters, size, strides=2, padding="same", kernel_initializer=gan_init(),
                                   use_bias=norm in (None, "none"), name=n("convT"))(x)
    elif mode == "resize":
        x = layers.UpSampling2D(2, name=n("up"))(x)
        x = layers.Conv2D(filters, size, padding="same", kernel_initializer=gan_init(),
                          use_bias=norm in (None, "none"), name=n("conv"))(x)
    else:
        raise ValueError(f"unknown upsampling {mode!r}: use 'transpose' or 'resize'")
    x = _apply_norm(x, norm, name)
    if dropout:
        x = layers.Dropout(dropout, name=n("dropout"))(x)
    return layers.ReLU(name=n("act"))(x)


def double_conv(x, filters: int, norm: str | None = "batch", activation: str = "relu", name: str | None = None):
    """Two 3x3 same-padded convs, each followed by norm and activation (the classic U-Net block)."""
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=norm in (None, "none"),
                          name=None if name is None else f"{name}_conv{i}")(x)
        x = _apply_norm(x, norm, None if name is None else f"{name}_{i}")
        x = layers.Activation(activation, name=None if name is None else f"{name}_act{i}")(x)
    return x


def residual_block(x, filters: int, strides: int = 1, norm: str | None = "batch", name: str | None = None):
    """ResNet basic block: two 3x3 convs plus a (projected where the shape changes) shortcut."""
    n = (lambda s: None) if name is None else (lambda s: f"{name}_{s}")
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=n("proj"))(x)
        shortcut = _apply_norm(shortcut, norm, n("proj"))
    y = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=n("conv1"))(x)
    y = _apply_norm(y, norm, n("1"))
    y = layers.ReLU(name=n("act1"))(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=n("conv2"))(y)
    y = _apply_norm(y, norm, n("2"))
    y = layers.Add(name=n("add"))([shortcut, y])
    return layers.ReLU(name=n("out"))(y)


def reflection_pad(x, pad: int, name: str | None = None):
    """Reflection-pad the two spatial axes of an NHWC tensor by ``pad`` on every side with the
    registered :class:`~pix2gan.layers.ReflectionPadding2D` layer (named ``name``).

    Equals ``tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")``: the border
    row/column itself is not repeated. Static sides, where known, must be larger than ``pad``.
    """
    pad = int(pad)
    if pad < 0:
        raise ValueError(f"reflection padding must be >= 0, got {pad}")
    if pad == 0:
        return x
    h, w = x.shape[1], x.shape[2]
    if (h is not None and pad >= h) or (w is not None and pad >= w):
        raise ValueError(f"reflection padding {pad} needs sides larger than {pad}, got {h}x{w}")
    return ReflectionPadding2D(pad, name=name)(x)
