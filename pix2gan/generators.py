"""Generator builders (Keras functional API)."""
from __future__ import annotations

import math
from typing import Sequence

import keras
from keras import layers

from .blocks import downsample, gan_init, upsample
from .errors import Pix2GanError


def check_image_shape(input_shape: Sequence[int], min_side: int = 8, max_side: int = 1024) -> tuple[int, int, int]:
    """Validate an (H, W, C) shape for the U-Net: power-of-two sides, 1-4 channels.

    Raises :class:`Pix2GanError` naming the value and the fix.
    """
    if len(input_shape) != 3:
        raise Pix2GanError(f"input shape {tuple(input_shape)} is not (height, width, channels)")
    h, w, c = (int(v) for v in input_shape)
    for side in (h, w):
        if side < min_side or side > max_side or side & (side - 1):
            raise Pix2GanError(
                f"image size {h}x{w} is not supported: the U-Net halves each side down to 1, so both "
                f"must be powers of two from {min_side} to {max_side} (use e.g. --image-size 128 or 256)")
    if c < 1 or c > 4:
        raise Pix2GanError(f"{c} image channels are not supported: use 1 to 4 channels")
    return h, w, c


def build_unet_generator(input_shape: Sequence[int] = (256, 256, 3), output_channels: int | None = None,
                         filters: int = 64, max_filters: int = 512, upsampling: str = "transpose",
                         dropout: float = 0.5, norm: str = "batch", name: str = "unet_generator") -> keras.Model:
    """The pix2pix U-Net generator.

    The encoder halves the smaller side down to 1 with 4x4 stride-2 convs (C64-C128-C256-C512-...,
    capped at ``max_filters``; 8 blocks at 256x256), LeakyReLU 0.2 and BatchNorm on every block but
    the first and the innermost. The innermost block has no norm, as in the reference PyTorch code:
    at batch size 1 its map is 1x1, where batch statistics have zero variance and BatchNorm would
    erase the code (and blow up at inference with moving statistics). The decoder mirrors the
    encoder with skip concatenations, dropout ``dropout`` on its first three blocks and a tanh
    output in [-1, 1]. ``upsampling`` is 'transpose' (paper) or 'resize' (UpSampling2D + Conv2D).

    About 54.4M parameters at 256x256x3 with the defaults.
    """
    h, w, c = check_image_shape(input_shape)
    output_channels = output_channels or c
    depth = int(math.log2(min(h, w)))
    widths = [min(filters * 2 ** i, max_filters) for i in range(depth)]

    inputs = keras.Input((h, w, c), name="input_image")
    x = inputs
    skips = []
    for i, f in enumerate(widths):
        block_norm = None if i in (0, depth - 1) else norm
        x = downsample(x, f, norm=block_norm, name=f"down{i + 1}")
        skips.append(x)

    for i, (f, skip) in enumerate(zip(reversed(widths[:-1]), reversed(skips[:-1]))):
        x = upsample(x, f, norm=norm, dropout=dropout if i < 3 else 0.0, mode=upsampling, name=f"up{i + 1}")
        x = layers.Concatenate(name=f"skip{i + 1}")([x, skip])

    if upsampling == "transpose":
        x = layers.Conv2DTranspose(output_channels, 4, strides=2, padding="same",
                                   kernel_initializer=gan_init(), name="output_convT")(x)
    else:
        x = layers.UpSampling2D(2, name="output_up")(x)
        x = layers.Conv2D(output_channels, 4, padding="same", kernel_initializer=gan_init(), name="output_conv")(x)
    # tanh in float32 even under a mixed-precision policy, so outputs stay exact.
    outputs = layers.Activation("tanh", dtype="float32", name="output_image")(x)
    return keras.Model(inputs, outputs, name=name)


# --- latent-variable generators (MNIST family) ---------------------------------------------------
from .blocks import norm_layer  # noqa: E402


def label_embedding(labels, num_classes: int, dim: int, name: str):
    """``Embedding(num_classes, dim)`` of integer labels, flattened to ``(batch, dim)``."""
    x = layers.Embedding(num_classes, dim, name=f"{name}_embedding")(labels)
    return layers.Flatten(name=f"{name}_embedding_flat")(x)


