"""The sequence-prediction U-Net of the "GAN + U-Net" reference: past frames in, future frames out.

Frames travel stacked on the channel axis, frame-major: ``frames_in`` frames of ``C`` channels are
an ``(H, W, frames_in * C)`` image (20 RGB frames: 60 channels), and the output holds the
``frames_out`` predicted frames the same way.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from ..errors import Pix2GanError
from .blocks import double_conv, network

DOWNSAMPLING = ("conv", "maxpool")
OUTPUT_LAYER = "output_frames"


def sequence_unet_padding(height: int, width: int, depth: int = 4) -> tuple[tuple[int, int], tuple[int, int]]:
    """The ``((top, bottom), (left, right))`` zero padding that brings ``height`` x ``width`` to the
    next multiple of ``2 ** depth`` (the U-Net halves each side ``depth`` times)."""
    step = 2 ** depth

    def split(side: int) -> tuple[int, int]:
        extra = -side % step
        return extra // 2, extra - extra // 2
    return split(int(height)), split(int(width))


def build_sequence_unet(input_shape: Sequence[int | None] = (64, 64, 60), output_channels: int | None = None,
                        filters: int = 64, depth: int = 4, downsampling: str = "conv",
                        name: str = "sequence_unet") -> keras.Model:
    """The reference sequence U-Net: ``(H, W, frames_in * C)`` in [0, 1] -> ``(H, W, output_channels)``
    in [0, 1] (default: as many channels as the input).

    - Encoder: blocks of two 3x3 Conv-BatchNorm-LeakyReLU(0.2) at widths ``filters * 2**i``,
      i = 0..``depth`` (64-128-256-512-1024 with the reference's ``filters=64, depth=4``), each
      level reached by a 2x2 stride-2 conv (``downsampling="conv"``, keeping the width) or a 2x2
      max-pooling (``"maxpool"``).
    - Middle: a block from the deepest width down to half of it (1024 -> 512).
    - Decoder: bilinear 2x upsampling, concatenation with the encoder block of that size, a block
      halving the width (512+512 -> 256, 256+256 -> 128, 128+128 -> 64); the last block also
      concatenates the raw input frames (64 + 64 + input -> 64).
    - Head: a 1x1 conv to ``output_channels`` and a sigmoid (float32 under mixed precision).

    Convolutions before a BatchNorm have no bias. Any size works: sides that are not multiples of
    ``2 ** depth`` are zero-padded at the input and cropped back at the output (standard
    ``ZeroPadding2D`` / ``Cropping2D``, so the saved model loads in plain Keras); ``None`` sides
    build a fully convolutional model that then needs such multiples. The parameter count does
    not depend on the size.
    """
    if downsampling not in DOWNSAMPLING:
        raise Pix2GanError(f"downsampling={downsampling!r} is not one of {', '.join(DOWNSAMPLING)}",
                           argument="downsampling")
    if len(input_shape) != 3 or input_shape[-1] is None or int(input_shape[-1]) < 1:
        raise Pix2GanError(f"input shape {tuple(input_shape)} is not (height, width, channels) with at least one "
                           "channel: stack the frames on the last axis", argument="input_shape")
    if depth < 1 or filters < 1:
        raise Pix2GanError(f"depth={depth} and filters={filters} must be at least 1", argument="depth")
    h, w, c = (None if v is None else int(v) for v in input_shape)
    for side in (h, w):
        if side is not None and side < 1:
            raise Pix2GanError(f"image size {h}x{w} is not supported: sides must be at least 1 pixel",
                               argument="input_shape")
    output_channels = int(output_channels or c)
    widths = [filters * 2 ** i for i in range(depth + 1)]

    inputs = keras.Input((h, w, c), name="input_frames")
    x = raw = inputs
    padding = None
    if h is not None and w is not None:
        padding = sequence_unet_padding(h, w, depth)
        if any(sum(p) for p in padding):
            x = raw = layers.ZeroPadding2D(padding, name="pad")(inputs)
    skips = []
    for i, f in enumerate(widths):
        if i:
            if downsampling == "conv":
                x = layers.Conv2D(widths[i - 1], 2, strides=2, name=f"down{i}")(x)
            else:
                x = layers.MaxPooling2D(2, name=f"down{i}")(x)
        x = double_conv(x, f, norm="batch", activation="leaky_relu", name=f"enc{i + 1}")
        skips.append(x)
    x = double_conv(x, widths[-2], norm="batch", activation="leaky_relu", name="middle")
    for i in reversed(range(depth)):
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"up{depth - i}")(x)
        last = i == 0
        parts = [x, skips[i]] + ([raw] if last else [])
        x = layers.Concatenate(name=f"skip{depth - i}")(parts)
        x = double_conv(x, widths[0] if last else widths[i - 1], norm="batch", activation="leaky_relu",
                        name=f"dec{depth - i}")
    x = layers.Conv2D(output_channels, 1, name="output_conv")(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name=OUTPUT_LAYER)(x)
    if padding is not None and any(sum(p) for p in padding):
        outputs = layers.Cropping2D(padding, name="crop")(outputs)
    return network(inputs, outputs, name)
