"""U-Net generators: the pix2pix U-Net and the cloud-removal reference U-Net.

Both take any number of input channels (e.g. a stack of frames) and produce ``output_channels``
channels (default: as many as the input).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers

from ..errors import Pix2GanError
from .blocks import double_conv, downsample, gan_init, network, upsample
from .heads import UNET_HEADS, UNetFeatures


def check_image_shape(input_shape: Sequence[int], min_side: int = 8, max_side: int = 1024) -> tuple[int, int, int]:
    """Validate an (H, W, C) shape for the pix2pix U-Net: power-of-two sides, at least one channel.

    Returns ``(h, w, c)`` as ints; raises :class:`Pix2GanError` naming the value and the fix.
    """
    if len(input_shape) != 3:
        raise Pix2GanError(f"input shape {tuple(input_shape)} is not (height, width, channels)")
    h, w, c = (int(v) for v in input_shape)
    for side in (h, w):
        if side < min_side or side > max_side or side & (side - 1):
            raise Pix2GanError(
                f"image size {h}x{w} is not supported: the U-Net halves each side down to 1, so both "
                f"must be powers of two from {min_side} to {max_side} (use e.g. --image-size 128 or 256)")
    if c < 1:
        raise Pix2GanError(f"{c} image channels are not supported: use at least 1 channel")
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

    The input may have any number of channels; the output has ``output_channels`` (default: the
    input's). About 54.4M parameters at 256x256x3 with the defaults.
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
    return network(inputs, outputs, name)


def build_reference_unet(input_shape: Sequence[int] = (64, 64, 3), output_channels: int | None = None,
                         widths: Sequence[int] = (32, 64, 128, 256, 512), norm: str = "batch",
                         head: str = "sigmoid", name: str = "reference_unet") -> keras.Model:
    """The classic U-Net of the cloud-removal reference (inputs and outputs in [0, 1]).

    DoubleConv blocks (two 3x3 conv + BatchNorm + ReLU) at ``widths`` 32-64-128-256-512 with 2x2
    max-pooling between them, 2x2 stride-2 Conv2DTranspose up (halving the width) with skip
    concatenation and a DoubleConv, then an output head. About 7.77M parameters at the defaults.
    Sides must be divisible by 2**(len(widths) - 1); ``None`` sides build a fully convolutional
    model for any such size. The input may have any number of channels; the output has
    ``output_channels`` (default: the input's).

    ``head`` names an entry of :data:`UNET_HEADS` (see :mod:`pix2gan.networks.heads`):

    - ``"sigmoid"`` (the reference): a 1x1 conv and a sigmoid.
    - ``"residual"``: ``clip(input + tanh(conv(features)), 0, 1)``, the identity when untrained.
    - ``"veil"``: inverts a grey cloud blend with a per-image gain and a one-channel veil map, the
      identity when untrained.
    - ``"blend"`` (the ``-plus`` recipe): a corrected image and a per-pixel cloud map, blended so
      that clear pixels pass through unchanged; no per-image statistic, so tiles are seamless.

    The ``residual``, ``veil`` and ``blend`` heads correct the input, so they need ``output_channels`` equal
    to the input channels.
    """
    if head not in UNET_HEADS:
        raise Pix2GanError(f"unknown U-Net head {head!r}: use one of {', '.join(UNET_HEADS)}")
    h, w, c = input_shape
    if c is None or int(c) < 1:
        raise Pix2GanError(f"{c} image channels are not supported by the reference U-Net: use at least 1 channel")
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
    outputs = UNET_HEADS[head](inputs, UNetFeatures(decoded=x, bottleneck=skips[-1]), output_channels)
    return network(inputs, outputs, name)