def _latent_inputs(latent_dim: int, num_classes: int, embed_dim: int | None, name: str):
    """Noise input (and label input); returns (inputs, noise-plus-label tensor)."""
    z = keras.Input((latent_dim,), name="z")
    if not num_classes:
        return z, z
    labels = keras.Input((1,), dtype="int32", name="label")
    embedded = label_embedding(labels, num_classes, embed_dim or latent_dim, name)
    return [z, labels], layers.Concatenate(name=f"{name}_z_label")([z, embedded])


def build_mlp_generator(latent_dim: int = 64, hidden: Sequence[int] = (256, 256),
                        output_shape: Sequence[int] = (28, 28, 1), num_classes: int = 0,
                        embed_dim: int | None = None, norm: str | None = None, activation: str = "relu",
                        output_activation: str = "tanh", name: str = "mlp_generator") -> keras.Model:
    """A fully connected generator ``z (, label) -> image``.

    Defaults are the vanilla GAN (64 -> 256 -> 256 -> 784, ReLU, tanh). With ``num_classes`` the
    label goes through ``Embedding(num_classes, embed_dim or latent_dim)`` and is concatenated with
    the noise (conditional GAN); ``norm='batch'`` adds BatchNorm before each hidden activation.
    Inputs: ``z`` (batch, latent_dim) and, if conditional, ``label`` (batch, 1) int32.
    """
    inputs, x = _latent_inputs(latent_dim, num_classes, embed_dim, name)
    for i, units in enumerate(hidden):
        x = layers.Dense(units, use_bias=norm in (None, "none"), name=f"{name}_dense{i}")(x)
        if norm not in (None, "none"):
            x = norm_layer(norm, name=f"{name}_norm{i}")(x)
        x = layers.Activation(activation, name=f"{name}_act{i}")(x)
    x = layers.Dense(int(math.prod(output_shape)), activation=output_activation, name=f"{name}_out")(x)
    outputs = layers.Reshape(tuple(output_shape), name=f"{name}_image")(x)
    return keras.Model(inputs, outputs, name=name)


