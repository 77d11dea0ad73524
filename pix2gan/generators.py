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
