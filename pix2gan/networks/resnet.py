"""ResNet networks: the CycleGAN/Johnson ResNet generator and the cloud-removal ResNet discriminator."""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from ..errors import Pix2GanError
from .blocks import gan_init, network, norm_layer, reflection_pad, residual_block

# The residual stream's dtype under any policy (see build_resnet_generator).
STREAM_DTYPE = "float32"


def _norm_act(x, norm: str | None, name: str, act: bool = True):
    """Optional norm layer ``{name}_norm`` then, with ``act``, a ReLU ``{name}_act``."""
    layer = norm_layer(norm, name=f"{name}_norm")
    x = x if layer is None else layer(x)
    return layers.ReLU(name=f"{name}_act")(x) if act else x


def resnet_blocks(image_size: int) -> int:
    """The CycleGAN reference's number of residual blocks: 9 from 256 px up, 6 below."""
    return 9 if int(image_size) >= 256 else 6


def build_resnet_generator(input_shape: Sequence[int | None] = (256, 256, 3), output_channels: int | None = None,
                           filters: int = 64, n_blocks: int = 9, norm: str = "instance",
                           name: str = "resnet_generator") -> keras.Model:
    """The CycleGAN / Johnson et al. ResNet generator (outputs in [-1, 1]).

    c7s1-64 (reflection pad 3, 7x7 conv, norm, ReLU); d128, d256 (3x3 stride-2 convs, norm, ReLU);
    ``n_blocks`` residual blocks at 256 filters (reflection pad 1, 3x3 conv, norm, ReLU, reflection
    pad 1, 3x3 conv, norm, plus the identity); u128, u64 (3x3 stride-2 transposed convs, norm,
    ReLU); c7s1-``output_channels`` (reflection pad 3, 7x7 conv) and a float32 tanh. Widths scale
    with ``filters``; ``norm='instance'`` is instance normalisation (``GroupNormalization`` with
    one group per channel). About 11.4M parameters with the defaults (9 blocks, 3 channels).
    Under a mixed-precision policy the residual sums and the 7x7 first and last convs compute in
    float32 (:data:`STREAM_DTYPE`), the other layers in the policy's compute dtype.

    Sides given as None make the model fully convolutional (any input whose sides are multiples
    of 4); known sides must be multiples of 4 from 8 up. Reflection padding is the registered
    :class:`~pix2gan.layers.ReflectionPadding2D`.
    """
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise Pix2GanError(f"input shape {tuple(input_shape)} is not (height, width, channels) with known channels")
    h, w = (None if v is None else int(v) for v in input_shape[:2])
    c = int(input_shape[-1])
    for side in (h, w):
        if side is not None and (side < 8 or side % 4):
            raise Pix2GanError(f"image size {h}x{w} is not supported by the ResNet generator: it downsamples twice, "
                               "so sides must be multiples of 4 from 8 up (e.g. 128 or 256)")
    if c < 1:
        raise Pix2GanError(f"{c} image channels are not supported: use at least 1 channel")
    if int(n_blocks) < 0:
        raise Pix2GanError(f"n_blocks={n_blocks} must be >= 0 (the reference uses 9 at 256 px, 6 below)",
                           argument="n_blocks")
    output_channels = output_channels or c
    use_bias = norm in (None, "none")

    inputs = keras.Input((h, w, c), name="input_image")
    x = reflection_pad(inputs, 3, name="c7s1_pad")
    # Under a mixed policy the full-resolution first and last convs (about 4% of the FLOPs at the
    # defaults) and the residual stream's sums compute in float32: in bfloat16 every sum rounds the
    # stream to 8 bits of mantissa, and CycleGAN in bf16 scored lower than in float32 without this.
    x = layers.Conv2D(filters, 7, kernel_initializer=gan_init(), use_bias=use_bias, dtype=STREAM_DTYPE,
                      name="c7s1_conv")(x)
    x = _norm_act(x, norm, "c7s1")
    for i, f in enumerate((filters * 2, filters * 4)):
        x = layers.Conv2D(f, 3, strides=2, padding="same", kernel_initializer=gan_init(), use_bias=use_bias,
                          name=f"down{i + 1}_conv")(x)
        x = _norm_act(x, norm, f"down{i + 1}")
    for b in range(1, n_blocks + 1):
        block = f"res{b}"
        y = reflection_pad(x, 1, name=f"{block}_pad1")
        y = layers.Conv2D(filters * 4, 3, kernel_initializer=gan_init(), use_bias=use_bias, name=f"{block}_conv1")(y)
        y = _norm_act(y, norm, f"{block}_1")
        y = reflection_pad(y, 1, name=f"{block}_pad2")
        y = layers.Conv2D(filters * 4, 3, kernel_initializer=gan_init(), use_bias=use_bias, name=f"{block}_conv2")(y)
        y = _norm_act(y, norm, f"{block}_2", act=False)
        # No ReLU after the sum, as in CycleGAN's ResnetBlock.
        x = layers.Add(dtype=STREAM_DTYPE, name=f"{block}_add")([x, y])
    for i, f in enumerate((filters * 2, filters)):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", kernel_initializer=gan_init(), use_bias=use_bias,
                                   name=f"up{i + 1}_convT")(x)
        x = _norm_act(x, norm, f"up{i + 1}")
    x = reflection_pad(x, 3, name="output_pad")
    x = layers.Conv2D(output_channels, 7, kernel_initializer=gan_init(), dtype=STREAM_DTYPE, name="output_conv")(x)
    # tanh in float32 even under a mixed-precision policy, so outputs stay exact.
    outputs = layers.Activation("tanh", dtype="float32", name="output_image")(x)
    return network(inputs, outputs, name)


def build_resnet_discriminator(input_shape: Sequence[int] = (64, 64, 3), stem_filters: int = 16,
                               stages: Sequence[int] = (3, 4, 6, 3), widths: Sequence[int] = (16, 32, 128, 256),
                               norm: str = "batch", name: str = "resnet_discriminator") -> keras.Model:
    """The cloud-removal reference's unconditional ResNet discriminator: one logit per image.

    Stem: 7x7 stride-2 conv (``stem_filters``), norm, ReLU, 3x3 stride-2 max-pool; then residual
    stages of ``stages`` basic blocks at ``widths`` filters (the first block of every stage
    after the first has stride 2), global average pooling and a dense logit. About 5.04M
    parameters at the defaults.
    """
    inputs = keras.Input(tuple(input_shape), name="image")
    x = layers.Conv2D(stem_filters, 7, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    bn = norm_layer(norm, name="stem_norm")
    x = bn(x) if bn is not None else x
    x = layers.ReLU(name="stem_act")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for s, (blocks, filters) in enumerate(zip(stages, widths)):
        for b in range(blocks):
            x = residual_block(x, filters, strides=2 if (s and not b) else 1, norm=norm,
                               name=f"stage{s + 1}_block{b + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(1, dtype="float32", name="logit")(x)
    return network(inputs, logits, name)