def build_dcgan_generator(latent_dim: int = 100, output_shape: Sequence[int] = (28, 28, 1), filters: int = 64,
                          num_classes: int = 0, embed_dim: int | None = None,
                          name: str = "dcgan_generator") -> keras.Model:
    """DCGAN generator (Radford et al. 2016) for small images.

    ``z`` (with the label embedding, if conditional) is projected and reshaped to a
    ``(H/4, W/4, 2*filters)`` map (the paper's first layer, a matrix multiply and reshape), then
    stride-2 transposed convs double the size: BatchNorm + ReLU everywhere but the output, which is
    a tanh; no pooling and no hidden fully connected layers.
    """
    h, w, c = (int(v) for v in output_shape)
    if h % 4 or w % 4:
        raise Pix2GanError(f"DCGAN image size {h}x{w} must be divisible by 4 (two stride-2 upsamplings), e.g. 28 or 32")
    inputs, x = _latent_inputs(latent_dim, num_classes, embed_dim, name)
    x = layers.Dense((h // 4) * (w // 4) * filters * 2, use_bias=False, kernel_initializer=gan_init(),
                     name=f"{name}_project")(x)
    x = layers.Reshape((h // 4, w // 4, filters * 2), name=f"{name}_reshape")(x)
    x = norm_layer("batch", name=f"{name}_project_norm")(x)
    x = layers.ReLU(name=f"{name}_project_act")(x)
    x = upsample(x, filters, size=4, norm="batch", name=f"{name}_up1")
    outputs = layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="tanh",
                                     kernel_initializer=gan_init(), name=f"{name}_out")(x)
    return keras.Model(inputs, outputs, name=name)


UNET_HEADS = ("sigmoid", "residual", "veil")


def build_reference_unet(input_shape: Sequence[int] = (64, 64, 3), output_channels: int | None = None,
                         widths: Sequence[int] = (32, 64, 128, 256, 512), norm: str = "batch",
                         head: str = "sigmoid", name: str = "reference_unet") -> keras.Model:
    """The classic U-Net of the cloud-removal reference (inputs and outputs in [0, 1]).

    DoubleConv blocks (two 3x3 conv + BatchNorm + ReLU) at ``widths`` 32-64-128-256-512 with 2x2
    max-pooling between them, 2x2 stride-2 Conv2DTranspose up (halving the width) with skip
    concatenation and a DoubleConv, a 1x1 conv and a sigmoid. About 7.77M parameters at the
    defaults. Sides must be divisible by 2**(len(widths) - 1); ``None`` sides build a fully
    convolutional model for any such size.

    ``head`` chooses what the last features become:

    - ``"sigmoid"`` (the reference): a 1x1 conv and a sigmoid.
    - ``"residual"``: ``clip(input + tanh(conv(features)), 0, 1)`` with the correction conv
      zero-initialised, so the untrained network is exactly the identity.
    - ``"veil"`` (the ``-plus`` recipe): inverts the grey cloud blend ``x = (1 - a) y + a c`` as
      ``y = x + s x - m``, a per-image gain ``s`` (a dense layer on the pooled bottleneck, for
      ``a / (1 - a)``) and a one-channel map ``m`` (for ``a c / (1 - a)``), both zero-initialised
      (the identity); it cannot shift colours, only lift a grey veil.
    """
    from .blocks import double_conv
    if head not in UNET_HEADS:
        raise Pix2GanError(f"unknown U-Net head {head!r}: use one of {', '.join(UNET_HEADS)}")
    h, w, c = input_shape
    output_channels = output_channels or c
    step = 2 ** (len(widths) - 1)
    for side in (h, w):
        if side is not None and (side < step or side % step):
            raise Pix2GanError(f"image size {h}x{w} is not supported by the reference U-Net: sides must be "
                               f"multiples of {step} (e.g. 64)")
    inputs = keras.Input((h, w, c), name="input_image")
    x = inputs
    skips = []
    for i, f in enumerate(widths):
        if i:
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        x = double_conv(x, f, norm=norm, name=f"enc{i + 1}")
        skips.append(x)
    for i, (f, skip) in enumerate(zip(reversed(widths[:-1]), reversed(skips[:-1]))):
        x = layers.Conv2DTranspose(f, 2, strides=2, name=f"up{i + 1}_convT")(x)
        x = layers.Concatenate(name=f"skip{i + 1}")([skip, x])
        x = double_conv(x, f, norm=norm, name=f"dec{i + 1}")
    if head == "veil":
        pooled = layers.GlobalAveragePooling2D(name="gain_pool")(skips[-1])
        gain = layers.Dense(1, kernel_initializer="zeros", dtype="float32", name="gain")(pooled)
        gain = layers.Reshape((1, 1, 1), name="gain_reshape")(gain)
        veil = layers.Conv2D(1, 1, kernel_initializer="zeros", dtype="float32", name="veil")(x)
        veil = layers.Concatenate(name="veil_rgb")([veil] * output_channels)
        lifted = layers.Multiply(name="gain_times_input")([inputs, gain])
        x = layers.Add(name="add_gain")([inputs, lifted])
        x = layers.Subtract(dtype="float32", name="remove_veil")([x, veil])
        outputs = layers.ReLU(max_value=1.0, dtype="float32", name="output_image")(x)
    elif head == "residual":
        x = layers.Conv2D(output_channels, 1, activation="tanh", kernel_initializer="zeros", dtype="float32",
                          name="correction")(x)
        x = layers.Add(dtype="float32", name="add_correction")([inputs, x])
        outputs = layers.ReLU(max_value=1.0, dtype="float32", name="output_image")(x)
    else:
        x = layers.Conv2D(output_channels, 1, name="output_conv")(x)
        outputs = layers.Activation("sigmoid", dtype="float32", name="output_image")(x)
    return keras.Model(inputs, outputs, name=name)
